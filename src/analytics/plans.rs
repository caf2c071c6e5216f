//! The query plans of every analysis statement, for the test that checks they read
//! `notifications` through an index (tests/api/analytics/plans.rs) and for operators who want
//! to see them on their own data (docs/analytics.md "Plans and indexes").

use std::time::Duration;

use sqlx::{PgPool, postgres::PgArguments, query::Query};

use super::{
    AgentScope, Period, Split, anomalies, error_rates, message_flows, slow_operations, usage,
};

/// A bind value after the period and the scope.
#[derive(Debug, Clone, Copy)]
enum Extra {
    Float(f64),
    Int(i64),
    Interval(Duration),
}

/// One statement an analysis runs, with sample values for its own parameters.
#[derive(Debug, Clone)]
pub struct Statement {
    pub name: &'static str,
    pub sql: String,
    extra: Vec<Extra>,
}

/// Every statement of the analyses and of the report.
pub fn statements() -> Vec<Statement> {
    let statement = |name, sql, extra| Statement { name, sql, extra };
    let five_minutes = Extra::Interval(Duration::from_secs(300));
    let mut all = vec![
        statement(
            "slow_operations",
            slow_operations::sql(),
            vec![Extra::Float(0.0), Extra::Int(slow_operations::LIMIT)],
        ),
        statement(
            "error_rates",
            error_rates::sql(error_rates::Order::Time),
            vec![
                five_minutes,
                Extra::Float(0.0),
                Extra::Int(error_rates::LIMIT),
            ],
        ),
        statement(
            "message_flows",
            message_flows::sql(),
            vec![Extra::Int(message_flows::LIMIT)],
        ),
        statement(
            "anomalies",
            anomalies::sql(),
            vec![
                Extra::Int(anomalies::MIN_RESULTS),
                Extra::Float(anomalies::Z_THRESHOLD),
                Extra::Int(anomalies::LIMIT),
            ],
        ),
    ];
    for (name, sql) in usage::statements() {
        all.push(statement(name, sql, Vec::new()));
    }
    all
}

/// `EXPLAIN (FORMAT JSON)` of `statement` over `period` and `scope`, split as the rollups
/// cover it now: the plan Postgres would run now (the JSON array it returns).
pub async fn explain(
    pool: &PgPool,
    statement: &Statement,
    scope: &AgentScope,
    period: Period,
) -> Result<serde_json::Value, sqlx::Error> {
    let mut db = pool.acquire().await?;
    let split = Split::of(&mut db, period, None)
        .await
        .unwrap_or(Split::none(period));
    let sql = format!("explain (format json) {}", statement.sql);
    let mut query: Query<'_, sqlx::Postgres, PgArguments> = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(period.from)
        .bind(period.until)
        .bind(scope.patterns().map(<[String]>::to_vec))
        .bind(split.lo)
        .bind(split.hi);
    for extra in &statement.extra {
        query = match *extra {
            Extra::Float(value) => query.bind(value),
            Extra::Int(value) => query.bind(value),
            Extra::Interval(value) => query.bind(value),
        };
    }
    let row = query.fetch_one(&mut *db).await?;
    sqlx::Row::try_get::<serde_json::Value, _>(&row, 0)
}
