#!/usr/bin/env bash
# Checks the observability files under deploy/:
#   1. promtool: the Prometheus config, the alert and recording rules, and the rule unit
#      tests (alerts_test.yml; anomalies_test.yml, which must match its generator,
#      scripts/gen-anomalies-test.py);
#   2. every metric name used by a rule or a Grafana dashboard query is one the gateway
#      exports, one a recording rule records (recording.yml), or `up`, which Prometheus
#      adds to every scrape;
#   3. the rules and dashboards have what the stack relies on (alerts: severity label,
#      summary/description, `for`; recorded names `level:metric:operations`, each
#      recorded once; dashboards: datasource uid `prometheus`, stable unique uids).
#
# The live counterpart, scripts/check-prometheus-live.sh, runs the real Prometheus
# server against a running gateway.
#
# Usage:
#   scripts/check-observability.sh              # exported names from docs/metrics.md
#   scripts/check-observability.sh metrics.txt  # ... from a saved live scrape, e.g.
#       curl -s http://127.0.0.1:8080/metrics > metrics.txt
#
# Needs promtool (Debian: apt-get install -y prometheus) and python3. PyYAML is used
# when present; without it a small built-in reader extracts the rule expressions.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scrape="${1:-}"
if [[ -n "$scrape" && ! -r "$scrape" ]]; then
    echo "error: cannot read scrape file '$scrape'" >&2
    exit 2
fi

if ! command -v promtool >/dev/null 2>&1; then
    echo "error: promtool not found (Debian/Ubuntu: apt-get install -y prometheus)" >&2
    exit 2
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "error: python3 not found" >&2
    exit 2
fi

echo "== promtool check config"
# rule_files in prometheus.yml are relative to the file, so this also loads the rules.
promtool check config deploy/prometheus/prometheus.yml
echo "== promtool check rules"
promtool check rules deploy/prometheus/recording.yml deploy/prometheus/alerts.yml
echo "== anomalies_test.yml is what scripts/gen-anomalies-test.py writes"
if ! python3 scripts/gen-anomalies-test.py | cmp -s - deploy/prometheus/anomalies_test.yml; then
    echo "error: deploy/prometheus/anomalies_test.yml is stale or edited by hand;" \
         "regenerate: scripts/gen-anomalies-test.py > deploy/prometheus/anomalies_test.yml" >&2
    exit 1
fi
echo "== promtool test rules"
promtool test rules deploy/prometheus/alerts_test.yml deploy/prometheus/anomalies_test.yml

echo "== metric names and structure"
python3 - "$scrape" <<'PY'
import glob
import json
import re
import sys

scrape = sys.argv[1]
errors = []

# ---------------------------------------------------------------- exported names
def names_from_docs(path="docs/metrics.md"):
    names = set()
    row = re.compile(r"^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*([a-z]+)\s*\|")
    with open(path) as f:
        for line in f:
            m = row.match(line)
            if not m:
                continue
            name, kind = m.groups()
            if kind == "histogram":
                names.update(name + s for s in ("_bucket", "_sum", "_count"))
            elif kind == "summary":
                names.update((name, name + "_sum", name + "_count"))
            else:
                names.add(name)
    if not names:
        sys.exit(f"error: no metric table rows found in {path}")
    return names


def names_from_scrape(path):
    """Series names a scrape yields: from `# TYPE` lines (so families without series yet
    count) and from the sample lines. Handles Prometheus text 0.0.4 and OpenMetrics."""
    names = set()
    sample = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?=[{\s])")
    with open(path) as f:
        for line in f:
            if line.startswith("# TYPE "):
                parts = line.split()
                if len(parts) < 4:
                    continue
                name, kind = parts[2], parts[3]
                if kind == "counter":
                    names.add(name if name.endswith("_total") else name + "_total")
                elif kind == "histogram":
                    names.update(name + s for s in ("_bucket", "_sum", "_count"))
                elif kind == "gaugehistogram":
                    names.update(name + s for s in ("_bucket", "_gsum", "_gcount"))
                elif kind == "summary":
                    names.update((name, name + "_sum", name + "_count"))
                elif kind == "info":
                    names.add(name if name.endswith("_info") else name + "_info")
                else:
                    names.add(name)
            elif line.strip() and not line.startswith("#"):
                m = sample.match(line)
                if m:
                    names.add(m.group(1))
    if not names:
        sys.exit(f"error: no metrics found in scrape file {path}")
    return names


