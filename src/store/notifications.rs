//! Queries on `notifications`, the table that is both the record and the outbox.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgentId, DeliveryState, Notification, TraceStamp};

/// A stored notification with its delivery state.
#[derive(Debug, Clone)]
pub struct StoredNotification {
    pub notification: Notification,
    pub status: DeliveryState,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    notification_id: Uuid,
    agent_id: String,
    notification_type: String,
    source: String,
    payload: serde_json::Value,
    correlation_id: String,
    trace_id: String,
    span_id: String,
    trace_sampled: bool,
    tracestate: Option<String>,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    accepted_at: DateTime<Utc>,
    published_at: Option<DateTime<Utc>>,
    failed_at: Option<DateTime<Utc>>,
    idempotency_key: Option<String>,
}

impl Row {
    fn into_stored(self) -> Result<StoredNotification, StoreError> {
        let agent_id = AgentId::parse(&self.agent_id)
            .map_err(|error| StoreError::Query(sqlx::Error::Decode(Box::new(error))))?;
        let status = match self.status.as_str() {
            "pending" => DeliveryState::Pending,
            "published" => DeliveryState::Published,
            _ => DeliveryState::Failed,
        };
        Ok(StoredNotification {
            notification: Notification {
                notification_id: self.notification_id,
                agent_id,
                notification_type: self.notification_type,
                source: self.source,
                payload: self.payload,
                correlation_id: self.correlation_id,
                trace: TraceStamp {
                    trace_id: self.trace_id,
                    span_id: self.span_id,
                    sampled: self.trace_sampled,
                    tracestate: self.tracestate,
                },
                accepted_at: self.accepted_at,
                idempotency_key: self.idempotency_key,
            },
            status,
            attempts: self.attempts,
            last_error: self.last_error,
            published_at: self.published_at,
            failed_at: self.failed_at,
        })
    }
}

/// The columns of [`Row`], as a literal for `concat!`.
macro_rules! columns {
    () => {
        "notification_id, agent_id, notification_type, source, payload, correlation_id, trace_id, \
         span_id, trace_sampled, tracestate, status, attempts, last_error, accepted_at, \
         published_at, failed_at, idempotency_key"
    };
}

/// A batch as one array per column, for `unnest`.
#[derive(Default)]
struct Columns<'a> {
    ids: Vec<Uuid>,
    agents: Vec<&'a str>,
    types: Vec<&'a str>,
    sources: Vec<&'a str>,
    payloads: Vec<&'a serde_json::Value>,
    correlations: Vec<&'a str>,
    trace_ids: Vec<&'a str>,
    span_ids: Vec<&'a str>,
    sampled: Vec<bool>,
    tracestates: Vec<Option<&'a str>>,
    accepted: Vec<DateTime<Utc>>,
    next_attempts: Vec<DateTime<Utc>>,
    idempotency_keys: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, n: &'a Notification, grace: chrono::Duration) {
        self.ids.push(n.notification_id);
        self.agents.push(n.agent_id.as_str());
        self.types.push(&n.notification_type);
        self.sources.push(&n.source);
        self.payloads.push(&n.payload);
        self.correlations.push(&n.correlation_id);
        self.trace_ids.push(&n.trace.trace_id);
        self.span_ids.push(&n.trace.span_id);
        self.sampled.push(n.trace.sampled);
        self.tracestates.push(n.trace.tracestate.as_deref());
        self.accepted.push(n.accepted_at);
        self.next_attempts.push(n.accepted_at + grace);
        self.idempotency_keys.push(n.idempotency_key.as_deref());
    }
}

/// Inserts a batch in one statement (one round trip, one commit, one WAL flush) and returns
/// the ids actually inserted: a row whose idempotency key its agent already used is skipped.
/// New rows are left to the fast path until `accepted_at + grace`.
pub async fn insert_batch(
    pool: &PgPool,
    batch: &[&Notification],
    grace: chrono::Duration,
) -> Result<Vec<Uuid>, StoreError> {
    let mut c = Columns::default();
    for notification in batch {
        c.push(notification, grace);
    }
    let inserted = sqlx::query_scalar(
        "insert into notifications (notification_id, agent_id, notification_type, source, payload, \
             correlation_id, trace_id, span_id, trace_sampled, tracestate, accepted_at, \
             next_attempt_at, idempotency_key) \
         select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], \
             $6::text[], $7::text[], $8::text[], $9::bool[], $10::text[], $11::timestamptz[], \
             $12::timestamptz[], $13::text[]) \
         on conflict (agent_id, idempotency_key) where idempotency_key is not null do nothing \
         returning notification_id",
    )
    .bind(c.ids)
    .bind(c.agents)
    .bind(c.types)
    .bind(c.sources)
    .bind(c.payloads)
    .bind(c.correlations)
    .bind(c.trace_ids)
    .bind(c.span_ids)
    .bind(c.sampled)
    .bind(c.tracestates)
    .bind(c.accepted)
    .bind(c.next_attempts)
    .bind(c.idempotency_keys)
    .fetch_all(pool)
    .await?;
    Ok(inserted)
}

