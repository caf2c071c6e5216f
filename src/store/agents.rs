//! Queries on `agents` (registrations) and the per-agent figures of `notifications`.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::StoreError;
use crate::domain::{AgentId, QueueType};

/// A registered agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRecord {
    pub agent_id: AgentId,
    pub description: Option<String>,
    pub queue_type: QueueType,
    pub registered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    agent_id: String,
    description: Option<String>,
    queue_type: String,
    registered_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn into_record(self) -> Result<AgentRecord, StoreError> {
        let agent_id = AgentId::parse(&self.agent_id)
            .map_err(|error| StoreError::Query(sqlx::Error::Decode(Box::new(error))))?;
        Ok(AgentRecord {
            agent_id,
            description: self.description,
            queue_type: QueueType::parse(&self.queue_type),
            registered_at: self.registered_at,
            updated_at: self.updated_at,
        })
    }
}

const COLUMNS: &str = "agent_id, description, queue_type, registered_at, updated_at";

/// Registers an agent, or updates its description and queue type; returns the record and
/// whether it is new.
pub async fn upsert(
    pool: &PgPool,
    agent_id: &AgentId,
    description: Option<&str>,
    queue_type: QueueType,
) -> Result<(AgentRecord, bool), StoreError> {
    // `xmax = 0` tells an inserted row from an updated one.
    let sql = format!(
        "insert into agents (agent_id, description, queue_type) values ($1, $2, $3) \
         on conflict (agent_id) do update set description = excluded.description, \
             queue_type = excluded.queue_type, updated_at = now() \
         returning {COLUMNS}, (xmax = 0) as inserted"
    );
    let flagged: RowWithFlag = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(agent_id.as_str())
        .bind(description)
        .bind(queue_type.as_str())
        .fetch_one(pool)
        .await?;
    Ok((flagged.row.into_record()?, flagged.inserted))
}

#[derive(sqlx::FromRow)]
struct RowWithFlag {
    #[sqlx(flatten)]
    row: Row,
    inserted: bool,
}

/// One registration.
pub async fn find(pool: &PgPool, agent_id: &str) -> Result<Option<AgentRecord>, StoreError> {
    let sql = format!("select {COLUMNS} from agents where agent_id = $1");
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(agent_id)
        .fetch_optional(pool)
        .await?;
    row.map(Row::into_record).transpose()
}

/// Every registration, by agent id.
pub async fn all(pool: &PgPool) -> Result<Vec<AgentRecord>, StoreError> {
    let sql = format!("select {COLUMNS} from agents order by agent_id");
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    rows.into_iter().map(Row::into_record).collect()
}

/// Unregisters an agent; `false` if it was not registered. Its notifications stay.
pub async fn delete(pool: &PgPool, agent_id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("delete from agents where agent_id = $1")
        .bind(agent_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// What Postgres knows about an agent's traffic.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct AgentActivity {
    /// Its notifications still pending in the outbox.
    pub backlog: i64,
    /// When its latest published notification was confirmed.
    pub last_published_at: Option<DateTime<Utc>>,
    pub accepted_last_hour: i64,
    pub published_last_hour: i64,
    pub failed_last_hour: i64,
}

/// The agent's figures, read through `notifications_agent_accepted` and the pending index.
pub async fn activity(pool: &PgPool, agent_id: &str) -> Result<AgentActivity, StoreError> {
    Ok(sqlx::query_as(
        "select \
             (select count(*) from notifications where status = 'pending' and agent_id = $1) \
                 as backlog, \
             (select published_at from notifications where agent_id = $1 and status = 'published' \
                 order by accepted_at desc limit 1) as last_published_at, \
             count(*) as accepted_last_hour, \
             count(*) filter (where status = 'published') as published_last_hour, \
             count(*) filter (where status = 'failed') as failed_last_hour \
         from notifications where agent_id = $1 and accepted_at > now() - interval '1 hour'",
    )
    .bind(agent_id)
    .fetch_one(pool)
    .await?)
}
