#!/usr/bin/env python3
"""Fills a gateway database with generated notification journeys for the analytics benchmark.

    python3 bench/analytics_fixtures.py --database vos_bench_analytics --rows 10000000 --days 7

The schema must exist (start the gateway, or run `vos-gateway migrate`, on the database first).
Rows are spread evenly over the last `--days` days, in acceptance order, as the gateway writes
them; `setseed` makes every run generate the same table. Per 100 notifications: 1 undelivered,
3 published and not answered, 96 answered (4 of those `failed`). 20 agents, 7 notification
types, 4 tool chains (none to three tools), 3 LLM usages, skewed processing times (50 ms to
about 5 s). Stdlib only; runs `psql`, in chunks of a million rows, then `VACUUM ANALYZE`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

CHUNK = 1_000_000

TOOL_CHAINS = [
    "[]",
    '[{"name":"search","duration_ms":40,"status":"ok"}]',
    '[{"name":"search","duration_ms":35,"status":"ok"},'
    '{"name":"summarise","duration_ms":120,"status":"ok"}]',
    '[{"name":"geocode","duration_ms":20,"status":"ok"},'
    '{"name":"forecast","duration_ms":80,"status":"error"},'
    '{"name":"summarise","duration_ms":90,"status":"ok"}]',
]
LLM_USAGES = [
    "[]",
    '[{"model":"gpt-4o-mini","input_tokens":420,"output_tokens":96}]',
    '[{"model":"claude-haiku","input_tokens":800,"output_tokens":210}]',
]


def sql_array(values: list[str]) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"array[{quoted}]"


def chunk_sql(offset: int, n: int, rows: int, days: float) -> str:
    """`n` journeys starting at row `offset` of `rows`, accepted over the last `days` days."""
    return f"""
    insert into notifications (notification_id, agent_id, notification_type, source, payload,
        correlation_id, trace_id, span_id, trace_sampled, status, accepted_at, next_attempt_at,
        published_at, failed_at, outcome, result, error, tools, llm, started_at, completed_at,
        result_recorded_at)
    select gen_random_uuid(), 'bench_agent_' || ((i * 7919) % 20), 'type_' || ((i * 31) % 7),
        'bench', '{{"text":"hello"}}', 'c' || i, md5(i::text), left(md5((i + 1)::text), 16), true,
        case when kind = 0 then 'failed' else 'published' end,
        at, at, case when kind > 0 then at end, case when kind = 0 then at end,
        case when kind >= 4 then case when kind < 8 then 'failed' else 'completed' end end,
        case when kind >= 8 then '{{"ok":true}}'::json end,
        case when kind between 4 and 7 then 'tool failed' end,
        case when kind >= 4 then ({sql_array(TOOL_CHAINS)})[1 + i % 4]::json end,
        case when kind >= 4 then ({sql_array(LLM_USAGES)})[1 + i % 3]::json end,
        case when kind >= 4 then at + queued end,
        case when kind >= 4 then at + queued + work end,
        case when kind >= 4 then at + queued + work + interval '15 ms' end
    from (select i, (i * 37) % 100 as kind,
              now() - interval '{days} days' + (i::float8 / {rows}) * interval '{days} days' as at,
              (5 + random() * 200) * interval '1 ms' as queued,
              (50 + power(random(), 4) * 5000) * interval '1 ms' as work
          from generate_series({offset}::bigint, {offset + n - 1}) i) j
    """


def psql(database: str, sql: str, timeout: float = 3600) -> str:
    done = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
         f"postgres://postgres@127.0.0.1:5432/{database}", "-c", sql],
        capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"psql failed: {done.stderr.strip()}")
    return done.stdout.strip()


def fill(database: str, rows: int, days: float, log=print) -> float:
    """Inserts the journeys and analyses the table; returns the seconds it took."""
    started = time.time()
    for offset in range(0, rows, CHUNK):
        n = min(CHUNK, rows - offset)
        psql(database, f"select setseed({(offset // CHUNK % 1000) / 1000}); {chunk_sql(offset, n, rows, days)}")
        log(f"  {offset + n:,} / {rows:,} rows ({time.time() - started:.0f} s)")
    psql(database, "vacuum analyze notifications")
    return time.time() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database", required=True, help="database name on 127.0.0.1:5432")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--days", type=float, default=7)
    args = ap.parse_args()
    seconds = fill(args.database, args.rows, args.days, log=lambda m: print(m, file=sys.stderr))
    print(f"{args.rows:,} rows over {args.days:g} days in {seconds:.0f} s")


if __name__ == "__main__":
    main()