documented = names_from_docs()
exported = names_from_scrape(scrape) if scrape else documented
source = scrape if scrape else "docs/metrics.md"
allowed = exported | {"up"}  # `up` is generated by Prometheus for every target

# ------------------------------------------------------------ PromQL name finder
# Everything in an expression that is not a metric name: functions, aggregations,
# keywords, Grafana's label_values(). Whatever identifier is left must be a metric.
PROMQL_WORDS = set("""
abs absent absent_over_time acos acosh asin asinh atan atan2 atanh avg avg_over_time bool
bottomk ceil changes clamp clamp_max clamp_min cos cosh count count_over_time count_values
day_of_month day_of_week day_of_year days_in_month deg delta deriv exp floor group
group_left group_right histogram_avg histogram_count histogram_fraction histogram_quantile
histogram_stddev histogram_stdvar histogram_sum holt_winters hour idelta ignoring increase
inf irate label_join label_replace last_over_time limitk limit_ratio ln log10 log2
mad_over_time max max_over_time min min_over_time minute month nan offset on or and unless
pi predict_linear present_over_time quantile quantile_over_time rad rate resets round scalar
sgn sin sinh sort sort_by_label sort_by_label_desc sort_desc sqrt stddev stddev_over_time
stdvar stdvar_over_time sum sum_over_time tan tanh time timestamp topk vector year by without
double_exponential_smoothing start end label_values label_names metrics query_result
""".split())

STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
MATCHERS = re.compile(r"\{[^{}]*\}")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
LABEL_VALUES = re.compile(r"\b(label_values)\(\s*([^,()]*?)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)")
# An identifier not preceded by a word character, `$` (Grafana variables), `:` or `.`,
# and followed by `{`, `[`, `)`, `,`, whitespace or the end: a selector, not a call.
IDENT = re.compile(r"(?<![\w$:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?=\s*[{\[),]|\s|$)")


def metric_names(expr):
    s = STRINGS.sub('""', expr)
    s = MATCHERS.sub("{}", s)
    s = GROUPING.sub(" ", s)
    s = LABEL_VALUES.sub(r"\1(\2)", s)
    return {n for n in IDENT.findall(s) if n not in PROMQL_WORDS}


used = {}  # name -> [where]


def record(expr, where):
    for name in metric_names(expr):
        used.setdefault(name, []).append(where)

# ------------------------------------------------------------------ alert rules
def rules_from_yaml(path):
    try:
        import yaml
    except ImportError:
        return None
    with open(path) as f:
        doc = yaml.safe_load(f)
    return [(g.get("name"), r) for g in doc.get("groups", []) for r in g.get("rules", [])]


def rules_fallback(path):
    """Without PyYAML: `- alert:`/`- record:` names and `expr:` scalars (plain or block)."""
    rules, cur, lines = [], None, open(path).read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(\s*)- (alert|record):\s*(\S+)", line)
        if m:
            cur = {m.group(2): m.group(3)}
            rules.append((None, cur))
        m = re.match(r"^(\s*)expr:\s*(.*)$", line)
        if m and cur is not None:
            indent, rest = len(m.group(1)), m.group(2).strip()
            if rest in ("|", "|-", ">", ">-", "|+", ">+"):
                body = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    body.append(lines[i])
                    i += 1
                cur["expr"] = "\n".join(body)
                continue
            cur["expr"] = rest.strip("'\"")
        i += 1
    return rules


alerts_path = "deploy/prometheus/alerts.yml"
recording_path = "deploy/prometheus/recording.yml"
rules, structural = [], True
for path in (recording_path, alerts_path):
    found = rules_from_yaml(path)
    if found is None:
        structural = False
        found = rules_fallback(path)
    if not found:
        errors.append(f"{path}: no rules found")
    rules += [(path, group, rule) for group, rule in found]
if not structural:
    print("note: PyYAML not installed; checking rule expressions only")

# Names the recording rules produce: usable by later rules and dashboards, and named
# `level:metric:operations` (https://prometheus.io/docs/practices/rules/).
RECORD_NAME = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z0-9][a-z0-9_]*$")
recorded = {}
for path, group, rule in rules:
    name = rule.get("record")
    if not name:
        continue
    if path != recording_path:
        errors.append(f"{path}: recording rule {name}: recording rules belong in {recording_path}")
    if not RECORD_NAME.match(name):
        errors.append(f"{path}: recording rule {name}: not named level:metric:operations")
    if name in recorded:
        errors.append(f"{path}: recording rule {name}: recorded twice")
    recorded[name] = path
