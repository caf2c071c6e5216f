//! Queries on `notifications`, the table that is both the record and the outbox.

#[macro_use]
mod row;
mod insert;

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use uuid::Uuid;

pub use insert::insert_batch;
use row::Row;

use super::StoreError;
use crate::domain::{DeliveryState, IdempotencyKey, Notification};

/// A stored notification with its delivery state.
#[derive(Debug, Clone)]
pub struct StoredNotification {
    pub notification: Notification,
    pub status: DeliveryState,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    /// The agent's result, once recorded.
    pub answer: Option<Answer>,
}

/// What the agent answered, as recorded (JSON fields as the agent sent them).
#[derive(Debug, Clone)]
pub struct Answer {
    /// `completed` or `failed`.
    pub outcome: String,
    pub result: Option<String>,
    pub error: Option<String>,
    pub tools: Option<String>,
    pub llm: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// When the gateway recorded it.
    pub recorded_at: Option<DateTime<Utc>>,
}

/// The notification an agent's idempotency key was first used for.
pub async fn find_by_idempotency_key(
    pool: &PgPool,
    agent_id: &str,
    key: &IdempotencyKey,
) -> Result<Option<Notification>, StoreError> {
    let sql = concat!(
        "select ",
        columns!(),
        " from notifications where agent_id = $1 and idempotency_key = $2"
    );
    let row: Option<Row> = sqlx::query_as(sql)
        .bind(agent_id)
        .bind(key.as_str())
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

/// The pending rows among `$1`, locked in `notification_id` order. Every statement that
/// updates a set of rows locks them in that order first (the results recorder too,
/// `store/results.rs`): the publish-outcome recorder and the results recorder update the same
/// rows at nearly the same moment (an agent answers within milliseconds of the confirm), and
/// two statements locking overlapping sets in different orders deadlock. Postgres finds a
/// deadlock only after `deadlock_timeout` (1 s) and aborts one side, which showed as result
/// hops of 1 s and 1.5 s and as confirmed notifications left pending to be republished.
macro_rules! pending_locked_in_order {
    () => {
        "(select notification_id from notifications \
          where notification_id = any($1) and status = 'pending' \
          order by notification_id for update) locked"
    };
}

/// Marks confirmed notifications published. Rows already settled are left alone.
pub async fn mark_published<'e>(
    executor: impl PgExecutor<'e>,
    ids: &[Uuid],
) -> Result<u64, StoreError> {
    let done = sqlx::query(concat!(
        "update notifications n set status = 'published', published_at = now(), \
             last_error = null from ",
        pending_locked_in_order!(),
        " where n.notification_id = locked.notification_id"
    ))
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
    let failed: Vec<(String, String)> = sqlx::query_as(concat!(
        "update notifications n set attempts = n.attempts + 1, last_error = $2, \
             next_attempt_at = now() + least(interval '1 second' * power(2, n.attempts), interval '5 minutes'), \
             status = case when n.attempts + 1 >= $3 then 'failed' else n.status end, \
             failed_at = case when n.attempts + 1 >= $3 then now() end \
         from ",
        pending_locked_in_order!(),
        " where n.notification_id = locked.notification_id \
         returning n.agent_id, n.notification_type, n.status"
    ))
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
    // One row the gateway cannot read must not stop the relay for every other: it is skipped
    // (and stays pending, visible in the backlog) with an error in the log.
    Ok(rows
        .into_iter()
        .filter_map(|row| match row.into_stored() {
            Ok(stored) => Some(stored.notification),
            Err(error) => {
                tracing::error!(
                    error = &error as &dyn std::error::Error,
                    "a pending notification cannot be read; skipping it"
                );
                None
            }
        })
        .collect())
}

/// Pushes back the next attempt of rows whose publish had an unknown fate (outage, timeout).
pub async fn postpone<'e>(
    executor: impl PgExecutor<'e>,
    ids: &[Uuid],
    delay: std::time::Duration,
) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "update notifications n set next_attempt_at = now() + $2 from ",
        pending_locked_in_order!(),
        " where n.notification_id = locked.notification_id"
    ))
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