/// The notification an agent's idempotency key was first used for.
pub async fn find_by_idempotency_key(
    pool: &PgPool,
    agent_id: &str,
    key: &str,
) -> Result<Option<Notification>, StoreError> {
    let sql = concat!(
        "select ",
        columns!(),
        " from notifications where agent_id = $1 and idempotency_key = $2"
    );
    let row: Option<Row> = sqlx::query_as(sql)
        .bind(agent_id)
        .bind(key)
        .fetch_optional(pool)
        .await?;
    row.map(|row| row.into_stored().map(|stored| stored.notification))
        .transpose()
}

/// One notification and its delivery state.
pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<StoredNotification>, StoreError> {
    let sql = concat!(
        "select ",
        columns!(),
        " from notifications where notification_id = $1"
    );
    let row: Option<Row> = sqlx::query_as(sql).bind(id).fetch_optional(pool).await?;
    row.map(Row::into_stored).transpose()
}

/// Marks confirmed notifications published. Rows already settled are left alone.
pub async fn mark_published<'e>(
    executor: impl PgExecutor<'e>,
    ids: &[Uuid],
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "update notifications set status = 'published', published_at = now(), last_error = null \
         where notification_id = any($1) and status = 'pending'",
    )
    .bind(ids)
    .execute(executor)
    .await?;
    Ok(done.rows_affected())
}

/// Counts a broker rejection against each row and pushes its next attempt back
/// exponentially (1 s, 2 s, 4 s … capped at 5 min). Returns the rows that reached
/// `max_attempts` and are now `failed`.
pub async fn record_rejections<'e>(
    executor: impl PgExecutor<'e>,
    ids: &[Uuid],
    reason: &str,
    max_attempts: i32,
) -> Result<Vec<(String, String)>, StoreError> {
    let failed: Vec<(String, String)> = sqlx::query_as(
        "update notifications set attempts = attempts + 1, last_error = $2, \
             next_attempt_at = now() + least(interval '1 second' * power(2, attempts), interval '5 minutes'), \
             status = case when attempts + 1 >= $3 then 'failed' else status end, \
             failed_at = case when attempts + 1 >= $3 then now() end \
         where notification_id = any($1) and status = 'pending' \
         returning agent_id, notification_type, status",
    )
    .bind(ids)
    .bind(reason)
    .bind(max_attempts)
    .fetch_all(executor)
    .await
    .map(|rows: Vec<(String, String, String)>| {
        rows.into_iter().filter(|(_, _, status)| status == "failed").map(|(a, t, _)| (a, t)).collect()
    })?;
    Ok(failed)
}

/// Claims up to `limit` pending rows whose time has come, oldest first. `SKIP LOCKED` lets
/// several gateways relay from one table without publishing the same row twice at once.
pub async fn claim_pending(
    tx: &mut Transaction<'_, Postgres>,
    limit: i64,
) -> Result<Vec<Notification>, StoreError> {
    let sql = concat!(
        "select ",
        columns!(),
        " from notifications where status = 'pending' and next_attempt_at <= now() \
         order by seq limit $1 for update skip locked"
    );
    let rows: Vec<Row> = sqlx::query_as(sql).bind(limit).fetch_all(&mut **tx).await?;
    rows.into_iter()
        .map(|row| row.into_stored().map(|s| s.notification))
        .collect()
}

/// Pushes back the next attempt of rows whose publish had an unknown fate (outage, timeout).
pub async fn postpone<'e>(
    executor: impl PgExecutor<'e>,
    ids: &[Uuid],
    delay: std::time::Duration,
) -> Result<(), StoreError> {
    sqlx::query("update notifications set next_attempt_at = now() + $2 where notification_id = any($1) and status = 'pending'")
        .bind(ids)
        .bind(delay)
        .execute(executor)
        .await?;
    Ok(())
}

/// The outbox backlog: how many rows are pending and how old the oldest is.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Backlog {
    pub pending: i64,
    pub oldest_age_seconds: f64,
}

pub async fn backlog(pool: &PgPool) -> Result<Backlog, StoreError> {
    let (pending, oldest_age_seconds): (i64, f64) = sqlx::query_as(
        "select count(*), coalesce(extract(epoch from now() - min(accepted_at)), 0)::float8 \
         from notifications where status = 'pending'",
    )
    .fetch_one(pool)
    .await?;
    Ok(Backlog {
        pending,
        oldest_age_seconds,
    })
}
