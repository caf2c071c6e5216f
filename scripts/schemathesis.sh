#!/usr/bin/env bash
# Property-based API test: schemathesis generates requests from the gateway's own OpenAPI
# document (/api-docs/openapi.json) and checks every answer: no 5xx, status codes, content
# types and bodies as documented. Runs the real binary against the local services.
#
#   scripts/schemathesis.sh [max-examples-per-operation]   (default 100)
set -euo pipefail
cd "$(dirname "$0")/.."

examples="${1:-100}"
venv="target/schemathesis-venv"
version="4.32.5"

if [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/schemathesis" --version | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$version"
fi

cargo build --locked --quiet --bin vos-gateway
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
database="vos_schemathesis_$$"
log="target/schemathesis-gateway.log"

export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$database"
cleanup() {
  kill -TERM "${gateway:-}" 2>/dev/null || true
  wait "${gateway:-}" 2>/dev/null || true
  # Delete the queues the generated registrations declared, then the database.
  psql -qAt -h 127.0.0.1 -U postgres -d "$database" -c "select agent_id from agents" 2>/dev/null |
    while read -r agent; do rabbitmqctl -q delete_queue "${agent}_queue" </dev/null >/dev/null 2>&1 || true; done
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "drop database if exists $database with (force)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Every /api/v1 route needs a key: the CLI creates the database and an admin key for the run.
key=$(target/debug/vos-gateway keys create --name schemathesis --scope admin 2>/dev/null)

# The analyses unpaced: hundreds of them back to back are what schemathesis does, and a
# 503 asking it to come back later is not what it checks (tests/api/analytics cover pacing).
VOS__SERVER__ADDR="127.0.0.1:$port" \
VOS__TELEMETRY__LOG_LEVEL=warn \
VOS__ANALYTICS__TIME_SHARE=1 \
  target/debug/vos-gateway serve >"$log" 2>&1 &
gateway=$!

for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done

"$venv/bin/schemathesis" run "http://127.0.0.1:$port/api-docs/openapi.json" \
  --url "http://127.0.0.1:$port" \
  --header "Authorization: Bearer $key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$examples" \
  --request-timeout 10 \
  --generation-deterministic
