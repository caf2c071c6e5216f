#!/usr/bin/env bash
# End-to-end check of the Python agent example (examples/python_agent/) against the gateway:
# one trace from the REST call through RabbitMQ to the agent and back on vos.results.
#
#   scripts/python-agent-check.sh
#
# It builds the debug gateway (the one `cargo test` uses), makes target/python-agent-venv,
# starts an OTLP/HTTP span receiver (examples/python_agent/otlp_receiver.py), a gateway with
# its own database, admin key and agent id, and the agent; posts an `echo`, a `weather` and a
# `fail` notification and checks each one's outcome, result, error and tools, and that its
# trace id is on spans of both services with the agent's `process {queue}` span parented on the gateway's
# producer span and the gateway's `process vos.results` span parented on the agent's. Prints
# PASS/FAIL per check and exits non-zero on any failure. Everything it started or created
# (processes, database, queues) is removed on exit. Needs PostgreSQL (127.0.0.1:5432, user
# postgres, trust) and RabbitMQ (127.0.0.1:5672, guest/guest); starts them when down, as
# .ci/run does.
set -euo pipefail
cd "$(dirname "$0")/.."

# Hold the test suite's services lock shared, as every test and the benchmark do: a test that
# stops Postgres or RabbitMQ takes it exclusively, so it waits instead of pulling one away.
# (On a descriptor of this shell, not `exec flock`: signals then reach this script's trap.)
if command -v flock >/dev/null; then
  exec {lock_fd}>>"${TMPDIR:-/tmp}/vos-gateway-tests.lock"
  flock -s "$lock_fd"
fi

began=$(date +%s)
log() { printf '== python-agent-check: %s\n' "$*" >&2; }
port_open() { timeout 1 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }
wait_for_port() { # port name seconds
  for _ in $(seq 1 "$3"); do port_open "$1" && return 0; sleep 1; done
  echo "$2 did not come up on port $1" >&2
  return 1
}
# A developer's settings must not change what is checked.
for name in $(compgen -e); do
  case "$name" in VOS_*|OTEL_*|RUST_LOG) unset "$name" ;; esac
done

log "services"
if ! port_open 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
wait_for_port 5432 PostgreSQL 60
if ! port_open 5672; then rabbitmq-server -detached; fi
wait_for_port 5672 RabbitMQ 120

log "venv"
target_dir=${CARGO_TARGET_DIR:-target}
venv=$target_dir/python-agent-venv
requirements=examples/python_agent/requirements.txt
stamp=$venv/.requirements
if ! cmp -s "$requirements" "$stamp" 2>/dev/null || ! "$venv/bin/python" -c 'import pika, opentelemetry.sdk' 2>/dev/null; then
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
fi
py=$venv/bin/python

log "build"
cargo build --locked --bin vos-gateway
gateway_bin=$target_dir/debug/vos-gateway

# -- the run's own names ------------------------------------------------------------------------
rm -rf "$target_dir/python-agent-check"  # what a failed run before this one kept
work=$(mktemp -d "${TMPDIR:-/tmp}/python-agent-check.XXXXXX")
suffix="$$-$RANDOM"
database="vos_pyagent_${suffix//-/_}"
agent_id="pyagent-$suffix"
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
receiver_port=$(free_port)
gateway_port=$(free_port)
admin_key=$("$py" - <<'PY'
import secrets, zlib
B = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
body = "".join(secrets.choice(B) for _ in range(32))
crc, digits = zlib.crc32(body.encode()), []
for _ in range(6):
    crc, d = divmod(crc, 62)
    digits.append(B[d])
print("vos_" + body + "".join(reversed(digits)))
PY
)
pids=()
status=1

