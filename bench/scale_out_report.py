"""The scale-out scenario's Markdown report (bench/scale_out.py)."""

from __future__ import annotations

import bench as b

SHARED = ("rabbitmq", "postgres", "load generator", "other processes")


def med(rs, f):
    return b.median([f(r) for r in rs])


def rng(xs, digits=0):
    xs = [x for x in xs if x == x]
    if not xs:
        return "n/a"
    return f"{b.fmt_num(b.median(xs), digits)} ({b.fmt_num(min(xs), digits)}–{b.fmt_num(max(xs), digits)})"


def report(by_build: dict, meta: dict) -> str:
    a, counts = meta["args"], meta["counts"]
    L = [
        f"Run {meta['started_at']}: `{a['command'] or 'python3 bench/scale_out.py'}` — {a['rounds']} rounds; in "
        f"each, {', '.join(map(str, counts))} {'debug' if 'debug' in a['bin_dir'] else 'release'} gateway replica(s) "
        f"on one Postgres and one RabbitMQ "
        f"(access control on, telemetry off, 4 agents, quorum queues), the order rotating every round; "
        f"`wrk` closed loop, {a['connections']} connections in all, split evenly over the loaded replicas "
        f"(one wrk per replica, -t2), {a['duration']:g} s per replica count and round; tables truncated and "
        f"queues purged between rounds. Load average (1 min) {meta['load_before']:.1f} at the start, "
        f"{b.fmt_num(min(meta['loads']), 1)}–{b.fmt_num(max(meta['loads']), 1)} after the rounds; "
        f"{meta['ncores']} cores shared by everything."
        + (f" Builds alternated within every round: {', '.join(f'**{x}**' for x in by_build)}." if len(by_build) > 1
           else ""),
        "",
    ]
    for label, rows_by in by_build.items():
        if len(by_build) > 1:
            L += [f"### {label}", ""]
        L += section(rows_by, meta)
    if len(by_build) == 2:
        L += compare(by_build, meta)
    return "\n".join(L)


