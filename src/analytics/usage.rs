//! The report's own queries: totals, load per agent, notification types, tools, language-model
//! tokens and the per-hour histogram. Each is one aggregate over an index range of the window.

use serde::Serialize;
use sqlx::PgConnection;

use super::{AgentScope, AnalyticsError, BUCKET_ORIGIN, Period, scope};

/// Rows of each top list.
const TOP: i64 = 10;
const TOOLS_TOP: i64 = 20;

/// Of the notifications accepted in the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Totals {
    pub accepted: i64,
    /// Delivery states now.
    pub published: i64,
    pub pending: i64,
    pub undelivered: i64,
    /// Answered by their agent, and how.
    pub answered: i64,
    pub completed: i64,
    pub failed: i64,
    /// `completed / answered`; `null` when nothing was answered.
    #[sqlx(skip)]
    pub success_ratio: Option<f64>,
}

/// One agent's load: results recorded in the period and the time it worked on them.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AgentLoad {
    pub agent_id: String,
    pub results: i64,
    pub busy_ms: f64,
    /// `busy_ms` over the period's length: 1.0 is one handler busy all the time (an agent
    /// with several handlers can exceed 1).
    #[sqlx(skip)]
    pub utilisation: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TypeCount {
    pub notification_type: String,
    pub count: i64,
}

/// A tool, from the results recorded in the period.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ToolUse {
    pub tool: String,
    pub calls: i64,
    /// Calls reported with `status: "error"`.
    pub errors: i64,
    /// Distinct agents that called it.
    pub agents: i64,
}

/// A language model, from the results recorded in the period.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ModelUsage {
    pub model: String,
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// Notifications accepted in one hour (`[hour, hour + 1 h)`, on the hour).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct HourCount {
    pub hour: chrono::DateTime<chrono::Utc>,
    pub accepted: i64,
}

/// The report's statements, by name; each takes `$1`, `$2` (the period) and `$3` (the scope).
pub(super) fn statements() -> [(&'static str, String); 6] {
    let busy = "coalesce(sum(extract(epoch from completed_at - started_at)::float8 * 1000), 0)";
    let tokens = |field: &str| {
        format!(
            "coalesce(sum(case when json_typeof(t.item -> '{field}') = 'number' \
             then (t.item ->> '{field}')::numeric end), 0)::bigint as {field}"
        )
    };
    [
        (
            "totals",
            window(
                "accepted_at",
                "count(*) as accepted, \
                 count(*) filter (where status = 'published') as published, \
                 count(*) filter (where status = 'pending') as pending, \
                 count(*) filter (where status = 'failed') as undelivered, \
                 count(outcome) as answered, \
                 count(*) filter (where outcome = 'completed') as completed, \
                 count(*) filter (where outcome = 'failed') as failed",
                "",
                "",
            ),
        ),
        (
            "busiest_agents",
            window(
                "result_recorded_at",
                &format!(
                    "agent_id collate \"C\" as agent_id, count(*) as results, {busy} as busy_ms"
                ),
                "",
                &format!("group by 1 order by busy_ms desc, results desc, agent_id limit {TOP}"),
            ),
        ),
        (
            "notification_types",
            window(
                "accepted_at",
                "notification_type collate \"C\" as notification_type, count(*) as count",
                "",
                &format!("group by 1 order by count desc, notification_type limit {TOP}"),
            ),
        ),
        (
            "tools",
            // Per tool and agent first, then per tool: a hash aggregate each, where
            // `count(distinct agent_id)` would sort every call.
            format!(
                "select tool, sum(calls)::bigint as calls, sum(errors)::bigint as errors, \
                     count(*) as agents \
                 from ({}) per_agent \
                 group by tool order by calls desc, tool limit {TOOLS_TOP}",
                window(
                    "result_recorded_at",
                    "t.item ->> 'name' collate \"C\" as tool, n.agent_id collate \"C\", \
                     count(*) as calls, \
                     count(*) filter (where t.item ->> 'status' = 'error') as errors",
                    &format!("cross join lateral {}", elements("tools")),
                    "and t.item ->> 'name' is not null group by 1, 2",
                )
            ),
        ),
        (
            "llm",
            window(
                "result_recorded_at",
                &format!(
                    "coalesce(t.item ->> 'model', '?') collate \"C\" as model, count(*) as calls, \
                     {}, {}",
                    tokens("input_tokens"),
                    tokens("output_tokens")
                ),
                &format!("cross join lateral {}", elements("llm")),
                &format!("group by 1 order by calls desc, model limit {TOOLS_TOP}"),
            ),
        ),
        (
            "peak_hours",
            window(
                "accepted_at",
                &format!(
                    "date_bin(interval '1 hour', accepted_at, {BUCKET_ORIGIN}) as hour, \
                          count(*) as accepted"
                ),
                "",
                "group by 1 order by 1",
            ),
        ),
    ]
}

/// `select {select} from notifications n {join} where {column} in the period and in scope
/// {rest}`.
fn window(column: &str, select: &str, join: &str, rest: &str) -> String {
    format!(
        "select {select} from notifications n {join} \
         where n.{column} >= $1 and n.{column} <= $2 and {} {rest}",
        scope::condition("$3")
    )
}

/// The elements of the `tools` or `llm` array as `t(item)`; a value that is not an array
/// counts as none.
fn elements(column: &str) -> String {
    format!(
        "json_array_elements(case when json_typeof(n.{column}) = 'array' \
         then n.{column} else '[]'::json end) as t(item)"
    )
}

/// Runs the named statement of [`statements`].
async fn run<T>(
    db: &mut PgConnection,
    name: &str,
    agents: &AgentScope,
    period: Period,
) -> Result<Vec<T>, AnalyticsError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let (_, sql) = statements()
        .into_iter()
        .find(|(known, _)| *known == name)
        .expect("a statement of the report");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(period.from)
        .bind(period.until)
        .bind(agents.patterns())
        .fetch_all(db)
        .await?)
}

