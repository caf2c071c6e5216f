#!/usr/bin/env python3
"""The result hop, side by side: how long an agent's answer waits before the gateway has
recorded it (`result_recorded_at - completed_at`), for this build and a baseline binary.

Both gateways run at once, each on its own database, its own results queue and four demo
agents of its own (telemetry as shipped: traces sampled, exported nowhere). Each round loads
one build, then the other (the order alternates), with `wrk` paced to about `--rate`
notifications per second (`--connections` connections, each pausing between requests), a
rate below what the machine completes, so the hop is not a backlog. Percentiles come from
the database, over the rows accepted in the round.

    python3 bench/result_hop.py --bin-dir target/release --baseline /tmp/base/vos-gateway \\
        [--rate 800] [--rounds 4] [--duration 20]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b  # noqa: E402  (the shared helpers: processes, wrk, psql, keys)

SYSTEMS = ("baseline", "build")


def start(procs, label: str, binary: str, agent_bin: Path, db: str, key: str, agents: list[str],
          results_queue: str, tmp: Path) -> str:
    """A gateway (as shipped, but no exporter and limits above the machine) and its agents;
    returns its URL once ready, with its agents registered."""
    port = b.free_port()
    b.psql("postgres", f'create database "{db}"')
    env = b.service_env(db, key, VOS__SERVER__ADDR=f"127.0.0.1:{port}", VOS__AMQP__RESULTS_QUEUE=results_queue,
                        VOS__TELEMETRY__OTLP_ENDPOINT="", RUST_LOG="warn", **b.LIMITS_ABOVE_THE_MACHINE)
    procs.start(f"gateway-{label}", [binary, "serve"], env=env, stdout=open(tmp / f"{label}.log", "w"))
    url = f"http://127.0.0.1:{port}"
    b.wait_http(f"{url}/health/ready", 60, f"gateway {label}")
    b.register_agents(url, key, agents)
    agent_env = {k: v for k, v in os.environ.items() if not k.startswith(("VOS_", "OTEL_", "RUST_LOG"))}
    agent_env["RUST_LOG"] = "warn"
    for i, agent in enumerate(agents):
        procs.start(f"agent-{label}-{i}", [str(agent_bin), "--agent-id", agent], env=agent_env,
                    stdout=open(tmp / f"agent-{label}-{i}.log", "w"))
    return url


def hop(db: str, since: str, until: str) -> dict:
    """Hop percentiles (ms) over the rows accepted in [since, until] that were answered."""
    pct = ", ".join(f"percentile_cont({q}) within group (order by extract(epoch from "
                    f"result_recorded_at - completed_at) * 1000)" for q in (0.5, 0.99))
    row = b.psql(db, f"select count(*), count(result_recorded_at), {pct} from notifications "
                     f"where accepted_at between '{since}' and '{until}'").split("|")
    return {"rows": int(row[0]), "answered": int(row[1]),
            "p50": float(row[2] or "nan"), "p99": float(row[3] or "nan")}


def main():
    ap = b.load_args(__doc__, rounds=4, duration=20, duration_help="seconds of load per build and round")
    ap.add_argument("--baseline", required=True, help="an earlier vos-gateway binary")
    ap.add_argument("--rate", type=float, default=800, help="notifications per second, paced")
    args = ap.parse_args()
    run_id = f"{os.getpid()}"
    bin_dir = Path(args.bin_dir)
    binaries = {"baseline": args.baseline, "build": str(bin_dir / "vos-gateway")}
    dbs = {s: f"vos_bench_hop_{s}_{run_id}" for s in SYSTEMS}
    agents = {s: [f"hop{run_id}-{s[0]}{i}" for i in range(4)] for s in SYSTEMS}
    results_queues = {s: f"vos_bench_hop_{run_id}.{s}.results" for s in SYSTEMS}
    queues = [f"{a}_queue" for s in SYSTEMS for a in agents[s]]
    queues += [q for s in SYSTEMS for q in (results_queues[s], f"{results_queues[s]}.dlq")]
    key = b.api_key()
    procs = b.Procs()
    tmp = Path(tempfile.mkdtemp(prefix="vos-result-hop-"))
    try:
        urls = {s: start(procs, s, binaries[s], bin_dir / "vos-agent-demo", dbs[s], key, agents[s],
                         results_queues[s], tmp) for s in SYSTEMS}
        # Each connection pauses this long between requests; the response time adds to it, so
        # the rate reached is a little under --rate.
        delay_ms = args.connections * 1000 / args.rate
        rows = {s: [] for s in SYSTEMS}
        for r in range(args.rounds):
            order = SYSTEMS if r % 2 == 0 else tuple(reversed(SYSTEMS))
            for s in order:
                since = b.psql(dbs[s], "select clock_timestamp()")
                load = b.wrk(urls[s], args.duration, args.connections, b.BENCH / "notify.lua",
                             {"BENCH_AGENTS": ",".join(agents[s]), "BENCH_KEY": key, "BENCH_TYPE": "echo",
                              "BENCH_DELAY_MS": f"{delay_ms:.1f}"})
                until = b.psql(dbs[s], "select clock_timestamp()")
                time.sleep(5)  # the last answers come back
                h = hop(dbs[s], since, until)
                h["rps"] = load["rps"]
                rows[s].append(h)
                b.log(f"round {r + 1} {s}: {h['rps']:.0f}/s, {h['answered']}/{h['rows']} answered, "
                      f"hop p50 {h['p50']:.1f} ms, p99 {h['p99']:.1f} ms")
        print(f"\nresult hop at ~{args.rate:.0f}/s, {args.rounds} rounds of {args.duration:g} s per build")
        print("| | notify/s | hop p50 ms | hop p99 ms |")
        print("|---|---|---|---|")
        for s in SYSTEMS:
            med = {k: b.median([x[k] for x in rows[s]]) for k in ("rps", "p50", "p99")}
            print(f"| {s} | {med['rps']:,.0f} | {med['p50']:.1f} | {med['p99']:.1f} |")
        for k in ("p50", "p99"):
            ratio = b.ratio_summary([x[k] for x in rows["build"]], [x[k] for x in rows["baseline"]])
            print(f"build / baseline, hop {k}: {b.fmt_ratio(ratio)}")
        unanswered = sum(x["rows"] - x["answered"] for s in SYSTEMS for x in rows[s])
        if unanswered:
            print(f"{unanswered} notifications were unanswered 5 s after their round")
    finally:
        b.clean_up(procs, bin_dir, list(dbs.values()), queues)


if __name__ == "__main__":
    main()
