#!/usr/bin/env python3
"""Queue types: notify throughput and CPU per notification with classic and quorum queues.

Starts one release gateway (access control on, telemetry off: bench.py's notify scenario),
registers two sets of 4 agents, one with classic queues and one with quorum queues, and
alternates rounds of `wrk` notify load against each set (the order flips every round; tables
truncated and queues purged before every round). Reports notify throughput per kind, the
ratio quorum/classic over the rounds (median, min–max), CPU per notification by process
(gateway, RabbitMQ `beam.smp`, Postgres) per kind, and the raw broker figure per kind
(`bench_amqp limit`: one client, persistent confirmed publishes, window 512), alternated the
same way. Prints a Markdown block. Stdlib only; reuses bench.py's helpers, like retention.py.

    python3 bench/queue_types.py --bin-dir target/release --rounds 4 --duration 15
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b  # noqa: E402  (the shared helpers: processes, wrk, psql, keys)

KINDS = ("classic", "quorum")


def register(port: int, key: str, agent: str, queue_type: str):
    body = json.dumps({"description": f"queue types bench ({queue_type})", "queue_type": queue_type}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/agents/{agent}", data=body, method="PUT",
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        view = json.loads(r.read())
    if view.get("queue_type") != queue_type:
        raise RuntimeError(f"{agent} registered as {view.get('queue_type')}, not {queue_type}")


def broker_types(queues: list[str]) -> dict[str, str]:
    """The queues' types as the broker reports them (a passive declare cannot tell)."""
    out = b.run(["rabbitmqctl", "-q", "list_queues", "name", "type"], timeout=120, check=False)
    types = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in queues:
            types[parts[0]] = parts[1]
    return types


def drained(db: str, within: float = 30) -> tuple[int, int]:
    """Waits until nothing is pending; returns (rows, pending)."""
    rows, pending = 0, -1
    deadline = time.time() + within
    while time.time() < deadline:
        out = b.psql(db, "select count(*), count(*) filter (where status = 'pending') from notifications")
        rows, pending = (int(x) for x in out.split("|"))
        if pending == 0:
            break
        time.sleep(0.25)
    return rows, pending


def fmt_range(xs, digits=0):
    xs = [x for x in xs if x == x]
    if not xs:
        return "n/a"
    return f"{b.fmt_num(b.median(xs), digits)} ({b.fmt_num(min(xs), digits)}–{b.fmt_num(max(xs), digits)})"


