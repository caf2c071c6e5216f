"""Round trips per notification, counted from outside the gateway (stdlib only).

Three sources, each read before and after a round:

- Postgres: `pg_stat_database.xact_commit` of the run's database: every commit, the outbox's
  and the background ones (relay ticks, backlog gauge) alike. A backend that goes idle may
  hold its counts for up to 10 s before it reports them (PostgreSQL 15's stats flush), so the
  reading after a round waits for that.
- The gateway's `/metrics`: `vos_outbox_batch_rows{statement}` (`_count` is statements, each
  one round trip and one commit; `_sum` is rows), accepted and published counters.
- RabbitMQ: the broker's socket counters of the gateway's AMQP connections
  (`rabbitmqctl list_connections`, matched by the gateway's local ports). Broker → gateway,
  during notify load, is almost only `basic.ack` frames of 21 bytes (7 header, 13 method
  with the 64-bit delivery tag and the `multiple` bit, 1 end), so bytes / 21 counts confirm
  frames; one frame with `multiple` confirms every message up to its tag. Broker reads and
  writes (`recv_cnt`, `send_cnt`) say how many messages share one socket read or write.
  rabbitmqctl starts an Erlang VM (~1 s of CPU): call it outside the CPU window.
"""

from __future__ import annotations

import os
import re
import subprocess
import urllib.request

ACK_FRAME_BYTES = 21
AMQP_PORT_HEX = f"{5672:04X}"


def pg_commits(db: str) -> int:
    """Commits so far in `db`, read from another database (the read is not counted)."""
    sql = f"select xact_commit from pg_stat_database where datname = '{db}'"
    done = subprocess.run(["psql", "-X", "-A", "-t", "postgres://postgres@127.0.0.1:5432/postgres",
                           "-c", sql], capture_output=True, text=True, timeout=60, check=True)
    return int(done.stdout.strip() or 0)


def gateway_counters(port: int) -> dict[str, float]:
    """Sums of the outbox's counters on one gateway's /metrics (0 when the build lacks one)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {"accepted": 0.0, "published": 0.0, "insert_statements": 0.0, "insert_rows": 0.0,
           "mark_statements": 0.0, "mark_rows": 0.0}
    patterns = {
        "accepted": r"^vos_notifications_accepted_total\{[^}]*\} (\S+)$",
        "published": r"^vos_notifications_published_total\{[^}]*\} (\S+)$",
        "insert_statements": r'^vos_outbox_batch_rows_count\{statement="insert"\} (\S+)$',
        "insert_rows": r'^vos_outbox_batch_rows_sum\{statement="insert"\} (\S+)$',
        "mark_statements": r'^vos_outbox_batch_rows_count\{statement="mark"\} (\S+)$',
        "mark_rows": r'^vos_outbox_batch_rows_sum\{statement="mark"\} (\S+)$',
    }
    for key, pattern in patterns.items():
        out[key] = sum(float(v) for v in re.findall(pattern, text, re.M))
    return out


def amqp_local_ports(pid: int) -> set[int]:
    """Local ports of `pid`'s TCP connections to port 5672, from its fds and /proc/net/tcp."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[9] in inodes and f[2].endswith(":" + AMQP_PORT_HEX):
                ports.add(int(f[1].rsplit(":", 1)[1], 16))
    return ports


def broker_counters(pids: list[int]) -> dict[str, int]:
    """The broker's socket counters, summed over the AMQP connections of `pids`."""
    ports = set()
    for pid in pids:
        ports |= amqp_local_ports(pid)
    out = {"send_oct": 0, "send_cnt": 0, "recv_oct": 0, "recv_cnt": 0, "connections": 0}
    # stdin closed: rabbitmqctl reads it, and would eat a caller's piped input.
    text = subprocess.run(["rabbitmqctl", "-q", "--no-table-headers", "list_connections",
                           "peer_port", "send_oct", "send_cnt", "recv_oct", "recv_cnt"],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL).stdout
    for line in text.splitlines():
        f = line.split()
        if len(f) == 5 and f[0].isdigit() and int(f[0]) in ports:
            out["connections"] += 1
            for key, value in zip(("send_oct", "send_cnt", "recv_oct", "recv_cnt"), f[1:]):
                out[key] += int(value)
    return out


def per_notification(before: dict, after: dict, accepted: int) -> dict[str, float]:
    """Ratios from two snapshots {"commits": int|None, "gateways": [counters…], "broker":
    counters|None} (missing parts give NaN)."""
    nan = float("nan")

    def gw(key):
        return sum(a[key] - b_[key] for a, b_ in zip(after["gateways"], before["gateways"]))

    published = gw("published")
    ins, ins_rows, marks, mark_rows = (gw(k) for k in ("insert_statements", "insert_rows", "mark_statements",
                                                        "mark_rows"))
    commits = None if before.get("commits") is None else after["commits"] - before["commits"]
    out = {
        "commits_per_notification": commits / accepted if accepted and commits is not None else nan,
        "inserts_per_notification": ins / accepted if accepted and ins else nan,
        "rows_per_insert": ins_rows / ins if ins else nan,
        "marks_per_confirm": marks / published if published and marks else nan,
        "rows_per_mark": mark_rows / marks if marks else nan,
        "outbox_statements_per_notification": (ins + marks) / accepted if accepted and ins else nan,
        "published": published,
    }
    if before.get("broker") and after.get("broker") and published:
        d = {k: after["broker"][k] - before["broker"][k] for k in after["broker"]}
        frames = d["send_oct"] / ACK_FRAME_BYTES
        out.update({
            "confirm_frames_per_message": frames / published,
            "messages_per_confirm_frame": published / frames if frames else nan,
            "messages_per_broker_read": published / d["recv_cnt"] if d["recv_cnt"] else nan,
            "messages_per_broker_write": published / d["send_cnt"] if d["send_cnt"] else nan,
        })
    return out
