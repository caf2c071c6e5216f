//! `GET /api/v1/analytics/slow-operations`: per agent and notification type, how long the
//! agent worked (`completed_at − started_at`, its own clock) on the notifications answered in
//! the window, slowest on average first.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::{
    AgentScope, Analytics, AnalyticsError, Period, Split, capped, scope, sketch,
    split::{self, ROLLED},
};

/// Most rows in one answer.
pub const LIMIT: i64 = 100;

/// One agent and notification type.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SlowOperation {
    pub agent_id: String,
    pub notification_type: String,
    /// Notifications answered in the window.
    pub count: i64,
    /// Processing time in milliseconds: average, 95th percentile (interpolated, within 1 %:
    /// from a sketch), maximum.
    pub avg_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

/// The answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlowOperations {
    /// The window: results recorded from `from` to `until`.
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub min_avg_ms: f64,
    pub operations: Vec<SlowOperation>,
    /// Whether more than [`LIMIT`] operations matched (the slowest are shown).
    pub truncated: bool,
}

impl Analytics {
    pub async fn slow_operations(
        &self,
        scope: &AgentScope,
        period: Period,
        min_avg_ms: f64,
    ) -> Result<SlowOperations, AnalyticsError> {
        let rows = self
            .read(1, period, None, async |db, split| {
                fetch(db, scope, period, split, min_avg_ms, LIMIT + 1).await
            })
            .await?;
        let (operations, truncated) = capped(rows, LIMIT);
        Ok(SlowOperations {
            from: period.from,
            until: period.until,
            min_avg_ms,
            operations,
            truncated,
        })
    }
}

/// The window is on `result_recorded_at` (served by `notifications_result_recorded_at`): the
/// moment the gateway's processing histogram observes the same result.
pub(super) async fn fetch(
    db: &mut PgConnection,
    agents: &AgentScope,
    period: Period,
    split: Split,
    min_avg_ms: f64,
    limit: i64,
) -> Result<Vec<SlowOperation>, AnalyticsError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql()))
        .bind(period.from)
        .bind(period.until)
        .bind(agents.patterns())
        .bind(split.lo)
        .bind(split.hi)
        .bind(min_avg_ms)
        .bind(limit)
        .fetch_all(db)
        .await?)
}

/// `$1`, `$2`: the period; `$3`: the scope; `$4`, `$5`: the split; `$6`: `min_avg_ms`; `$7`:
/// the limit.
pub(super) fn sql() -> String {
    // The rolled buckets' counts, sums, maxima and sketches, and the same of the rest of the
    // window's rows, added up per agent and type. `HAVING` repeats the aggregate: an output
    // alias is not visible there.
    let in_scope = scope::condition("$3");
    let keys = "agent_id, notification_type";
    format!(
        "with raw as ( \
             select agent_id collate \"C\" as agent_id, \
                 notification_type collate \"C\" as notification_type, \
                 extract(epoch from completed_at - started_at)::float8 * 1000 as ms \
             from notifications \
             where {raw} and started_at is not null and completed_at is not null \
                 and {in_scope}), \
         stats as materialized ( \
             select {keys}, sum(worked)::bigint as count, sum(work_ms) / sum(worked) as avg_ms, \
                 max(work_max_ms) as max_ms \
             from (select {keys}, worked, work_ms, work_max_ms from rollup_results \
                   where {ROLLED} and worked > 0 and {in_scope} \
                   union all \
                   select {keys}, count(*), sum(ms), max(ms) from raw group by 1, 2) parts \
             group by 1, 2 \
             having sum(work_ms) / sum(worked) >= $6), \
         bins as materialized ( \
             select {keys}, bin, sum(n) as n \
             from (select r.agent_id, r.notification_type, s.bin, s.n \
                   from rollup_results r \
                   cross join lateral unnest(r.work_bins, r.work_counts) as s(bin, n) \
                   where {ROLLED} and worked > 0 and {in_scope} \
                   union all \
                   select {keys}, {bin}, count(*) from raw group by 1, 2, 3) parts \
             group by 1, 2, 3), \
         percentiles as materialized ({p95}) \
         select s.agent_id, s.notification_type, s.count, s.avg_ms, p.p95_ms, s.max_ms \
         from stats s join percentiles p using ({keys}) \
         order by s.avg_ms desc, s.agent_id, s.notification_type \
         limit $7",
        raw = split::raw("result_recorded_at"),
        bin = sketch::bin("ms"),
        p95 = sketch::p95("bins", keys),
    )
}