def main():
    ap = b.load_args(__doc__, rounds=4, duration=15, duration_help="seconds of notify load per round and kind")
    ap.add_argument("--limit-duration", type=float, default=8,
                    help="seconds of bench_amqp limit per round and kind (0: skip)")
    ap.add_argument("--warm", type=float, default=5)
    args = ap.parse_args()

    run_id = f"{os.getpid()}"
    db = f"vos_bench_qt_{run_id}"
    agents = {kind: [f"qt{run_id}-{kind[0]}{i}" for i in range(4)] for kind in KINDS}
    queues = {kind: [f"{a}_queue" for a in agents[kind]] for kind in KINDS}
    limit_queues = {kind: f"qt{run_id}-limit-{kind}_queue" for kind in KINDS}
    all_queues = [q for kind in KINDS for q in queues[kind]] + list(limit_queues.values())
    bin_dir = Path(args.bin_dir)
    bench_amqp = str(bin_dir / "examples" / "bench_amqp")
    key = b.api_key()
    procs = b.Procs()
    load_before = os.getloadavg()
    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        port = b.free_port()
        env = b.service_env(db, key, VOS__SERVER__ADDR=f"127.0.0.1:{port}",
                            **b.LIMITS_ABOVE_THE_MACHINE, **b.QUIET)
        gateway = procs.start("gateway", [str(bin_dir / "vos-gateway"), "serve"], env=env)
        b.wait_http(f"http://127.0.0.1:{port}/health/ready", 60, "gateway")
        for kind in KINDS:
            for agent in agents[kind]:
                register(port, key, agent, kind)
        time.sleep(1.5)
        for kind in KINDS:
            b.run([bench_amqp, "limit", limit_queues[kind], "0.5", "512", kind], timeout=60)
        seen = broker_types(all_queues)
        for kind in KINDS:
            for queue in queues[kind] + [limit_queues[kind]]:
                if seen.get(queue) != kind:
                    raise RuntimeError(f"{queue}: the broker says {seen.get(queue)!r}, not {kind}")
        b.log(f"queues declared as registered: {seen}")

        url = f"http://127.0.0.1:{port}"
        script = b.BENCH / "notify.lua"
        wrk_env = {kind: {"BENCH_AGENTS": ",".join(agents[kind]), "BENCH_KEY": key} for kind in KINDS}

        def reset():
            b.psql(db, "set lock_timeout = '5s'; truncate notifications", check=False)
            b.run([bench_amqp, "purge", *all_queues], timeout=60, check=False)

        for kind in KINDS:
            b.wrk(url, args.warm, args.connections, script, wrk_env[kind])
        drained(db)
        reset()
        notify = {kind: [] for kind in KINDS}
        limit = {kind: [] for kind in KINDS}
        loads = []
        for rnd in range(args.rounds):
            order = KINDS if rnd % 2 == 0 else tuple(reversed(KINDS))
            for kind in order:
                groups = {"gateway": b.proc_tree(gateway.pid)}
                by0 = b.cpu_by_process(groups)
                r = b.wrk(url, args.duration, args.connections, script, wrk_env[kind])
                rows, pending = drained(db)
                by1 = b.cpu_by_process(groups)
                ok = max(1, r["total"] - r["errors"])
                r["cpu_us"] = {k: (by1[k] - by0[k]) / ok * 1e6 for k in by1}
                r["rows"], r["pending"] = rows, pending
                notify[kind].append(r)
                b.log(f"round {rnd + 1} {kind}: {r['rps']:,.0f} req/s, p99 {r['p99']:.1f} ms, "
                      f"errors {r['errors']}, rows {rows} (pending {pending}), "
                      f"CPU µs/notification gateway {r['cpu_us']['gateway']:.0f} "
                      f"rabbitmq {r['cpu_us']['rabbitmq']:.0f} postgres {r['cpu_us']['postgres']:.0f}")
                reset()
            if args.limit_duration > 0:
                for kind in order:
                    by0 = b.cpu_by_process({})
                    text = b.run([bench_amqp, "limit", limit_queues[kind], str(args.limit_duration), "512", kind],
                                 timeout=args.limit_duration + 60)
                    by1 = b.cpu_by_process({})
                    res = json.loads(text.strip().splitlines()[-1])
                    res["rabbitmq_us"] = (by1["rabbitmq"] - by0["rabbitmq"]) / max(1, res["confirmed"]) * 1e6
                    limit[kind].append(res)
                    b.log(f"round {rnd + 1} limit {kind}: {res['confirmed_per_s']:,.0f} msg/s, "
                          f"RabbitMQ {res['rabbitmq_us']:.0f} µs/msg")
                    b.run([bench_amqp, "purge", limit_queues[kind]], timeout=60, check=False)
            loads.append(os.getloadavg()[0])

        # -- report ------------------------------------------------------------------------
        ratio = b.ratio_summary([r["rps"] for r in notify["quorum"]], [r["rps"] for r in notify["classic"]])
        lines = [
            f"Run {started_at}: `python3 bench/queue_types.py --bin-dir {args.bin_dir} --rounds {args.rounds} "
            f"--duration {args.duration:g} --limit-duration {args.limit_duration:g}` ({args.rounds} rounds, order flipped every round; "
            f"`wrk -c{args.connections}` for {args.duration:g} s per kind and round against 4 agents of each kind; "
            f"tables truncated and queues purged between rounds; one release gateway, access control on, "
            f"telemetry off). Load average (1 min) {load_before[0]:.1f} at the start, "
            f"{b.fmt_num(min(loads), 1)}–{b.fmt_num(max(loads), 1)} after the rounds: other work shared "
            f"the 2 cores, which the interleaving spreads over both kinds.",
            "",
            f"**Notify throughput, quorum / classic: {b.fmt_ratio(ratio)}** (per-round ratios, n = {ratio['n']}).",
            "",
            "| queue type | notify req/s, median (min–max) | p99 ms, median | CPU µs per notification: "
            "gateway | RabbitMQ | Postgres | whole machine | every 202 stored and published |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for kind in KINDS:
            rs = notify[kind]
            cpu = {k: b.median([r["cpu_us"][k] for r in rs]) for k in ("gateway", "rabbitmq", "postgres",
                                                                        "machine (all cores)")}
            # Requests still in flight when wrk stops are stored but not counted by wrk.
            delivered = all(r["pending"] == 0
                            and r["total"] - r["errors"] <= r["rows"] <= r["total"] + args.connections for r in rs)
            errors = sum(r["errors"] for r in rs)
            lines.append(
                f"| {kind} | {fmt_range([r['rps'] for r in rs])} | {b.median([r['p99'] for r in rs]):.1f} | "
                f"{cpu['gateway']:.0f} | {cpu['rabbitmq']:.0f} | {cpu['postgres']:.0f} | "
                f"{cpu['machine (all cores)']:.0f} | {'yes' if delivered else 'NO'}"
                f"{f' ({errors} errors)' if errors else ''} |")
        if args.limit_duration > 0:
            lratio = b.ratio_summary([r["confirmed_per_s"] for r in limit["quorum"]],
                                     [r["confirmed_per_s"] for r in limit["classic"]])
            lines += [
                "",
                f"Raw broker (`bench_amqp limit QUEUE {args.limit_duration:g} 512 TYPE`: one client, persistent "
                f"confirmed publishes, 512 in flight), same rounds; quorum / classic {b.fmt_ratio(lratio)}:",
                "",
                "| queue type | confirmed msg/s, median (min–max) | RabbitMQ CPU µs per message, median |",
                "|---|---|---|",
            ]
            for kind in KINDS:
                rs = limit[kind]
                lines.append(f"| {kind} | {fmt_range([r['confirmed_per_s'] for r in rs])} | "
                             f"{b.median([r['rabbitmq_us'] for r in rs]):.0f} |")
        lines += ["", "Per round (req/s): " + "; ".join(
            f"{kind} {[round(r['rps']) for r in notify[kind]]}" for kind in KINDS)]
        print("\n".join(lines))
    finally:
        b.clean_up(procs, bin_dir, [db], all_queues)


if __name__ == "__main__":
    main()
