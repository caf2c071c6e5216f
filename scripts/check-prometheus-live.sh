#!/usr/bin/env bash
# The real Prometheus server against a running gateway, with the repository's
# deploy/prometheus configuration (issue 13, point 5):
#
#   1. starts a gateway (an already built binary) on a free port, with its own database
#      (vos_promcheck_<pid>) and its own results queue, and registers one agent;
#   2. starts `prometheus` (Debian package; installed when missing) on a free port with a
#      temporary copy of deploy/prometheus/*.yml whose scrape target is that gateway and
#      whose scrape and evaluation intervals are 1 s;
#   3. posts notifications and publishes the agent's results (one completed with a tool
#      call and a language-model call, one failed) in two rounds, so that every counter
#      has grown between two scrapes and its rate is not 0;
#   4. checks through Prometheus' HTTP API that the target is up, that every rule
#      (recording and alerting) evaluates with health `ok`, that every metric name the
#      rules and dashboards use, and every recorded name, has at least one series (except
#      the few listed in ALLOWED_ABSENT, with the reason), and that every rule and dashboard
#      query runs without error (Grafana variables filled in).
#
# Everything it starts or creates (processes, database, queues, temporary directory) is
# removed on exit, also on failure. Every wait has a deadline, the whole run one of 90 s;
# it takes about 20 s.
#
# Usage: scripts/check-prometheus-live.sh [GATEWAY_BINARY]
#   GATEWAY_BINARY defaults to ${CARGO_TARGET_DIR:-target}/debug/vos-gateway (cargo build).
# Needs: Postgres on 127.0.0.1:5432 (user postgres, trust), RabbitMQ on 127.0.0.1:5672
# (guest), curl, python3, psql; prometheus and amqp-tools are installed when missing
# (apt-get, as root).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$SECONDS

gateway_bin="${1:-${CARGO_TARGET_DIR:-target}/debug/vos-gateway}"
amqp_url="${AMQP_URL_PROMCHECK:-amqp://guest:guest@127.0.0.1:5672/%2f}"
pg_admin_url="postgres://postgres@127.0.0.1:5432/postgres"
tag="promcheck_$$"
db="vos_$tag"
agent="$tag"
results_queue="vos_$tag.results"

# Names the rules or dashboards use that have no series in this scenario, and why.
# Anything else without a series fails the check.
declare -A ALLOWED_ABSENT=(
    [vos_notifications_returned_total]="a publish the broker returns as unroutable; the gateway declares the agent's queue, so none here"
    [vos_notifications_failed_total]="a notification failed for good after repeated broker rejections (not an agent's failed result), none here"
)

say() { printf '== %s\n' "$*"; }
fail() {
    printf 'FAILED: %s\n' "$*" >&2
    exit 1
}

# ------------------------------------------------------------------ prerequisites
[[ -x "$gateway_bin" ]] || fail "no gateway binary at $gateway_bin (run cargo build, or pass its path)"
for tool in curl python3 psql; do
    command -v "$tool" >/dev/null || fail "$tool not found"
done
install_packages() {
    say "installing $* (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v prometheus >/dev/null || install_packages prometheus
command -v amqp-publish >/dev/null || install_packages amqp-tools
say "$(prometheus --version 2>&1 | head -n1)"

# ------------------------------------------------------------------ clean-up
work=$(mktemp -d "${TMPDIR:-/tmp}/vos-promcheck.XXXXXX")
gateway_pid=""
prometheus_pid=""
stop() { # pid name
    [[ -n "$1" ]] || return 0
    kill "$1" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "$2 did not stop within 5 s; killing it" >&2
    kill -KILL "$1" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    set +e
    if ((rc != 0)); then
        for log in gateway prometheus; do
            if [[ -s "$work/$log.log" ]]; then
                echo "--- last lines of the $log log" >&2
                tail -n 10 "$work/$log.log" | cut -c1-400 >&2
            fi
        done
    fi
    stop "$prometheus_pid" prometheus
    stop "$gateway_pid" gateway
    for queue in "$results_queue" "$results_queue.dlq" "${agent}_queue" "${agent}_queue.dlq"; do
        amqp-delete-queue --url="$amqp_url" --queue="$queue" >/dev/null 2>&1
    done
    psql -q -X "$pg_admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
        echo "warning: could not drop database $db" >&2
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Every wait has its own deadline, and none goes past the whole run's (90 s).
run_deadline=$((started + 90))
wait_until() { # seconds description command...
    local deadline=$((SECONDS + $1)) what=$2
    ((deadline <= run_deadline)) || deadline=$run_deadline
    shift 2
    until "$@"; do
        ((SECONDS < deadline)) || fail "timed out after $((SECONDS - started)) s waiting for $what"
        sleep 0.25
    done
}

# ------------------------------------------------------------------ gateway
gateway_port=$(free_port)
gateway="http://127.0.0.1:$gateway_port"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
export AMQP_URL="$amqp_url"
export VOS__SERVER__ADDR="127.0.0.1:$gateway_port"
export VOS__SERVER__ADMIN_ADDR=""
export VOS__AMQP__RESULTS_QUEUE="$results_queue"
export RUST_LOG="${RUST_LOG:-warn}"
unset VOS_BOOTSTRAP_ADMIN_KEY OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_TRACES_ENDPOINT

say "gateway $gateway_bin on $gateway (database $db, results queue $results_queue)"
# Declared as the gateway declares it (durable), so that results published before its
# consumer is up wait in the queue instead of being dropped by the default exchange.
amqp-declare-queue --url="$amqp_url" --durable --queue="$results_queue" >/dev/null ||
    fail "declaring $results_queue on ${amqp_url/\/\/*@//\/…@}"
# The CLI creates and migrates the database, and the key, before the gateway starts.
key=$("$gateway_bin" keys create --name promcheck --scope admin,notify,read 2>"$work/keys.log") ||
    { cat "$work/keys.log" >&2; fail "vos-gateway keys create"; }
"$gateway_bin" >"$work/gateway.log" 2>&1 &
gateway_pid=$!
gateway_ready() {
    kill -0 "$gateway_pid" 2>/dev/null || fail "the gateway exited"
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$gateway/health/ready")" == 200 ]]
}
wait_until 30 "the gateway to be ready" gateway_ready

