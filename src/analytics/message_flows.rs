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

use super::{
    AgentScope, Analytics, AnalyticsError, Period, Split, capped, scope,
    split::{self, ROLLED},
};

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
            .read(1, period, None, async |db, split| {
                fetch(db, scope, period, split, LIMIT + 1).await
            })
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
    split: Split,
    limit: i64,
) -> Result<Vec<MessageFlow>, AnalyticsError> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql()))
        .bind(period.from)
        .bind(period.until)
        .bind(agents.patterns())
        .bind(split.lo)
        .bind(split.hi)
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

/// `$1`, `$2`: the period; `$3`: the scope; `$4`, `$5`: the split; `$6`: the limit.
///
/// Grouped first by agent, state and the tools' names (a `jsonb` array, which has equality:
/// `jsonb_path_query_array` is three times faster than unnesting every row's `json` array in
/// a subquery), the rolled buckets being grouped so already, then the few groups are turned
/// into paths.
pub(super) fn sql() -> String {
    let in_scope = scope::condition("$3");
    let stage = "case when outcome is not null then 'answered' else status end";
    format!(
        "select case stage \
                 when 'answered' then array['gateway', agent_id || '_queue', agent_id] \
                     || array(select jsonb_array_elements_text(names)) || array['response'] \
                 when 'published' then array['gateway', agent_id || '_queue'] \
                 when 'failed' then array['gateway', 'undelivered'] \
                 else array['gateway'] end as hops, \
             sum(journeys)::bigint as count, sum(failures)::bigint as failed, \
             sum(total_ms) / nullif(sum(answers), 0) as avg_ms \
         from (select agent_id, {stage} as stage, tool_names as names, journeys, \
                   case when outcome = 'failed' then journeys else 0 end as failures, \
                   answers, total_ms \
               from rollup_journeys where {ROLLED} and {in_scope} \
               union all \
               select agent_id collate \"C\", {stage}, {names}, count(*), \
                   count(*) filter (where outcome = 'failed'), count(result_recorded_at), \
                   coalesce(sum(extract(epoch from result_recorded_at - accepted_at)::float8 \
                       * 1000), 0) \
               from notifications \
               where {raw} and {in_scope} \
               group by 1, 2, 3) journeys \
         group by 1 \
         order by 2 desc, 1 \
         limit $6",
        names = tool_names(""),
        raw = split::raw("accepted_at"),
    )
}

/// The names of the tools an answered notification called, in order, as a `jsonb` array
/// (`null` while unanswered); `prefix` qualifies the columns (`n.`). A `tools` value that is
/// not an array counts as no tools, and tool calls without a name are left out. `jsonb` cannot
/// hold `\u0000`: such a value counts as no tools rather than failing the statement.
pub(super) fn tool_names(prefix: &str) -> String {
    format!(
        "case when {prefix}outcome is not null then coalesce(jsonb_path_query_array( \
             case when json_typeof({prefix}tools) = 'array' \
                 and strpos({prefix}tools::text, '\\u0000') = 0 then {prefix}tools::jsonb end, \
             '$[*].name'), '[]'::jsonb) end"
    )
}
