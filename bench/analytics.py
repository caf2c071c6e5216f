#!/usr/bin/env python3
"""The analyses at 10 million journeys: how long each takes, and what they cost notify.

Fills one database with N generated journeys (bench/analytics_fixtures.py; default 10,000,000
over 7 days, so a day holds ~1.4 million), starts a release gateway on it, then

1. restarts the rollups on the generated rows (as a first start on an existing database does)
   and times the gateway's rollup stage catching up the week;
2. times every analysis and the report for a 1 h and a 24 h window over HTTP (a warm-up, then
   `--reps` requests each; median, min and max wall time), with the statement timeout raised
   so that the true time is measured;
3. alternates rounds of notify load (wrk) with no analysis running and with one client running
   the ten analyses in a loop (back to back, or `--pace S` seconds apart; a 503 with
   Retry-After waits as told), and reports the throughput ratio (with / without). The gateway
   runs these with its `[analytics] time_share` (or `--time-share`); the timings with 1.

Called by `bench/run.sh --analytics`; stdlib only. `--keep` keeps the database (and
`--database NAME` reuses one that already holds the rows).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import analytics_fixtures as fixtures  # noqa: E402
import bench as b  # noqa: E402  (the shared helpers: processes, wrk, psql, keys)

ANALYSES = [
    ("slow-operations", "/api/v1/analytics/slow-operations?window={w}"),
    ("error-rates (5m)", "/api/v1/analytics/error-rates?window={w}&bucket=5m"),
    ("message-flows", "/api/v1/analytics/message-flows?window={w}"),
    ("anomalies", "/api/v1/analytics/anomalies?window={w}"),
    ("report summary", "/api/v1/reports/summary?since={w}"),
]
WINDOWS = ["1h", "24h"]


def get(url: str, key: str, timeout: float = 300) -> float:
    """Seconds until the whole 200 answer was read."""
    started = time.perf_counter()
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status} {body[:200]!r}")
    return time.perf_counter() - started


def main():
    ap = b.load_args(__doc__, rounds=4, duration=20, duration_help="seconds of notify load per round")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--days", type=float, default=7)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--database", help="reuse this database if it already holds --rows rows")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    ap.add_argument("--pace", type=float, default=0,
                    help="seconds between two analyses of the loop (0: back to back)")
    ap.add_argument("--time-share", help="[analytics] time_share of the gateway while notify "
                    "runs (default: the gateway's own); the timings always run with 1")
    args = ap.parse_args()
    run_id = f"{os.getpid()}"
    db = args.database or f"vos_bench_analytics_{run_id}"
    agents = [f"ana{run_id}-a{i}" for i in range(4)]
    key = b.api_key()
    procs = b.Procs()
    bin_dir = Path(args.bin_dir)
    try:
        port = b.free_port()
        env = b.service_env(db, key)
        env.update({
            "RUST_LOG": "warn",
            "VOS__SERVER__ADDR": f"127.0.0.1:{port}",
            "VOS__TELEMETRY__SAMPLE_RATIO": "0",
            "VOS__RATE_LIMIT__PER_KEY": "off", "VOS__RATE_LIMIT__PER_AGENT": "off",
            # Measure the true time of each analysis, not where the timeout cuts it.
            "VOS__ANALYTICS__STATEMENT_TIMEOUT": "300s", "VOS__SERVER__REQUEST_TIMEOUT": "300s",
            # The fixtures are up to 7 days old; retention must not delete them meanwhile.
            "VOS__RETENTION__INTERVAL": "1000d",
            # The timings ask back to back: unpaced (the notify rounds restart the gateway
            # with the configured share).
            "VOS__ANALYTICS__TIME_SHARE": "1",
        })
        # A reused database keeps the keys of its last run: this run's key is the bootstrap
        # key of an empty key table.
        b.psql(db, "delete from api_keys", check=False)
        procs.start("gateway", [str(bin_dir / "vos-gateway"), "serve"], env=env)
        url = f"http://127.0.0.1:{port}"
        b.wait_http(f"{url}/health/ready", 120, "gateway")
        try:
            b.register_agents(url, key, agents)
        except RuntimeError as e:
            raise SystemExit(f"{e} (reuse a database only with its own key)")

        present = int(b.psql(db, "select count(*) from notifications"))
        if present < args.rows:
            b.log(f"filling {args.rows:,} journeys over {args.days:g} days")
            filled = fixtures.fill(db, args.rows, args.days, log=b.log)
            b.log(f"filled in {filled:.0f} s")
        else:
            filled = float("nan")
            b.log(f"reusing {present:,} rows")
        # The stage rolled the empty table as the gateway started; the rows generated now
        # were written into the past after that, which production never does. Start the
        # rollups over, and time the catch-up (on a reused database, only what it lacks).
        b.log("rolling up the generated journeys")
        if filled == filled:  # not NaN: filled in this run
            b.psql(db, "truncate rollup_results, rollup_agents, rollup_tools, rollup_models, "
                       "rollup_journeys, rollup_progress")
        started = time.time()
        while True:
            behind = b.psql(db, "select extract(epoch from now() - rolled_until) "
                                "from rollup_progress", check=False)
            # Rolled up to the last minute or two (30 s of lag, the minute still open, and
            # up to the 15-s interval).
            if behind and float(behind) < 2 * 60:
                break
            if time.time() - started > 3600:
                raise SystemExit("the rollups did not catch up within an hour")
            time.sleep(2)
        caught_up = time.time() - started
        b.log(f"rollups caught up in {caught_up:.0f} s")
        rollup_size = b.psql(db, "select pg_size_pretty(sum(pg_total_relation_size(t))) from "
                                 "unnest(array['rollup_results', 'rollup_agents', 'rollup_tools', "
                                 "'rollup_models', 'rollup_journeys']) t")
        size = b.psql(db, "select pg_size_pretty(pg_total_relation_size('notifications'))")
        per_day = int(b.psql(db, "select count(*) from notifications where accepted_at > now() - interval '1 day'"))

        b.log("timing the analyses")
        timings = {}
        for name, path in ANALYSES:
            for window in WINDOWS:
                target = url + path.format(w=window)
                get(target, key)  # warm-up: caches, plans
                times = [get(target, key) for _ in range(args.reps)]
                timings[(name, window)] = times
                b.log(f"{name} {window}: median {statistics.median(times) * 1000:.0f} ms")

        b.log("notify with and without analyses running")
        # As configured now (the analyses' time share paces the loop below), but with the
        # statement timeout still raised: a slow analysis must cost what it costs.
        procs.stop(["gateway"])
        del env["VOS__ANALYTICS__TIME_SHARE"]
        if args.time_share:
            env["VOS__ANALYTICS__TIME_SHARE"] = args.time_share
        procs.start("gateway", [str(bin_dir / "vos-gateway"), "serve"], env=env)
        b.wait_http(f"{url}/health/ready", 120, "gateway")
        stop = threading.Event()
        loops = {"analyses": 0, "failed": 0, "deferred": 0}

        def analyse_in_a_loop():
            while not stop.is_set():
                for _, path in ANALYSES:
                    for window in WINDOWS:
                        if stop.is_set():
                            return
                        try:
                            get(url + path.format(w=window), key)
                            loops["analyses"] += 1
                        except urllib.error.HTTPError as e:
                            # A well-behaved client: 503 with Retry-After waits as told.
                            after = e.headers.get("Retry-After") if e.code == 503 else None
                            if after is None:
                                loops["failed"] += 1
                            else:
                                loops["deferred"] += 1
                                stop.wait(float(after))
                        except Exception:  # noqa: BLE001 - counted, the round goes on
                            loops["failed"] += 1
                        stop.wait(args.pace)

        script = b.BENCH / "notify.lua"
        wrk_env = {"BENCH_AGENTS": ",".join(agents), "BENCH_KEY": key}
        b.wrk(url, 5, args.connections, script, wrk_env)
        rps = {"idle": [], "analysing": []}
        for _ in range(args.rounds):
            for mode in ("idle", "analysing"):
                worker = None
                if mode == "analysing":
                    stop.clear()
                    worker = threading.Thread(target=analyse_in_a_loop, daemon=True)
                    worker.start()
                result = b.wrk(url, args.duration, args.connections, script, wrk_env)
                if worker:
                    stop.set()
                    worker.join()
                rps[mode].append(result["rps"])
                b.log(f"{mode}: {result['rps']:.0f} req/s ({result['errors']} errors)")
        ratio = b.ratio_summary(rps["analysing"], rps["idle"])

        print(f"\nrows: {args.rows:,} over {args.days:g} days ({per_day:,} in the last day); "
              f"table with indexes {size}; fill {filled:.0f} s")
        print(f"rollups: caught up in {caught_up:.0f} s by the gateway's stage; "
              f"{rollup_size} with indexes")
        print(f"\n| analysis | window | median | min | max |\n|---|---|---|---|---|")
        for (name, window), times in timings.items():
            ms = [t * 1000 for t in times]
            print(f"| {name} | {window} | {statistics.median(ms):,.0f} ms | {min(ms):,.0f} ms | {max(ms):,.0f} ms |")
        print(f"\nnotify req/s, no analysis: {[round(x) for x in rps['idle']]}")
        print(f"notify req/s, analyses in a loop (pace {args.pace:g} s): {[round(x) for x in rps['analysing']]} "
              f"({loops['analyses']} analyses answered, {loops['deferred']} told to come back "
              f"later, {loops['failed']} failed)")
        print(f"with/without: {b.fmt_ratio(ratio, pct=True)}")
        print(json.dumps({"timings_ms": {f"{n} {w}": [round(t * 1000) for t in ts] for (n, w), ts in timings.items()},
                          "rps": rps, "ratio": ratio}))
    finally:
        b.clean_up(procs, bin_dir, [] if args.keep else [db], [f"{agent}_queue" for agent in agents])


if __name__ == "__main__":
    main()
