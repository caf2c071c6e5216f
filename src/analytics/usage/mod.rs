//! The report's own queries: totals, load per agent, notification types, tools, language-model
//! tokens and the per-hour histogram. Each adds up the rolled buckets of the window and the
//! rest of its rows, read through an index ([`statements`]).

use serde::Serialize;
use sqlx::PgConnection;

use super::{AgentScope, AnalyticsError, Period, Split};

mod statements;

pub(super) use statements::statements;

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
