#!/usr/bin/env python3
"""Rollups under notify load: do they count every journey, and keep up?

Starts a release gateway on a fresh database (the rollup stage on, default settings, so it
also catches up its empty week while the load runs), drives notify with `wrk` for `--rounds`
rounds of `--duration` seconds, waits for the stage to roll the last minutes, then compares
the journeys the rollups hold with the rows accepted before the end of what they cover, and
the report's total with the rows of the last hour. Prints the rollup statements Postgres took
more than a second over (the gateway's slow-statement warnings).

    python3 bench/rollups_live.py --bin-dir target/release [--rounds 3] [--duration 40]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b  # noqa: E402  (the shared helpers: processes, wrk, psql, keys)


def main():
    ap = b.load_args(__doc__, rounds=3, duration=40, duration_help="seconds of notify load per round")
    args = ap.parse_args()
    run_id = f"{os.getpid()}"
    db = f"vos_bench_rollups_{run_id}"
    agents = [f"live{run_id}-a{i}" for i in range(4)]
    key = b.api_key()
    procs = b.Procs()
    tmp = Path(tempfile.mkdtemp(prefix="vos-rollups-live-"))
    bin_dir = Path(args.bin_dir)
    try:
        port = b.free_port()
        env = b.service_env(db, key, VOS__SERVER__ADDR=f"127.0.0.1:{port}",
                            **b.LIMITS_ABOVE_THE_MACHINE, **b.QUIET)
        env["RUST_LOG"] = "warn"
        log = open(tmp / "gateway.log", "w")
        procs.start("gateway", [str(bin_dir / "vos-gateway"), "serve"], env=env, stdout=log)
        url = f"http://127.0.0.1:{port}"
        b.wait_http(f"{url}/health/ready", 60, "gateway")
        b.register_agents(url, key, agents)
        wrk_env = {"BENCH_AGENTS": ",".join(agents), "BENCH_KEY": key}
        for i in range(args.rounds):
            result = b.wrk(url, args.duration, args.connections, b.BENCH / "notify.lua", wrk_env)
            b.log(f"round {i + 1}: {result['rps']:.0f} req/s ({result['errors']} errors)")
        # The lag (30 s), the minute still open, and the interval (15 s).
        time.sleep(110)
        rolled_until, rolled, accepted_before, accepted, pending = b.psql(db, (
            "select (select rolled_until from rollup_progress), "
            "(select coalesce(sum(journeys), 0) from rollup_journeys), "
            "(select count(*) from notifications "
            " where accepted_at < (select rolled_until from rollup_progress)), "
            "(select count(*) from notifications), "
            "(select count(*) from notifications where status = 'pending')")).split("|")
        request = urllib.request.Request(f"{url}/api/v1/reports/summary?since=1h",
                                         headers={"Authorization": f"Bearer {key}"})
        report = json.loads(urllib.request.urlopen(request, timeout=60).read())
        slow = [json.loads(line) for line in open(tmp / "gateway.log")
                if "slow statement" in line and "rollup" in line]
        print(f"\naccepted: {int(accepted):,} ({int(pending):,} pending); rolled until {rolled_until}")
        print(f"rollups hold {int(rolled):,} journeys; rows accepted before then: {int(accepted_before):,}"
              f" ({'the same' if rolled == accepted_before else 'DIFFERENT'})")
        print(f"report, last hour: {report['totals']['accepted']:,} accepted"
              f" ({'the same as the rows' if report['totals']['accepted'] == int(accepted) else 'DIFFERENT'})")
        print(f"rollup statements over 1 s: {len(slow)}"
              + "".join(f"\n  {s['elapsed_secs']:.1f} s: {s['summary']}" for s in slow[:10]))
        if rolled != accepted_before or report["totals"]["accepted"] != int(accepted):
            raise SystemExit("the rollups do not count every journey")
    finally:
        b.clean_up(procs, bin_dir, [db], [f"{agent}_queue" for agent in agents])


if __name__ == "__main__":
    main()
