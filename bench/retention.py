#!/usr/bin/env python3
"""Retention at production volume: does a retention pass over ~10 million rows slow notify?

Fills one database with N notifications (default 10,000,000; half of them published more than
7 days ago, so expired), starts the gateway under test (retention off) and a second gateway on
the same database that only runs retention (`[retention] interval = 1s`), then alternates
rounds of notify load on the first with the retention gateway paused (SIGSTOP) and running
(SIGCONT), and reports the throughput ratio (running / paused), how many rows each running
round deleted, and how long the fill took. Called by `bench/run.sh --retention`; stdlib only.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b  # noqa: E402  (the shared helpers: processes, wrk, psql, keys)


def main():
    ap = b.load_args(__doc__, rounds=4, duration=20, duration_help="seconds of notify load per round")
    ap.add_argument("--rows", type=int, default=10_000_000)
    args = ap.parse_args()
    run_id = f"{os.getpid()}"
    db = f"vos_bench_retention_{run_id}"
    agents = [f"ret{run_id}-a{i}" for i in range(4)]
    key = b.api_key()
    procs = b.Procs()
    bin_dir = Path(args.bin_dir)
    try:
        ports = {"load": b.free_port(), "retention": b.free_port()}
        base_env = b.service_env(db, key, RUST_LOG="warn", VOS__TELEMETRY__SAMPLE_RATIO="0",
                                 VOS__RATE_LIMIT__PER_KEY="off", VOS__RATE_LIMIT__PER_AGENT="off")
        load_env = dict(base_env, VOS__SERVER__ADDR=f"127.0.0.1:{ports['load']}",
                        VOS__RETENTION__INTERVAL="1000d")
        load = procs.start("gateway", [str(bin_dir / "vos-gateway"), "serve"], env=load_env)
        b.wait_http(f"http://127.0.0.1:{ports['load']}/health/ready", 60, "gateway")
        b.register_agents(f"http://127.0.0.1:{ports['load']}", key, agents)

        b.log(f"filling {args.rows:,} rows (half expired)")
        started = time.time()
        chunk = 1_000_000
        for offset in range(0, args.rows, chunk):
            n = min(chunk, args.rows - offset)
            b.psql(db, f"""
                insert into notifications (notification_id, agent_id, notification_type, source,
                    payload, correlation_id, trace_id, span_id, trace_sampled, status, accepted_at,
                    next_attempt_at, published_at)
                select gen_random_uuid(), '{agents[0]}', 'user_message', 'bench',
                    '{{"text":"hello from the load test","n":1}}', 'c',
                    '4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', true, 'published',
                    t, t, t
                from (select now() - interval '14 days' + (i::float8 / {args.rows}) * interval '14 days' as t
                      from generate_series({offset}, {offset + n - 1}) i) s""", timeout=3600)
        b.psql(db, "vacuum analyze notifications", timeout=3600)
        filled = time.time() - started
        expired = int(b.psql(db, "select count(*) from notifications where published_at < now() - interval '7 days'"))
        b.log(f"filled in {filled:.0f} s; {expired:,} expired")

        retention_env = dict(base_env, VOS__SERVER__ADDR=f"127.0.0.1:{ports['retention']}",
                             VOS__RETENTION__INTERVAL="1s", RUST_LOG="info")
        log_path = Path("target/bench/retention-gateway.log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        worker = procs.start("retention", [str(bin_dir / "vos-gateway"), "serve"], env=retention_env,
                             stdout=open(log_path, "w"))
        b.wait_http(f"http://127.0.0.1:{ports['retention']}/health/ready", 60, "retention gateway")
        os.kill(worker.pid, signal.SIGSTOP)
        script = b.BENCH / "notify.lua"
        env = {"BENCH_AGENTS": ",".join(agents), "BENCH_KEY": key}
        url = f"http://127.0.0.1:{ports['load']}"
        b.wrk(url, 10, args.connections, script, env)
        rows = {"paused": [], "running": []}
        deleted = []
        for _ in range(args.rounds):
            for mode in ("paused", "running"):
                if mode == "running":
                    before = int(b.psql(db, "select count(*) from notifications where published_at < now() - interval '7 days'"))
                    os.kill(worker.pid, signal.SIGCONT)
                r = b.wrk(url, args.duration, args.connections, script, env)
                if mode == "running":
                    os.kill(worker.pid, signal.SIGSTOP)
                    after = int(b.psql(db, "select count(*) from notifications where published_at < now() - interval '7 days'"))
                    deleted.append(before - after)
                rows[mode].append(r["rps"])
        os.kill(worker.pid, signal.SIGCONT)
        ratio = b.ratio_summary(rows["running"], rows["paused"])
        print(f"rows: {args.rows:,} ({expired:,} expired); fill {filled:.0f} s")
        print(f"notify req/s, retention paused: {[round(x) for x in rows['paused']]}")
        print(f"notify req/s, retention running: {[round(x) for x in rows['running']]}")
        print(f"running/paused: {b.fmt_ratio(ratio, pct=True)}")
        print(f"rows deleted per {args.duration:g} s round while running: {deleted} "
              f"({sum(deleted) / (len(deleted) * args.duration):,.0f} rows/s)")
    finally:
        b.clean_up(procs, bin_dir, [db], [f"{agent}_queue" for agent in agents])


if __name__ == "__main__":
    main()