pub(super) async fn totals(
    db: &mut PgConnection,
    agents: &AgentScope,
    period: Period,
) -> Result<Totals, AnalyticsError> {
    let rows: Vec<Totals> = run(db, "totals", agents, period).await?;
    let mut totals = rows.into_iter().next().unwrap_or_default();
    totals.success_ratio =
        (totals.answered > 0).then(|| totals.completed as f64 / totals.answered as f64);
    Ok(totals)
}

pub(super) async fn busiest_agents(
    db: &mut PgConnection,
    agents: &AgentScope,
    period: Period,
) -> Result<Vec<AgentLoad>, AnalyticsError> {
    let mut rows: Vec<AgentLoad> = run(db, "busiest_agents", agents, period).await?;
    let period_ms = period.length().as_secs_f64() * 1000.0;
    for row in &mut rows {
        row.utilisation = if period_ms > 0.0 {
            row.busy_ms / period_ms
        } else {
            0.0
        };
    }
    Ok(rows)
}

pub(super) async fn notification_types(
    db: &mut PgConnection,
    agents: &AgentScope,
    period: Period,
) -> Result<Vec<TypeCount>, AnalyticsError> {
    run(db, "notification_types", agents, period).await
}

pub(super) async fn tools(
    db: &mut PgConnection,
    agents: &AgentScope,
    period: Period,
) -> Result<Vec<ToolUse>, AnalyticsError> {
    run(db, "tools", agents, period).await
}

pub(super) async fn llm(
    db: &mut PgConnection,
    agents: &AgentScope,
    period: Period,
) -> Result<Vec<ModelUsage>, AnalyticsError> {
    run(db, "llm", agents, period).await
}

pub(super) async fn peak_hours(
    db: &mut PgConnection,
    agents: &AgentScope,
    period: Period,
) -> Result<Vec<HourCount>, AnalyticsError> {
    run(db, "peak_hours", agents, period).await
}
