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
python3 scripts/observability.py check ${scrape:+"$scrape"}
