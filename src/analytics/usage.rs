//! The report's own queries: totals, load per agent, notification types, tools, language-model
//! tokens and the per-hour histogram. Each is one aggregate over an index range of the window.

use serde::Serialize;
use sqlx::PgConnection;

use super::{
    AgentScope, AnalyticsError, BUCKET_ORIGIN, Period, Split,
    rollup::sql,
    scope,
    split::{self, ROLLED},
};

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

/// The report's statements, by name; each takes `$1`, `$2` (the period), `$3` (the scope)
/// and `$4`, `$5` (the split), and adds up the rolled buckets' figures and those of the rest
/// of the window's rows.
pub(super) fn statements() -> [(&'static str, String); 6] {
    let busy = "coalesce(sum(extract(epoch from completed_at - started_at)::float8 * 1000), 0)";
    let in_scope = scope::condition("$3");
    let rolled = |table: &str, select: &str, rest: &str| {
        format!("select {select} from {table} where {ROLLED} and {in_scope} {rest}")
    };
    let totals = [
        ("accepted", "true"),
        ("published", "status = 'published'"),
        ("pending", "status = 'pending'"),
        ("undelivered", "status = 'failed'"),
        ("answered", "outcome is not null"),
        ("completed", "outcome = 'completed'"),
        ("failed", "outcome = 'failed'"),
    ];
    let list = |f: &dyn Fn(&str, &str) -> String| {
        let items: Vec<String> = totals.iter().map(|(name, cond)| f(name, cond)).collect();
        items.join(", ")
    };
    [
        (
            "totals",
            format!(
                "select {} from ({} union all {}) parts",
                list(&|name, _| format!("coalesce(sum({name}), 0)::bigint as {name}")),
                rolled(
                    "rollup_journeys",
                    &list(&|name, cond| format!("sum(journeys) filter (where {cond}) as {name}")),
                    ""
                ),
                window(
                    "accepted_at",
                    &list(&|_, cond| format!("count(*) filter (where {cond})")),
                    "",
                    ""
                ),
            ),
        ),
        (
            "busiest_agents",
            format!(
                "select agent_id, sum(results)::bigint as results, sum(busy_ms) as busy_ms \
                 from ({} union all {}) parts \
                 group by 1 order by busy_ms desc, results desc, agent_id limit {TOP}",
                rolled(
                    "rollup_results",
                    "agent_id, results, work_ms as busy_ms",
                    ""
                ),
                window(
                    "result_recorded_at",
                    &format!("agent_id collate \"C\", count(*), {busy}"),
                    "",
                    "group by 1"
                ),
            ),
        ),
        (
            "notification_types",
            format!(
                "select notification_type, sum(count)::bigint as count \
                 from ({} union all {}) parts \
                 group by 1 order by count desc, notification_type limit {TOP}",
                rolled(
                    "rollup_journeys",
                    "notification_type, sum(journeys) as count",
                    "group by 1"
                ),
                window(
                    "accepted_at",
                    "notification_type collate \"C\", count(*)",
                    "",
                    "group by 1"
                ),
            ),
        ),
        (
            "tools",
            // Per tool and agent first, then per tool: a hash aggregate each, where
            // `count(distinct agent_id)` would sort every call.
            format!(
                "select tool, sum(calls)::bigint as calls, sum(errors)::bigint as errors, \
                     count(*) as agents \
                 from (select tool, agent_id, sum(calls) as calls, sum(errors) as errors \
                       from ({} union all {}) parts \
                       group by 1, 2) per_agent \
                 group by tool order by calls desc, tool limit {TOOLS_TOP}",
                rolled("rollup_tools", "tool, agent_id, calls, errors", ""),
                window(
                    "result_recorded_at",
                    "t.item ->> 'name' collate \"C\", n.agent_id collate \"C\", count(*), \
                     count(*) filter (where t.item ->> 'status' = 'error')",
                    &format!("cross join lateral {}", sql::elements("tools")),
                    "and t.item ->> 'name' is not null group by 1, 2",
                )
            ),
        ),
        (
            "llm",
            format!(
                "select model, sum(calls)::bigint as calls, \
                     sum(input_tokens)::bigint as input_tokens, \
                     sum(output_tokens)::bigint as output_tokens \
                 from ({} union all {}) parts \
                 group by 1 order by calls desc, model limit {TOOLS_TOP}",
                rolled(
                    "rollup_models",
                    "model, calls, input_tokens, output_tokens",
                    ""
                ),
                window(
                    "result_recorded_at",
                    &format!(
                        "coalesce(t.item ->> 'model', '?') collate \"C\", count(*), {}, {}",
                        sql::tokens("input_tokens"),
                        sql::tokens("output_tokens")
                    ),
                    &format!("cross join lateral {}", sql::elements("llm")),
                    "group by 1",
                ),
            ),
        ),
        (
            "peak_hours",
            format!(
                "select hour, sum(accepted)::bigint as accepted \
                 from ({} union all {}) parts \
                 group by 1 order by 1",
                rolled(
                    "rollup_journeys",
                    &format!(
                        "{} as hour, sum(journeys) as accepted",
                        hour("bucket_start")
                    ),
                    "group by 1"
                ),
                window(
                    "accepted_at",
                    &format!("{}, count(*)", hour("accepted_at")),
                    "",
                    "group by 1"
                ),
            ),
        ),
    ]
}

/// The hour `column` is in.
fn hour(column: &str) -> String {
    format!("date_bin(interval '1 hour', {column}, {BUCKET_ORIGIN})")
}

/// `select {select} from notifications n {join} where {column} is in the period but not in
/// the rolled buckets, and in scope {rest}`.
fn window(column: &str, select: &str, join: &str, rest: &str) -> String {
    format!(
        "select {select} from notifications n {join} where {} and {} {rest}",
        split::raw(&format!("n.{column}")),
        scope::condition("$3")
    )
}

/// Runs the named statement of [`statements`].
async fn run<T>(
    db: &mut PgConnection,
    name: &str,
    agents: &AgentScope,
    period: Period,
    split: Split,
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
        .bind(split.lo)
        .bind(split.hi)
        .fetch_all(db)
        .await?)
}

