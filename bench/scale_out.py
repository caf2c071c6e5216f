#!/usr/bin/env python3
"""Scale-out: 1, 2 and 3 gateway replicas on the same Postgres and RabbitMQ, side by side.

Starts the largest number of release gateways asked for (access control on, telemetry off:
bench.py's notify scenario; one database, one broker, one shared results queue, as replicas
would run), registers 4 agents (the default queue type, quorum), and in every round drives
notify load against 1, 2 and 3 of them in turn (the order rotates each round). The load is
`--connections` in all (32, as the notify scenario), split evenly over the loaded replicas,
one `wrk` per replica, all started together; replicas without load stay up, idle. Tables are
truncated and queues purged before every round.

Per replica count: total and per-replica accepted/s, CPU per notification by process (each
gateway, RabbitMQ `beam.smp`, Postgres) from the round's start until nothing is pending, each
process's share of the machine's cores during the load (which shared service saturates), and
the round trips per notification (bench/roundtrips.py). With --baseline BINARY, an earlier
build's replicas (on a database of their own) run the same replica counts, alternated with
this build's in every round, and the report compares the two. Prints a Markdown block and
writes it to --out. Stdlib only; reuses bench.py's helpers, like queue_types.py.

    python3 bench/scale_out.py --bin-dir target/release --rounds 3 --duration 15 [--baseline OLD/vos-gateway]
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b  # noqa: E402  (the shared helpers: processes, wrk, psql, keys, CPU)
import roundtrips as rt  # noqa: E402
from scale_out_report import report  # noqa: E402


def notify_once(port: int, key: str, agent: str) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/agents/{agent}/notify", data=b.BODY.encode(),
                                 method="POST", headers={"Authorization": f"Bearer {key}",
                                                         "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def drained(db: str, within: float = 30) -> tuple[int, int, int]:
    """Waits until nothing is pending; returns (rows, pending, queries made in `db`)."""
    rows, pending, polls = 0, -1, 0
    deadline = time.time() + within
    while time.time() < deadline:
        out = b.psql(db, "select count(*), count(*) filter (where status = 'pending') from notifications")
        polls += 1
        rows, pending = (int(x) for x in out.split("|"))
        if pending == 0:
            break
        time.sleep(0.25)
    return rows, pending, polls


def split(total: int, k: int) -> list[int]:
    return [total // k + (1 if i < total % k else 0) for i in range(k)]


def drive(ports: list[int], seconds: float, conns: int, env: dict) -> list[dict]:
    """One wrk per replica, all at once; the connections split evenly."""
    out: list[dict | Exception] = [None] * len(ports)

    def one(i, port, c):
        try:
            out[i] = b.wrk(f"http://127.0.0.1:{port}", seconds, c, b.BENCH / "notify.lua", env)
        except Exception as e:  # noqa: BLE001
            out[i] = e
    threads = [threading.Thread(target=one, args=(i, p, c)) for i, (p, c) in enumerate(zip(ports, split(conns, len(ports))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in out:
        if isinstance(r, Exception):
            raise r
    return out


def start_fleet(procs, label: str, binary: str, db: str, n: int, key: str, results_queue: str) -> dict:
    """n replicas of one build on one database, started one at a time (the first creates the
    database and migrates it)."""
    ports, pids = [], []
    for i in range(n):
        port = b.free_port()
        env = b.service_env(db, key, VOS__SERVER__ADDR=f"127.0.0.1:{port}",
                            VOS__AMQP__RESULTS_QUEUE=results_queue,
                            **b.LIMITS_ABOVE_THE_MACHINE, **b.QUIET)
        p = procs.start(f"{label}-{i + 1}", [binary, "serve"], env=env)
        b.wait_http(f"http://127.0.0.1:{port}/health/ready", 60, f"{label} gateway {i + 1}")
        ports.append(port)
        pids.append(p.pid)
    return {"label": label, "db": db, "ports": ports, "pids": pids}


def register(fleet: dict, key: str, agents: list[str]):
    b.register_agents(f"http://127.0.0.1:{fleet['ports'][0]}", key, agents)
    # Every replica sees the registrations within its refresh interval: wait for a 202.
    deadline = time.time() + 30
    for port in fleet["ports"]:
        for agent in agents:
            while (status := notify_once(port, key, agent)) != 202:
                if time.time() > deadline:
                    raise RuntimeError(f"replica on {port}: notify to {agent} answered {status}")
                time.sleep(0.5)


def measure(fleet: dict, k: int, args, env: dict) -> dict:
    """One run of k replicas of one fleet: load, drain, counters."""
    db, ports, pids = fleet["db"], fleet["ports"][:k], fleet["pids"][:k]
    groups = {f"gateway {i + 1}": [pid] for i, pid in enumerate(fleet["pids"])}

    def snapshot():
        return {"commits": rt.pg_commits(db), "gateways": [rt.gateway_counters(p) for p in ports],
                "broker": None if args.no_broker_counters else rt.broker_counters(pids)}
    s0 = snapshot()
    # Per pid, this database's Postgres backends apart from the neighbours' (their tests'
    # backends come and go; summing totals would subtract an ended one's).
    c0, t0 = b.cpu_snapshot(groups, db), time.time()
    rs = drive(ports, args.duration, args.connections, env)
    cw, tw = b.cpu_snapshot(groups, db), time.time()
    rows, pending, polls = drained(db)
    by1, byw = b.cpu_between(c0, b.cpu_snapshot(groups, db)), b.cpu_between(c0, cw)
    time.sleep(args.stats_wait)
    s1 = snapshot()
    s1["commits"] -= polls  # drained()'s own queries ran in the run's database
    ok = sum(r["total"] - r["errors"] for r in rs)
    r = {
        "replicas": k, "rps": sum(x["rps"] for x in rs), "per_replica": [x["rps"] for x in rs],
        "p99": max(x["p99"] for x in rs), "errors": sum(x["errors"] for x in rs),
        "accepted": ok, "rows": rows, "pending": pending,
        "cpu_us": {name: by1[name] / max(1, ok) * 1e6 for name in by1},
        "share": {name: byw[name] / max(1e-3, tw - t0) / (os.cpu_count() or 1) for name in byw},
        "roundtrips": rt.per_notification(s0, s1, ok),
    }
    x = r["roundtrips"]
    b.log(f"{fleet['label']}, {k} replica(s): {r['rps']:,.0f} req/s "
          f"({', '.join(f'{v:,.0f}' for v in r['per_replica'])}), errors {r['errors']}, "
          f"rows {rows} (pending {pending}); shares rabbitmq {r['share']['rabbitmq']:.0%} "
          f"postgres {r['share']['postgres']:.0%} machine {r['share']['machine (all cores)']:.0%}; "
          f"commits/notification {x['commits_per_notification']:.3f}, rows/insert "
          f"{x['rows_per_insert']:.1f}, rows/mark {x['rows_per_mark']:.1f}, "
          f"messages/confirm frame {x.get('messages_per_confirm_frame', float('nan')):.1f}")
    return r


def main():
    ap = b.load_args(__doc__, rounds=3, duration=15, duration_help="seconds of load per replica count and round",
                     connections_help="in all, split over the loaded replicas")
    ap.add_argument("--replicas", default="1,2,3", help="replica counts to compare, e.g. 1,2,3")
    ap.add_argument("--warm", type=float, default=5)
    ap.add_argument("--stats-wait", type=float, default=11,
                    help="seconds after a round before reading Postgres' commit count (idle backends report late)")
    ap.add_argument("--no-broker-counters", action="store_true", help="skip rabbitmqctl (confirm frames)")
    ap.add_argument("--baseline", help="an earlier vos-gateway binary: its replicas (own database) run the same "
                                       "replica counts, alternated with this build's in every round")
    ap.add_argument("--baseline-label", default="baseline")
    ap.add_argument("--out", default=str(Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "bench" / "scale_out.md"))
    ap.add_argument("--command", default="")
    args = ap.parse_args()
    counts = sorted({int(x) for x in args.replicas.split(",")})

    run_id = f"{os.getpid()}"
    agents = [f"so{run_id}-a{i}" for i in range(4)]
    results_queue = f"vos_bench_so_{run_id}.results"
    queues = [f"{a}_queue" for a in agents]
    bin_dir = Path(args.bin_dir)
    bench_amqp = str(bin_dir / "examples" / "bench_amqp")
    key = b.api_key()
    procs = b.Procs()
    load_before = os.getloadavg()
    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    builds = [("this build", str(bin_dir / "vos-gateway"), f"vos_bench_so_{run_id}")]
    if args.baseline:
        builds.append((args.baseline_label, args.baseline, f"vos_bench_so_{run_id}_base"))
    try:
        fleets = [start_fleet(procs, label, binary, db, max(counts), key, results_queue)
                  for label, binary, db in builds]
        for fleet in fleets:
            register(fleet, key, agents)
        env = {"BENCH_AGENTS": ",".join(agents), "BENCH_KEY": key}

        def reset():
            for fleet in fleets:
                b.psql(fleet["db"], "set lock_timeout = '5s'; truncate notifications", check=False)
            b.run([bench_amqp, "purge", *queues], timeout=60, check=False)

        for fleet in fleets:
            for k in counts:
                drive(fleet["ports"][:k], args.warm, args.connections, env)
            drained(fleet["db"])
        reset()
        rows_by = {f["label"]: {k: [] for k in counts} for f in fleets}
        loads = []
        for rnd in range(args.rounds):
            order = counts[rnd % len(counts):] + counts[:rnd % len(counts)]
            for k in order:
                for fleet in (fleets if rnd % 2 == 0 else fleets[::-1]):
                    rows_by[fleet["label"]][k].append(measure(fleet, k, args, env))
                    reset()
            loads.append(os.getloadavg()[0])
        meta = {"started_at": started_at, "load_before": load_before[0], "loads": loads, "args": vars(args),
                "counts": counts, "ncores": os.cpu_count()}
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rounds": rows_by}, indent=1, default=str))
        text = report(rows_by, meta)
        print(text)
        out.write_text(text + "\n")
        b.log(f"wrote {out}")
    finally:
        b.clean_up(procs, bin_dir, [db for _, _, db in builds],
                   [*queues, *(f"{q}.dlq" for q in queues), results_queue, f"{results_queue}.dlq"])


if __name__ == "__main__":
    main()