def section(rows_by: dict, meta: dict) -> list[str]:
    a = meta["args"]
    counts, ncores = meta["counts"], meta["ncores"]
    base = counts[0]
    L = [
        f"| replicas | connections per replica | accepted/s in all, median (min–max) | vs {base} replica(s), "
        f"per round | accepted/s per replica, median | p99 ms (slowest replica) | errors | every 202 stored and "
        f"published |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k in counts:
        rs = rows_by[k]
        ratio = b.ratio_summary([r["rps"] for r in rs], [r["rps"] for r in rows_by[base]])
        per = [b.fmt_num(b.median([r["per_replica"][i] for r in rs])) for i in range(k)]
        delivered = all(r["pending"] == 0 and r["accepted"] <= r["rows"] <= r["accepted"] + a["connections"]
                        for r in rs)
        conns = "/".join(str(c) for c in sorted({a["connections"] // k, -(-a["connections"] // k)}))
        L.append(f"| {k} | {conns} | {rng([r['rps'] for r in rs])} | "
                 f"{'–' if k == base else b.fmt_ratio(ratio)} | {', '.join(per)} | "
                 f"{b.fmt_num(med(rs, lambda r: r['p99']), 1)} | {sum(r['errors'] for r in rs)} | "
                 f"{'yes' if delivered else '**NO**'} |")
    L += [
        "",
        "CPU per accepted notification, µs (from the round's start until nothing is pending; medians over "
        "rounds; idle replicas' own ticks are in their column, \"other processes\" is everyone else on the "
        "machine, the neighbours' builds included):",
        "",
        "| replicas | each gateway | gateways together | RabbitMQ | Postgres | load generator | other processes "
        "| machine |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k in counts:
        rs = rows_by[k]
        each = [med(rs, lambda r, i=i: r["cpu_us"][f"gateway {i + 1}"]) for i in range(k)]
        cells = [b.fmt_num(med(rs, lambda r, s=s: r["cpu_us"][s])) for s in SHARED]
        L.append(f"| {k} | {', '.join(b.fmt_num(x) for x in each)} | {b.fmt_num(sum(each))} | "
                 f"{' | '.join(cells)} | {b.fmt_num(med(rs, lambda r: r['cpu_us']['machine (all cores)']))} |")
    L += [
        "",
        f"Share of the machine's {ncores} cores during the load (CPU seconds ÷ wall seconds ÷ {ncores}; "
        f"medians over rounds). The shared service with the largest share is where a larger machine or "
        f"deployment must add capacity first:",
        "",
        "| replicas | gateways | RabbitMQ | Postgres | load generator | other processes | whole machine |",
        "|---|---|---|---|---|---|---|",
    ]
    for k in counts:
        rs = rows_by[k]
        gw = med(rs, lambda r: sum(r["share"][f"gateway {i + 1}"] for i in range(k)))
        cells = [f"{med(rs, lambda r, s=s: r['share'][s]) * 100:.0f}%" for s in SHARED]
        L.append(f"| {k} | {gw * 100:.0f}% | {' | '.join(cells)} | "
                 f"{med(rs, lambda r: r['share']['machine (all cores)']) * 100:.0f}% |")
    L += [
        "",
        "Round trips (medians over rounds; bench/roundtrips.py says how each is counted): Postgres commits per "
        "notification are all of the database's (`pg_stat_database.xact_commit`: the outbox's statements and "
        "the replicas' relay ticks and gauges); the outbox's own are `vos_outbox_batch_rows{statement}`; "
        "confirm frames are the broker's bytes to the gateways ÷ 21 (one `basic.ack`):",
        "",
        "| replicas | Postgres commits per notification | inserts per notification (rows per insert) | marks per "
        "confirm (rows per mark) | confirm frames per message (messages per frame) | messages per broker "
        "socket read |",
        "|---|---|---|---|---|---|",
    ]
    for k in counts:
        rs = rows_by[k]

        def x(key, digits=3, rs=rs):
            return b.fmt_num(med(rs, lambda r: r["roundtrips"].get(key, float("nan"))), digits)
        L.append(f"| {k} | {x('commits_per_notification')} | {x('inserts_per_notification')} "
                 f"({x('rows_per_insert', 1)}) | {x('marks_per_confirm', 4)} ({x('rows_per_mark', 1)}) | "
                 f"{x('confirm_frames_per_message')} ({x('messages_per_confirm_frame', 1)}) | "
                 f"{x('messages_per_broker_read', 1)} |")
    L += ["", "Per round (accepted/s in all): " + "; ".join(
        f"{k} replica(s) {[round(r['rps']) for r in rows_by[k]]}" for k in counts), ""]
    return L


def compare(by_build: dict, meta: dict) -> list[str]:
    """This build against the baseline, replica count by replica count (per-round ratios)."""
    (this, rows_a), (base, rows_b) = by_build.items()
    L = [f"{this} against {base}, same rounds (ratios of per-round figures, median (min–max)):", "",
         f"| replicas | accepted/s, {this} / {base} | Postgres CPU µs per notification | inserts per notification "
         f"| rows per insert | p99 ms |",
         "|---|---|---|---|---|---|"]
    for k in meta["counts"]:
        a_, b_ = rows_a[k], rows_b[k]
        ratio = b.ratio_summary([r["rps"] for r in a_], [r["rps"] for r in b_])

        def pair(f, digits=0):
            return f"{b.fmt_num(med(b_, f), digits)} → {b.fmt_num(med(a_, f), digits)}"
        L.append(f"| {k} | {b.fmt_ratio(ratio, pct=True)} | {pair(lambda r: r['cpu_us']['postgres'])} | "
                 f"{pair(lambda r: r['roundtrips']['inserts_per_notification'], 3)} | "
                 f"{pair(lambda r: r['roundtrips']['rows_per_insert'], 1)} | {pair(lambda r: r['p99'], 1)} |")
    return L + [""]
