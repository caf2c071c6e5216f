//! The statements that write the rollups (`migrations/*_analytics_rollups.sql`). Each reads
//! one range of `notifications` through the index of its time column and groups it the way
//! the analyses do, so that a rolled bucket answers exactly what its rows would (p95 through
//! the same sketch). Whole buckets are rolled as such, the bucket still open by the minute;
//! [`merges`] turns the minutes of a bucket into one row per group once it has closed.

use super::super::{BUCKET_DELTA, BUCKET_ORIGIN, MINUTE, message_flows, sketch};

/// What a rollup row covers: a minute of the bucket still open, or a whole 5-minute bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Minute,
    Bucket,
}

impl Grain {
    /// How long one is.
    pub fn width(self) -> chrono::TimeDelta {
        match self {
            Grain::Minute => MINUTE,
            Grain::Bucket => BUCKET_DELTA,
        }
    }

    /// The start of the grain `column` is in.
    fn of(self, column: &str) -> String {
        match self {
            Grain::Minute => minute(column),
            Grain::Bucket => bucket(column),
        }
    }
}

/// The minute of `column`.
fn minute(column: &str) -> String {
    format!("date_bin(interval '1 minute', {column}, {BUCKET_ORIGIN})")
}

/// The 5-minute bucket of `column`.
fn bucket(column: &str) -> String {
    format!("date_bin(interval '5 minutes', {column}, {BUCKET_ORIGIN})")
}

/// The answered rows of `[$1, $2)` as `answered`, with their grain's start and both
/// durations.
fn answered(grain: Grain) -> String {
    format!(
        "answered as ( \
             select {} as bucket_start, agent_id collate \"C\" as agent_id, \
                 notification_type collate \"C\" as notification_type, outcome, \
                 extract(epoch from completed_at - started_at)::float8 * 1000 as work_ms, \
                 extract(epoch from result_recorded_at - accepted_at)::float8 * 1000 as e2e_ms \
             from notifications where result_recorded_at >= $1 and result_recorded_at < $2)",
        grain.of("result_recorded_at")
    )
}

/// Results recorded in `[$1, $2)`, per grain, agent and type, with the work time's sketch.
///
/// One grouping, no join: each result gives a row to its group's count and, if it reports
/// both times, one to its work time's bin, each bin row carrying the sums the group needs;
/// then they are folded into one row per bucket, agent and type. (Joining per-group
/// statistics to per-group sketches on three columns made Postgres expect one row and rescan
/// the sketches for every group: 24 s for an hour instead of 0.3.)
pub fn results(grain: Grain) -> String {
    let by = "bucket_start, agent_id, notification_type";
    format!(
        "with {answered}, \
         parts as ( \
             select {by}, 'work' as part, {bin} as bin, count(*)::int as n, \
                 0::bigint as failed, sum(work_ms) as total, max(work_ms) as top \
             from answered where work_ms is not null group by 1, 2, 3, 4, 5 \
             union all \
             select {by}, 'all', null, count(*)::int, \
                 count(*) filter (where outcome = 'failed'), 0, 0 \
             from answered group by 1, 2, 3) \
         insert into rollup_results (bucket_start, agent_id, notification_type, results, \
             failed, worked, work_ms, work_max_ms, work_bins, work_counts) \
         select {by}, \
             sum(n) filter (where part = 'all'), \
             sum(failed) filter (where part = 'all'), \
             coalesce(sum(n) filter (where part = 'work'), 0), \
             coalesce(sum(total) filter (where part = 'work'), 0), \
             max(top) filter (where part = 'work'), \
             coalesce(array_agg(bin order by bin) filter (where part = 'work'), '{{}}'), \
             coalesce(array_agg(n order by bin) filter (where part = 'work'), '{{}}') \
         from parts group by 1, 2, 3",
        answered = answered(grain),
        bin = sketch::bin("work_ms"),
    )
}

