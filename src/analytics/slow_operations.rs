//! `GET /api/v1/analytics/slow-operations`: per agent and notification type, how long the
//! agent worked (`completed_at − started_at`, its own clock) on the notifications answered in
//! the window, slowest on average first.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::{AgentScope, Analytics, AnalyticsError, Period, capped, scope};

/// Most rows in one answer.
pub const LIMIT: i64 = 100;

/// One agent and notification type.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SlowOperation {
    pub agent_id: String,
    pub notification_type: String,
    /// Notifications answered in the window.
    pub count: i64,
    /// Processing time in milliseconds: average, 95th percentile (interpolated), maximum.
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
            .read(1, async |db| {
                fetch(db, scope, period, min_avg_ms, LIMIT + 1).await
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
    min_avg_ms: f64,
    limit: i64,
) -> Result<Vec<SlowOperation>, AnalyticsError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql()))
        .bind(period.from)
        .bind(period.until)
        .bind(agents.patterns())
        .bind(min_avg_ms)
        .bind(limit)
        .fetch_all(db)
        .await?)
}

/// `$1`, `$2`: the period; `$3`: the scope; `$4`: `min_avg_ms`; `$5`: the limit.
pub(super) fn sql() -> String {
    // Hash-aggregated with the times collected per group, the p95 taken from each group's
    // array: an ordered-set aggregate would sort the whole day by group first (4.6 s against
    // 2.8 s for a million rows). `HAVING` repeats the aggregate: an output alias is not
    // visible there.
    format!(
        "select agent_id, notification_type, count, avg_ms, \
             (select percentile_cont(0.95) within group (order by v) from unnest(times) v) \
                 as p95_ms, \
             max_ms \
         from (select agent_id, notification_type, count(*) as count, avg(ms) as avg_ms, \
                   max(ms) as max_ms, array_agg(ms) as times \
               from (select agent_id, notification_type, \
                         extract(epoch from completed_at - started_at)::float8 * 1000 as ms \
                     from notifications \
                     where result_recorded_at >= $1 and result_recorded_at <= $2 \
                       and started_at is not null and completed_at is not null and {}) answered \
               group by agent_id, notification_type \
               having avg(ms) >= $4) operations \
         order by avg_ms desc, agent_id, notification_type \
         limit $5",
        scope::condition("$3")
    )
}
