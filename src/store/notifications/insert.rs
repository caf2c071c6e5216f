//! The batch insert: one statement, one round trip and one commit for many notifications.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{domain::Notification, store::StoreError};

/// A batch as one array per column, for `unnest`.
#[derive(Default)]
struct Columns<'a> {
    ids: Vec<Uuid>,
    agents: Vec<&'a str>,
    types: Vec<&'a str>,
    sources: Vec<&'a str>,
    payloads: Vec<&'a str>,
    correlations: Vec<&'a str>,
    trace_ids: Vec<String>,
    span_ids: Vec<String>,
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
        self.payloads.push(n.payload.as_str());
        self.correlations.push(&n.correlation_id);
        self.trace_ids.push(n.trace.trace_id.to_string());
        self.span_ids.push(n.trace.span_id.to_string());
        self.sampled.push(n.trace.sampled);
        self.tracestates.push(n.trace.tracestate.as_deref());
        self.accepted.push(n.accepted_at);
        self.next_attempts.push(n.accepted_at + grace);
        self.idempotency_keys
            .push(n.idempotency_key.as_ref().map(|key| key.as_str()));
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
         select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::json[], \
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