/// Results recorded in `[$1, $2)` (whole 5-minute buckets), per bucket and agent: counts and
/// the p95 of acceptance → result recorded, computed as the anomalies analysis computes it
/// from rows. A p95 cannot be added up from minutes, so these are rolled by the bucket.
pub fn agents() -> String {
    let by = "bucket_start, agent_id";
    format!(
        "with {answered}, \
         counts as materialized ( \
             select {by}, count(*) as results, \
                 count(*) filter (where outcome = 'failed') as failed \
             from answered group by 1, 2), \
         bins as materialized ( \
             select {by}, {bin} as bin, count(*) as n from answered group by 1, 2, 3), \
         percentiles as materialized ({p95}) \
         insert into rollup_agents (bucket_start, agent_id, results, failed, e2e_p95_ms) \
         select c.bucket_start, c.agent_id, c.results, c.failed, p.p95_ms \
         from counts c join percentiles p using ({by})",
        answered = answered(Grain::Bucket),
        bin = sketch::bin("e2e_ms"),
        p95 = sketch::p95("bins", by),
    )
}

/// The elements of a result's `tools` or `llm` array as `t(item)`; a value that is not an
/// array counts as none.
pub fn elements(column: &str) -> String {
    format!(
        "json_array_elements(case when json_typeof(n.{column}) = 'array' \
         then n.{column} else '[]'::json end) as t(item)"
    )
}

/// The sum of the numeric `field` of the `llm` items, as `{field}`.
pub fn tokens(field: &str) -> String {
    format!(
        "coalesce(sum(case when json_typeof(t.item -> '{field}') = 'number' \
         then (t.item ->> '{field}')::numeric end), 0)::bigint as {field}"
    )
}

/// Tool calls of the results recorded in `[$1, $2)`, per grain.
pub fn tools(grain: Grain) -> String {
    format!(
        "insert into rollup_tools (bucket_start, agent_id, tool, calls, errors) \
         select {}, n.agent_id collate \"C\", t.item ->> 'name' collate \"C\", count(*), \
             count(*) filter (where t.item ->> 'status' = 'error') \
         from notifications n cross join lateral {} \
         where n.result_recorded_at >= $1 and n.result_recorded_at < $2 \
             and t.item ->> 'name' is not null \
         group by 1, 2, 3",
        grain.of("n.result_recorded_at"),
        elements("tools")
    )
}

/// Language-model usage of the results recorded in `[$1, $2)`, per grain.
pub fn models(grain: Grain) -> String {
    format!(
        "insert into rollup_models (bucket_start, agent_id, model, calls, input_tokens, \
             output_tokens) \
         select {}, n.agent_id collate \"C\", coalesce(t.item ->> 'model', '?') collate \"C\", \
             count(*), {}, {} \
         from notifications n cross join lateral {} \
         where n.result_recorded_at >= $1 and n.result_recorded_at < $2 \
         group by 1, 2, 3",
        grain.of("n.result_recorded_at"),
        tokens("input_tokens"),
        tokens("output_tokens"),
        elements("llm")
    )
}

/// The starts of the accepted-side buckets to roll again, of those rolled in `[$1, $2)`,
/// before rolling on to `$3`: those with a result recorded in `[$2, $3)`, and those whose
/// count of pending rows is no longer the one rolled (published, failed, or a row that arrived
/// late). A bucket is 5 minutes before `$4` and a minute from there on, as they were rolled.
pub fn changed_buckets() -> String {
    let bin = format!(
        "case when accepted_at < $4 then {} else {} end",
        bucket("accepted_at"),
        minute("accepted_at")
    );
    format!(
        "select {bin} as bucket_start from notifications \
         where result_recorded_at >= $2 and result_recorded_at < $3 \
             and accepted_at >= $1 and accepted_at < $2 \
         union \
         select bucket_start \
         from (select bucket_start, sum(journeys) as pending from rollup_journeys \
               where status = 'pending' group by 1) rolled \
         full join (select {bin} as bucket_start, count(*) as pending from notifications \
                    where status = 'pending' and accepted_at >= $1 and accepted_at < $2 \
                    group by 1) live using (bucket_start) \
         where rolled.pending is distinct from live.pending"
    )
}