allowed |= set(recorded)

for path, group, rule in rules:
    name = rule.get("alert") or rule.get("record")
    record(str(rule.get("expr", "")), f"{path}: {name}")
    if structural and "alert" in rule:
        if group != "vos-gateway":
            errors.append(f"{path}: {name}: in group {group!r}, expected 'vos-gateway'")
        if "for" not in rule:
            errors.append(f"{path}: {name}: no `for` duration")
        if "severity" not in (rule.get("labels") or {}):
            errors.append(f"{path}: {name}: no severity label")
        for key in ("summary", "description"):
            if key not in (rule.get("annotations") or {}):
                errors.append(f"{path}: {name}: no {key} annotation")

# ------------------------------------------------------------------- dashboards
def walk_panels(panels):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


def ds_uid(ds):
    if isinstance(ds, dict):
        return ds.get("uid")
    return ds  # legacy: a datasource name or uid as a string


uids = {}
paths = sorted(glob.glob("deploy/grafana/dashboards/*.json"))
if not paths:
    errors.append("deploy/grafana/dashboards: no dashboards")
for path in paths:
    try:
        with open(path) as f:
            dash = json.load(f)
    except ValueError as e:
        errors.append(f"{path}: invalid JSON: {e}")
        continue
    uid = dash.get("uid")
    if not uid:
        errors.append(f"{path}: no uid")
    elif uid in uids:
        errors.append(f"{path}: uid {uid!r} also used by {uids[uid]}")
    else:
        uids[uid] = path
    if not isinstance(dash.get("schemaVersion"), int):
        errors.append(f"{path}: no schemaVersion")
    ids = set()
    for p in walk_panels(dash.get("panels")):
        title = p.get("title", "?")
        if p.get("id") in ids:
            errors.append(f"{path}: panel id {p.get('id')} used twice")
        ids.add(p.get("id"))
        if p.get("type") == "row":
            continue
        if ds_uid(p.get("datasource")) != "prometheus":
            errors.append(f"{path}: panel {title!r}: datasource is not uid 'prometheus'")
        targets = p.get("targets") or []
        if not targets:
            errors.append(f"{path}: panel {title!r}: no queries")
        for t in targets:
            if ds_uid(t.get("datasource", p.get("datasource"))) != "prometheus":
                errors.append(f"{path}: panel {title!r}: query {t.get('refId')} datasource is not uid 'prometheus'")
            expr = t.get("expr", "")
            if not expr.strip():
                errors.append(f"{path}: panel {title!r}: query {t.get('refId')} has no expr")
            record(expr, f"{path}: {title}")
    for v in (dash.get("templating") or {}).get("list", []):
        if v.get("type") != "query":
            continue
        if ds_uid(v.get("datasource")) != "prometheus":
            errors.append(f"{path}: variable {v.get('name')!r}: datasource is not uid 'prometheus'")
        query = v.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        record(query or "", f"{path}: variable ${v.get('name')}")

# -------------------------------------------------------------------- verdict
unknown = sorted(n for n in used if n not in allowed)
if scrape:
    # A labelled family shows up in the exposition only once it has a series (e.g.
    # vos_notifications_failed_total before the first failure), so a documented name
    # missing from one scrape is reported, not failed. Names in neither list fail.
    absent = [n for n in unknown if n in documented]
    if absent:
        print("warning: documented in docs/metrics.md but not in this scrape (no series yet?): "
              + ", ".join(absent))
    unknown = [n for n in unknown if n not in documented]
for name in unknown:
    where = sorted(set(used[name]))
    where_not = f"{source} or docs/metrics.md" if scrape else source
    errors.append(f"unknown metric {name!r} (not in {where_not}), used by:\n      " + "\n      ".join(where))

if errors:
    print(f"FAILED: {len(errors)} problem(s)")
    for e in errors:
        print("  - " + e)
    sys.exit(1)
print(f"OK: {len(used)} metric names in {len(rules)} rules and {len(paths)} dashboards, "
      f"all known ({source} and {len(recorded)} recorded names"
      f"{', with warnings above' if scrape and absent else ''})")
PY
