//! `GET /api/v1/analytics/message-flows`: each distinct path the notifications accepted in
//! the window took, how often, and how long it took end to end on average.
//!
//! An answered notification went `gateway → {agent}_queue → {agent} → tool… → response`, the
//! tools in the order the agent reported them. One not answered yet ends where it is:
//! `gateway` (pending in the outbox), `gateway → {agent}_queue` (published, not answered), or
//! `gateway → undelivered` (its delivery failed).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::{AgentScope, Analytics, AnalyticsError, Period, capped, scope};

/// Most paths in one answer.
pub const LIMIT: i64 = 200;

/// One distinct path.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MessageFlow {
    /// The hops joined by ` → `.
    #[schema(example = "gateway → weather_queue → weather → geocode → forecast → response")]
    pub path: String,
    pub hops: Vec<String>,
    /// Notifications that took it.
    pub count: i64,
    /// Of those, answered with the outcome `failed`.
    pub failed: i64,
    /// From acceptance to the result recorded, in milliseconds; `null` for paths not answered.
    pub avg_ms: Option<f64>,
}

/// The answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageFlows {
    /// The window: notifications accepted from `from` to `until`.
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Most frequent first.
    pub flows: Vec<MessageFlow>,
    /// Whether more than [`LIMIT`] paths were taken (the most frequent are shown).
    pub truncated: bool,
}

#[derive(sqlx::FromRow)]
struct Row {
    hops: Vec<String>,
    count: i64,
    failed: i64,
    avg_ms: Option<f64>,
}

impl Analytics {
    pub async fn message_flows(
        &self,
        scope: &AgentScope,
        period: Period,
    ) -> Result<MessageFlows, AnalyticsError> {
        let rows = self
            .read(1, async |db| fetch(db, scope, period, LIMIT + 1).await)
            .await?;
        let (flows, truncated) = capped(rows, LIMIT);
        Ok(MessageFlows {
            from: period.from,
            until: period.until,
            flows,
            truncated,
        })
    }
}

/// The window is on `accepted_at` (served by `notifications_accepted_at`), so that the
/// notifications still on their way are counted too.
async fn fetch(
    db: &mut PgConnection,
    agents: &AgentScope,
    period: Period,
    limit: i64,
) -> Result<Vec<MessageFlow>, AnalyticsError> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql()))
        .bind(period.from)
        .bind(period.until)
        .bind(agents.patterns())
        .bind(limit)
        .fetch_all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| MessageFlow {
            path: row.hops.join(" → "),
            hops: row.hops,
            count: row.count,
            failed: row.failed,
            avg_ms: row.avg_ms,
        })
        .collect())
}

/// `$1`, `$2`: the period; `$3`: the scope; `$4`: the limit.
pub(super) fn sql() -> String {
    // A `tools` value that is not an array counts as no tools; an element without a name
    // as the tool `?`.
    format!(
        "select hops, count(*) as count, count(*) filter (where outcome = 'failed') as failed, \
             avg(end_to_end_ms) as avg_ms \
         from (select case \
                   when n.outcome is not null then \
                       array['gateway', n.agent_id || '_queue', n.agent_id] \
                       || coalesce(t.tools, '{{}}'::text[]) || array['response'] \
                   when n.status = 'published' then array['gateway', n.agent_id || '_queue'] \
                   when n.status = 'failed' then array['gateway', 'undelivered'] \
                   else array['gateway'] end as hops, \
                   n.outcome, \
                   extract(epoch from n.result_recorded_at - n.accepted_at)::float8 * 1000 \
                       as end_to_end_ms \
               from notifications n \
               left join lateral ( \
                   select array_agg(coalesce(e.tool ->> 'name', '?') order by e.position) \
                       as tools \
                   from json_array_elements(case when json_typeof(n.tools) = 'array' \
                       then n.tools else '[]'::json end) with ordinality as e(tool, position) \
               ) t on n.outcome is not null \
               where n.accepted_at >= $1 and n.accepted_at <= $2 and {}) journeys \
         group by hops \
         order by count(*) desc, hops \
         limit $4",
        scope::condition("$3")
    )
}