/// Notifications accepted in `[$1, $2)`, per grain, as they are now. One range with its
/// bounds as values: Postgres estimates it from the `accepted_at` histogram and reads it
/// through the index (bounds from an array were estimated at a ninth of the table each, and
/// scanned it whole once it held a few hundred thousand rows: a second per step under load).
pub fn journeys(grain: Grain) -> String {
    format!(
        "insert into rollup_journeys (bucket_start, agent_id, notification_type, status, \
             outcome, tool_names, journeys, answers, total_ms) \
         select {}, n.agent_id collate \"C\", n.notification_type collate \"C\", \
             n.status, n.outcome, {}, count(*), count(n.result_recorded_at), \
             coalesce(sum(extract(epoch from n.result_recorded_at - n.accepted_at)::float8 \
                 * 1000), 0) \
         from notifications n where n.accepted_at >= $1 and n.accepted_at < $2 \
         group by 1, 2, 3, 4, 5, 6",
        grain.of("n.accepted_at"),
        message_flows::tool_names("n.")
    )
}

/// Merges the minutes of `[$1, $2)` (whole 5-minute buckets) into their buckets, in every
/// rollup rolled by the minute. Each statement deletes the minutes and inserts their sums in
/// one go: the groupings read every deleted row before the first insert, and Postgres' unique
/// check passes over rows this transaction deleted.
pub fn merges() -> [String; 4] {
    let minutes = |table: &str| {
        format!(
            "minutes as (delete from {table} \
                where bucket_start >= $1 and bucket_start < $2 returning *)"
        )
    };
    let bucket_start = bucket("bucket_start");
    [
        format!(
            "with {minutes}, \
             bins as ( \
                 select {bucket_start} as bucket_start, agent_id, notification_type, bin, \
                     sum(n)::int as n \
                 from minutes cross join lateral unnest(work_bins, work_counts) as u(bin, n) \
                 group by 1, 2, 3, 4), \
             sketches as ( \
                 select bucket_start, agent_id, notification_type, \
                     array_agg(bin order by bin) as bins, array_agg(n order by bin) as counts \
                 from bins group by 1, 2, 3), \
             sums as ( \
                 select {bucket_start} as bucket_start, agent_id, notification_type, \
                     sum(results)::bigint as results, sum(failed)::bigint as failed, \
                     sum(worked)::bigint as worked, sum(work_ms) as work_ms, \
                     max(work_max_ms) as work_max_ms \
                 from minutes group by 1, 2, 3) \
             insert into rollup_results (bucket_start, agent_id, notification_type, results, \
                 failed, worked, work_ms, work_max_ms, work_bins, work_counts) \
             select s.bucket_start, s.agent_id, s.notification_type, s.results, s.failed, \
                 s.worked, s.work_ms, s.work_max_ms, coalesce(k.bins, '{{}}'), \
                 coalesce(k.counts, '{{}}') \
             from sums s left join sketches k \
                 using (bucket_start, agent_id, notification_type)",
            minutes = minutes("rollup_results"),
        ),
        format!(
            "with {minutes} \
             insert into rollup_tools (bucket_start, agent_id, tool, calls, errors) \
             select {bucket_start}, agent_id, tool, sum(calls)::bigint, sum(errors)::bigint \
             from minutes group by 1, 2, 3",
            minutes = minutes("rollup_tools"),
        ),
        format!(
            "with {minutes} \
             insert into rollup_models (bucket_start, agent_id, model, calls, input_tokens, \
                 output_tokens) \
             select {bucket_start}, agent_id, model, sum(calls)::bigint, \
                 sum(input_tokens)::bigint, sum(output_tokens)::bigint \
             from minutes group by 1, 2, 3",
            minutes = minutes("rollup_models"),
        ),
        format!(
            "with {minutes} \
             insert into rollup_journeys (bucket_start, agent_id, notification_type, status, \
                 outcome, tool_names, journeys, answers, total_ms) \
             select {bucket_start}, agent_id, notification_type, status, outcome, \
                 tool_names, sum(journeys)::bigint, sum(answers)::bigint, sum(total_ms) \
             from minutes group by 1, 2, 3, 4, 5, 6",
            minutes = minutes("rollup_journeys"),
        ),
    ]
}