api() { # method path [json]
    curl -sS -f -X "$1" -H "authorization: Bearer $key" -H 'content-type: application/json' \
        ${3:+-d "$3"} "$gateway$2"
}
api PUT "/api/v1/agents/$agent" >/dev/null || fail "registering agent $agent"

# ------------------------------------------------------------------ prometheus
prometheus_port=$(free_port)
prom="http://127.0.0.1:$prometheus_port"
mkdir -p "$work/config" "$work/data"
cp deploy/prometheus/*.yml "$work/config/"
rm -f "$work/config/"*_test.yml
python3 - "$work/config/prometheus.yml" "127.0.0.1:$gateway_port" <<'PY'
import re, sys
path, target = sys.argv[1:]
text = open(path).read()
edits = [  # (pattern, replacement, what): each must match, or the config has moved on
    (r'targets: \["[^"]+"\]', f'targets: ["{target}"]', "the scrape target"),
    (r"(?m)^(\s*)scrape_interval: \S+", r"\g<1>scrape_interval: 1s", "scrape_interval"),
    (r"(?m)^(\s*)evaluation_interval: \S+", r"\g<1>evaluation_interval: 1s", "evaluation_interval"),
    (r"(?m)^(\s*)scrape_timeout: \S+", r"\g<1>scrape_timeout: 1s", "scrape_timeout"),
]
for pattern, replacement, what in edits:
    text, n = re.subn(pattern, replacement, text)
    if n == 0:
        sys.exit(f"error: {what} not found in deploy/prometheus/prometheus.yml")
open(path, "w").write(text)
PY
say "prometheus on $prom, scraping $gateway every 1 s"
prometheus --config.file="$work/config/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$prometheus_port" --log.level=warn \
    >"$work/prometheus.log" 2>&1 &
prometheus_pid=$!
prometheus_ready() {
    kill -0 "$prometheus_pid" 2>/dev/null || fail "prometheus exited"
    curl -sf -o /dev/null "$prom/-/ready"
}
wait_until 30 "prometheus to be ready" prometheus_ready

# Prometheus' HTTP API through python (no jq needed): `promq EXPR` prints the scalar value
# of the first sample, or nothing.
promq() {
    curl -sf -G "$prom/api/v1/query" --data-urlencode "query=$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")'
}
target_up() {
    [[ "$(promq "up{job=\"vos-gateway\", instance=\"127.0.0.1:$gateway_port\"}")" == 1 ]]
}
wait_until 20 "the gateway target to be up" target_up

# ------------------------------------------------------------------ traffic and results
now() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
notify() {
    api POST "/api/v1/agents/$agent/notify" '{"notification_type":"t","source":"ci","payload":{}}' |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["notification_id"])'
}
publish_result() { # notification_id completed|failed
    local body
    if [[ "$2" == completed ]]; then
        body="{\"notification_id\":\"$1\",\"agent_id\":\"$agent\",\"status\":\"completed\",\"result\":{\"ok\":true},\"tools\":[{\"name\":\"promcheck_tool\",\"duration_ms\":5.0,\"status\":\"ok\"}],\"llm\":[{\"model\":\"promcheck-model\",\"input_tokens\":10,\"output_tokens\":4}],\"started_at\":\"$(now)\",\"finished_at\":\"$(now)\"}"
    else
        body="{\"notification_id\":\"$1\",\"agent_id\":\"$agent\",\"status\":\"failed\",\"error\":\"promcheck\",\"started_at\":\"$(now)\",\"finished_at\":\"$(now)\"}"
    fi
    amqp-publish --url="$amqp_url" --routing-key="$results_queue" --persistent \
        --content-type=application/json --body="$body"
}
results_seen() { # count
    local v
    v=$(promq "sum(vos_results_total{instance=\"127.0.0.1:$gateway_port\"})")
    [[ -n "$v" ]] && python3 -c "import sys; sys.exit(0 if float('$v') >= $1 else 1)"
}
# Two rounds: a counter's first scrape is its start, so only what is added after it
# makes a rate (and the recorded rates, ratios and quantiles) non-zero.
for round in 1 2; do
    completed=$(notify) && failed=$(notify) || fail "notify (round $round)"
    publish_result "$completed" completed
    publish_result "$failed" failed
    wait_until 20 "Prometheus to scrape the results of round $round" results_seen $((2 * round))
done
say "4 notifications accepted, 4 results (2 completed, 2 failed) recorded and scraped ($((SECONDS - started)) s)"

# ------------------------------------------------------------------ checks
python3 scripts/observability.py used >"$work/used.json"
python3 - "$prom" "$work/used.json" "127.0.0.1:$gateway_port" "$((run_deadline - SECONDS))" \
    "$(for n in "${!ALLOWED_ABSENT[@]}"; do printf '%s\t%s\n' "$n" "${ALLOWED_ABSENT[$n]}"; done)" <<'PY'
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

prom, used_path, instance, budget, allowed_text = sys.argv[1:]
deadline = time.monotonic() + max(int(budget), 5)
allowed = dict(line.split("\t", 1) for line in allowed_text.splitlines() if line)
used = json.load(open(used_path))


def get(path, **params):
    url = f"{prom}{path}?{urllib.parse.urlencode(params)}" if params else f"{prom}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # 400/422 carry the error as JSON
        return json.load(e)


def wait(what, check):
    """Polls check() (None = not yet, else the final result) until the deadline."""
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            return check(final=True)
        time.sleep(0.5)


problems = []

# The target.
targets = get("/api/v1/targets")["data"]["activeTargets"]
ours = [t for t in targets if t["labels"].get("instance") == instance]
if not ours or ours[0]["health"] != "up":
    problems.append(f"target {instance}: {ours[0]['health'] if ours else 'missing'} {ours[0].get('lastError', '') if ours else ''}")
print(f"target {instance} (job {ours[0]['labels'].get('job') if ours else '?'}): {ours[0]['health'] if ours else 'missing'}")


# The rules: each evaluated at least once since the results arrived, none in error.
def rules_check(final=False):
    groups = get("/api/v1/rules")["data"]["groups"]
    rules = [(g["name"], r) for g in groups for r in g["rules"]]
    bad = [(g, r) for g, r in rules if r.get("health") != "ok" or r.get("lastError")]
    if bad and not final and all(r.get("health") == "unknown" for _, r in bad):
        return None  # not evaluated yet
    return groups, rules, bad


groups, rules, bad = wait("rules", rules_check)
for g, r in bad:
    problems.append(f"rule {g}/{r['name']}: health {r.get('health')} {r.get('lastError', '')}")
kinds = {}
for _, r in rules:
    kinds[r["type"]] = kinds.get(r["type"], 0) + 1
print(f"rules: {len(rules)} in {len(groups)} groups ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}), "
      f"{len(rules) - len(bad)} with health ok")

# Series for every name the rules and dashboards use, and every recorded name.
names = set(used["names"]) | {r["name"] for _, r in rules if r["type"] == "recording"}
# A rule in error records nothing: it is reported above, not waited for.
broken = {r["name"] for _, r in bad if r["type"] == "recording"}
names -= broken


def missing_names(final=False):
    missing = []
    for name in sorted(names):
        data = get("/api/v1/query", query=f'count({{__name__="{name}"}})')
        if data.get("status") != "success" or not data["data"]["result"]:
            missing.append(name)
    unexpected = [n for n in missing if n not in allowed]
    if unexpected and not final:
        return None
    return missing


missing = wait("series", missing_names)
for name in missing:
    if name in allowed:
        print(f"  absent, allowed: {name}: {allowed[name]}")
    else:
        where = used["names"].get(name, {}).get("where") or ["a recording rule"]
        problems.append(f"no series for {name} (used by {', '.join(where[:3])}{' …' if len(where) > 3 else ''})")
print(f"series: {len(names) - len(missing)} of {len(names)} names have series "
      f"({len([n for n in names if ':' in n])} recorded), {len([n for n in missing if n in allowed])} absent by design")

# Every query, with Grafana's variables filled in, runs without error.
fill = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m", "$job": "vos-gateway",
        "$instance": ".*", "$agent": ".*"}
ran = with_data = 0
for q in used["queries"]:
    expr = q["expr"].strip()
    if not expr or expr.startswith("label_values("):
        continue  # a Grafana variable query: its metric is among the names above
    for k in sorted(fill, key=len, reverse=True):
        expr = expr.replace(k, fill[k])
    data = get("/api/v1/query", query=expr)
    ran += 1
    if data.get("status") != "success":
        problems.append(f"query of {q['where']} fails: {data.get('error')}\n      {expr}")
    elif data["data"]["result"]:
        with_data += 1
print(f"queries: {ran} rule and dashboard queries run without error, {with_data} return data")

if problems:
    print(f"FAILED: {len(problems)} problem(s)")
    for p in problems:
        print("  - " + p)
    sys.exit(1)
PY
say "OK: real Prometheus scraped the gateway and evaluated deploy/prometheus in $((SECONDS - started)) s"