pub(super) async fn totals(
    db: &mut PgConnection,
    agents: &AgentScope,
    period: Period,
    split: Split,
) -> Result<Totals, AnalyticsError> {
    let rows: Vec<Totals> = run(db, "totals", agents, period, split).await?;
    let mut totals = rows.into_iter().next().unwrap_or_default();
    totals.success_ratio =
        (totals.answered > 0).then(|| totals.completed as f64 / totals.answered as f64);
    Ok(totals)
}

pub(super) async fn busiest_agents(
    db: &mut PgConnection,
    agents: &AgentScope,
    period: Period,
    split: Split,
) -> Result<Vec<AgentLoad>, AnalyticsError> {
    let mut rows: Vec<AgentLoad> = run(db, "busiest_agents", agents, period, split).await?;
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
    split: Split,
) -> Result<Vec<TypeCount>, AnalyticsError> {
    run(db, "notification_types", agents, period, split).await
}

pub(super) async fn tools(
    db: &mut PgConnection,
    agents: &AgentScope,
    period: Period,
    split: Split,
) -> Result<Vec<ToolUse>, AnalyticsError> {
    run(db, "tools", agents, period, split).await
}

pub(super) async fn llm(
    db: &mut PgConnection,
    agents: &AgentScope,
    period: Period,
    split: Split,
) -> Result<Vec<ModelUsage>, AnalyticsError> {
    run(db, "llm", agents, period, split).await
}

pub(super) async fn peak_hours(
    db: &mut PgConnection,
    agents: &AgentScope,
    period: Period,
    split: Split,
) -> Result<Vec<HourCount>, AnalyticsError> {
    run(db, "peak_hours", agents, period, split).await
}