stop_process() { # pid: SIGTERM, up to 10 s, then SIGKILL
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}
cleanup() {
  set +e
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_process "${pids[i]}"; done
  "$py" - "$agent_id" <<'PY' 2>/dev/null
import sys, pika
connection = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2f"))
for queue in (f"{sys.argv[1]}_queue", f"{sys.argv[1]}_queue.dlq"):
    channel = connection.channel()
    try:
        channel.queue_delete(queue)
    except pika.exceptions.ChannelClosedByBroker:
        pass
connection.close()
PY
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1
  if [[ $status != 0 ]]; then
    mkdir -p "$target_dir/python-agent-check"
    cp "$work"/*.log "$work"/spans.tsv "$target_dir/python-agent-check/" 2>/dev/null
    echo "--- logs and spans kept in $target_dir/python-agent-check/"
    for file in gateway.log agent.log receiver.log; do
      [[ -s $work/$file ]] && { echo "--- last lines of $file"; tail -n 30 "$work/$file"; }
    done
  fi
  rm -rf "$work"
  echo "python-agent-check: $([[ $status == 0 ]] && echo PASS || echo FAIL) in $(( $(date +%s) - began )) s"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "OTLP receiver on $receiver_port"
spans=$work/spans.tsv
: >"$spans"
"$py" examples/python_agent/otlp_receiver.py --port "$receiver_port" --out "$spans" >"$work/receiver.log" 2>&1 &
pids+=($!)
wait_for_port "$receiver_port" "the OTLP receiver" 20

log "gateway on $gateway_port (database $database)"
otlp=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$receiver_port" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
      OTEL_BSP_SCHEDULE_DELAY=200)
env "${otlp[@]}" \
  VOS__SERVER__ADDR="127.0.0.1:$gateway_port" \
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$database" \
  AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f" \
  VOS_BOOTSTRAP_ADMIN_KEY="$admin_key" \
  VOS__AUTH__REQUIRED=true \
  VOS__TELEMETRY__SAMPLE_RATIO=1.0 \
  RUST_LOG=info \
  "$gateway_bin" serve >"$work/gateway.log" 2>&1 &
pids+=($!)
gateway_pid=$!
base="http://127.0.0.1:$gateway_port"
for i in $(seq 1 120); do
  curl -fs -o /dev/null --max-time 2 "$base/health/ready" && break
  kill -0 "$gateway_pid" 2>/dev/null || { echo "FAIL: the gateway exited before becoming ready" >&2; exit 1; }
  [[ $i == 120 ]] && { echo "FAIL: the gateway was not ready within 60 s" >&2; exit 1; }
  sleep 0.5
done

log "register $agent_id"
curl -fsS -o /dev/null --max-time 10 -X PUT -H "Authorization: Bearer $admin_key" "$base/api/v1/agents/$agent_id"

log "agent"
env "${otlp[@]}" AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f" \
  "$py" examples/python_agent/agent.py --agent-id "$agent_id" >"$work/agent.log" 2>&1 &
pids+=($!)
agent_pid=$!
for i in $(seq 1 100); do
  grep -q "consuming ${agent_id}_queue" "$work/agent.log" && break
  kill -0 "$agent_pid" 2>/dev/null || { echo "FAIL: the agent exited before consuming" >&2; exit 1; }
  [[ $i == 100 ]] && { echo "FAIL: the agent was not consuming within 20 s" >&2; exit 1; }
  sleep 0.2
done

log "notifications"
set +e
"$py" - "$base" "$admin_key" "$agent_id" "$spans" "$agent_pid" "$work/agent.log" <<'PY'
import json, os, signal, sys, time, urllib.request
from collections import defaultdict

base, key, agent_id, spans_path, agent_pid, agent_log = sys.argv[1:7]
queue = f"{agent_id}_queue"
failures = []


def check(ok, what):
    print(f"{'PASS' if ok else 'FAIL'}: {what}", flush=True)
    if not ok:
        failures.append(what)
    return ok


def call(method, path, body=None, timeout=30):
    request = urllib.request.Request(base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {key}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read())


cases = {
    "echo": {"text": "hello from the python agent check", "n": 7, "nested": {"ok": True}},
    "weather": {"city": "Lisbon"},
    "fail": {},
}
sent = {}
for kind, payload in cases.items():
    status, accepted = call("POST", f"/api/v1/agents/{agent_id}/notify",
                            {"notification_type": kind, "source": "python-agent-check", "payload": payload})
    check(status == 202, f"{kind}: notify answered 202 (got {status})")
    sent[kind] = accepted

statuses = {}
for kind, accepted in sent.items():
    _, view = call("GET", f"/api/v1/notifications/{accepted['notification_id']}?wait=20s", timeout=25)
    statuses[kind] = view
    expected = "failed" if kind == "fail" else "completed"
    check(view.get("outcome") == expected, f"{kind}: outcome {expected} (got {view.get('outcome')!r}, error {view.get('error')!r})")
    check(view.get("trace_id") == accepted["trace_id"], f"{kind}: status trace_id is the notify answer's")

check(statuses["echo"].get("result") == cases["echo"], "echo: result equals the payload")
tools = statuses["weather"].get("tools") or []
check(any(t.get("name") == "get_weather" and t.get("status") == "ok" for t in tools),
      f"weather: tools has get_weather ok (got {[t.get('name') for t in tools]})")
check("asked to fail" in (statuses["fail"].get("error") or ""), "fail: error says why")
check((statuses["weather"].get("result") or {}).get("weather", {}).get("city") == "Lisbon",
      "weather: result has the weather for the city asked")

# A redelivery, straight to the queue: the echo notification again under a new message id, its
# traceparent sent as bytes (AMQP byte array, not a string), twice. The agent continues that
# context and answers once (the gateway drops the answer: the notification has one already).
import pika, secrets
raw_trace, raw_parent = secrets.token_hex(16), secrets.token_hex(8)
raw_id = f"check-{secrets.token_hex(8)}"
body = json.dumps({"notification_id": sent["echo"]["notification_id"], "agent_id": agent_id,
                   "notification_type": "echo", "source": "python-agent-check", "payload": cases["echo"],
                   "trace_id": raw_trace, "span_id": raw_parent, "correlation_id": "python-agent-check",
                   "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode()
connection = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2f"))
channel = connection.channel()
channel.confirm_delivery()
for _ in range(2):
    channel.basic_publish("", queue, body, pika.BasicProperties(
        message_id=raw_id, correlation_id="python-agent-check", reply_to="vos.results", delivery_mode=2,
        content_type="application/json", headers={"traceparent": f"00-{raw_trace}-{raw_parent}-01".encode()}))
connection.close()
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    with open(agent_log) as f:
        if f"duplicate {raw_id} dropped" in f.read():
            break
    time.sleep(0.1)
agent_lines = open(agent_log).read()
check(agent_lines.count("completed (echo") == 2 and f"duplicate {raw_id} dropped" in agent_lines,
      "redelivery: the agent handled it once and logged the duplicate as dropped")

# Stop the agent (SIGTERM flushes its spans), then wait for every expected span.
os.kill(int(agent_pid), signal.SIGTERM)


def load():
    by_trace = defaultdict(list)
    with open(spans_path) as f:
        for line in f:
            service, trace_id, span_id, parent, name, kind, links = line.rstrip("\n").split("\t")
            by_trace[trace_id].append(dict(service=service, span_id=span_id, parent=parent, name=name,
                                           kind=kind, links=links.split(",") if links else []))
    return by_trace


def find(spans, service, name=None, kind=None, parent=None):
    return [s for s in spans if s["service"] == service and (name is None or s["name"] == name)
            and (kind is None or s["kind"] == kind) and (parent is None or s["parent"] == parent)]


def chain(spans, kind):
    """The expected spans of one notification's trace, or what is missing."""
    server = find(spans, "vos-gateway", kind="server")
    # The gateway names its producer span by the queue's template (bounded cardinality).
    producer = [s for s in find(spans, "vos-gateway", kind="producer")
                if s["name"] in (f"publish {queue}", "publish {agent_id}_queue")]
    if not server or not producer:
        return "gateway server and producer spans"
    agent = find(spans, "python-agent", f"process {queue}", "consumer", parent=producer[0]["span_id"])
    if not agent:
        return f"python-agent 'process {queue}' consumer span parented on the gateway's producer span"
    if producer[0]["span_id"] not in agent[0]["links"]:
        return "a link from the agent's span to the gateway's producer span"
    if kind == "weather" and not find(spans, "python-agent", "execute_tool get_weather", parent=agent[0]["span_id"]):
        return "python-agent 'execute_tool get_weather' span under its process span"
    if not find(spans, "vos-gateway", "process vos.results", "consumer", parent=agent[0]["span_id"]):
        return "gateway 'process vos.results' consumer span parented on the agent's span"
    return None


deadline = time.monotonic() + 20
while True:
    by_trace = load()
    missing = {kind: chain(by_trace.get(view["trace_id"], []), kind) for kind, view in statuses.items()}
    raw_seen = any(s["service"] == "python-agent" for s in by_trace.get(raw_trace, []))
    if (not any(missing.values()) and raw_seen) or time.monotonic() > deadline:
        break
    time.sleep(0.25)
for kind, view in statuses.items():
    found = by_trace.get(view["trace_id"], [])
    services = sorted({s["service"] for s in found})
    check(not missing[kind], f"{kind}: trace {view['trace_id']} has {len(found)} spans from {services}"
          + (f"; missing {missing[kind]}" if missing[kind] else " (server, producer, agent consumer, results consumer)"))

raw = [s for s in by_trace.get(raw_trace, []) if s["service"] == "python-agent" and s["kind"] == "consumer"]
check(len(raw) == 1 and raw[0]["parent"] == raw_parent and raw[0]["links"] == [raw_parent],
      f"redelivery: traceparent as bytes continued (parent and link), duplicate message_id dropped "
      f"({len(raw)} process span(s))")

print(f"{len(failures) == 0 and 'all checks passed' or f'{len(failures)} check(s) failed'}")
sys.exit(1 if failures else 0)
PY
status=$?
set -e
exit "$status"
