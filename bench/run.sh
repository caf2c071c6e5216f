#!/usr/bin/env bash
# The gateway's benchmark: builds, starts what it needs, measures everything side by side in
# one run and writes the table to docs/BENCHMARKS.md (see bench/bench.py for the method).
#
#   bench/run.sh            full run (about 15 minutes): release build, 5 rounds of 20 s
#   bench/run.sh --retention  retention at ~10 million rows: notify with a pass running vs paused
#   bench/run.sh --analytics  the analyses at 10 million journeys: their times for 1 h and 24 h,
#                             and notify with analyses running in a loop vs not
#   bench/run.sh --queue-types  notify and the raw broker on classic vs quorum queues, interleaved
#   bench/run.sh --scale-out  1, 2 and 3 gateway replicas on one Postgres and RabbitMQ, interleaved:
#                             throughput per replica and in all, CPU, round trips per notification
#   bench/run.sh --smoke    seconds per scenario, no speed assertions (what CI runs); uses the
#                           debug build that `cargo test` already made unless --release is given,
#                           and prints the table instead of writing docs/BENCHMARKS.md
#
# Other options are passed to bench/bench.py (--rounds N, --duration S, --connections C,
# --no-peer, --no-oha, --no-e2e, --out PATH). Needs local PostgreSQL (127.0.0.1:5432, user postgres,
# trust) and RabbitMQ (127.0.0.1:5672, guest/guest); starts them when they are down, as .ci/run
# does. Installs wrk (apt), oha (cargo install, skipped in --smoke unless BENCH_INSTALL_OHA=1)
# and the Python peer's packages (pip, into target/bench-venv).
# BENCH_PERF_DIR=DIR: `perf record` the gateway during the first end-to-end round, into DIR
# (docs/BENCHMARKS.md "End to end" reads it with perf report).
set -euo pipefail
cd "$(dirname "$0")/.."
command_line="bench/run.sh${*:+ $*}"

smoke=0 release=0 retention=0 analytics=0 queue_types=0 scale_out=0 pass=()
for arg in "$@"; do
  case "$arg" in
    --smoke) smoke=1 ;;
    --release) release=1 ;;
    --retention) retention=1 ;;
    --analytics) analytics=1 ;;
    --queue-types) queue_types=1 ;;
    --scale-out) scale_out=1 ;;
    *) pass+=("$arg") ;;
  esac
done
profile=release out=docs/BENCHMARKS.md
if [[ $smoke == 1 ]]; then
  out=${CARGO_TARGET_DIR:-target}/bench/smoke.md
  [[ $release == 1 ]] || profile=debug
fi

log() { printf '\n== bench: %s\n' "$*" >&2; }
port_open() { timeout 1 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }
wait_for_port() { # port name seconds
  for _ in $(seq 1 "$3"); do
    port_open "$1" && return 0
    sleep 1
  done
  echo "$2 did not come up on port $1" >&2
  return 1
}

log "services"
if ! port_open 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
wait_for_port 5432 PostgreSQL 60
if ! port_open 5672; then
  rabbitmq-server -detached
fi
wait_for_port 5672 RabbitMQ 120
for _ in $(seq 1 60); do
  rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1 && break
  sleep 1
done

log "tools"
apt_updated=0
apt_install() {
  if [[ $apt_updated == 0 ]]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v wrk >/dev/null || apt_install wrk
command -v pgbench >/dev/null || apt_install postgresql-contrib
command -v psql >/dev/null || apt_install postgresql-client
export PATH="$HOME/.cargo/bin:$PATH"
# The analytics and scale-out runs need neither oha nor the Python peer.
if [[ $analytics == 0 && $scale_out == 0 ]] && ! command -v oha >/dev/null; then
  if [[ $smoke == 0 || ${BENCH_INSTALL_OHA:-0} == 1 ]]; then
    # From crates.io; takes a few minutes to compile once, then ~/.cargo/bin/oha is reused.
    cargo install oha --version 1.16.0 --locked
  else
    echo "oha is not installed: the smoke run skips the open-loop scenario (wrk only)" >&2
  fi
fi
target_dir=${CARGO_TARGET_DIR:-target}
venv=$target_dir/bench-venv
if [[ $analytics == 0 && $scale_out == 0 ]] && ! "$venv/bin/python" -c 'import fastapi, uvicorn, uvloop, httptools, psycopg, psycopg_pool, aio_pika, opentelemetry.sdk' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r bench/peer/requirements.txt
fi

log "build ($profile)"
if [[ $profile == release ]]; then
  cargo build --release --locked --bin vos-gateway --bin vos-agent-demo --example overhead --example otlp_sink \
    --example bench_amqp
else
  cargo build --locked --bin vos-gateway --bin vos-agent-demo --example overhead --example otlp_sink --example bench_amqp
fi

if [[ $retention == 1 ]]; then
  # Retention at production volume (bench/retention.py): ~10 million rows, notify throughput
  # with a retention pass running against paused. Takes ~10 minutes and ~6 GB of disk.
  log "retention"
  exec flock -s "${TMPDIR:-/tmp}/vos-gateway-tests.lock" \
    python3 bench/retention.py --bin-dir "$target_dir/$profile" "${pass[@]}"
fi

if [[ $queue_types == 1 ]]; then
  # The queue type's cost (bench/queue_types.py): notify against classic and quorum agents'
  # queues in alternated rounds, and the broker's raw limit for each. About 10 minutes.
  log "queue types"
  exec flock -s "${TMPDIR:-/tmp}/vos-gateway-tests.lock" \
    python3 bench/queue_types.py --bin-dir "$target_dir/$profile" "${pass[@]}"
fi

if [[ $scale_out == 1 ]]; then
  # Scale-out (bench/scale_out.py): 1, 2 and 3 replicas on the same services in rotated rounds;
  # writes $target_dir/bench/scale_out.md. About 6 minutes; twice that with --baseline BINARY.
  log "scale-out"
  exec flock -s "${TMPDIR:-/tmp}/vos-gateway-tests.lock" \
    python3 bench/scale_out.py --bin-dir "$target_dir/$profile" --out "$target_dir/bench/scale_out.md" \
    --command "$command_line" "${pass[@]}"
fi

if [[ $analytics == 1 ]]; then
  # The analyses at 10 million journeys (bench/analytics.py). Takes ~15 minutes and ~8 GB of
  # disk; --keep --database NAME keeps the rows for another run.
  log "analytics"
  exec flock -s "${TMPDIR:-/tmp}/vos-gateway-tests.lock" \
    python3 bench/analytics.py --bin-dir "$target_dir/$profile" "${pass[@]}"
fi

log "run"
smoke_flag=()
[[ $smoke == 1 ]] && smoke_flag=(--smoke)
# Hold the test suite's services lock shared, as every test does: a test that stops Postgres or
# RabbitMQ (it takes the lock exclusively) then waits instead of pulling a service away mid-run.
exec flock -s "${TMPDIR:-/tmp}/vos-gateway-tests.lock" \
  python3 bench/bench.py "${smoke_flag[@]}" --bin-dir "$target_dir/$profile" --profile "$profile" \
  --venv "$venv" --out "$out" --command "$command_line" "${pass[@]}"
