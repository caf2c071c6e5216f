//! One `notifications` row, and its mapping to the domain types.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Answer, StoredNotification};
use crate::{
    domain::{AgentId, DeliveryState, IdempotencyKey, Notification, Payload},
    store::StoreError,
    trace_context::TraceStamp,
};

/// The columns of [`Row`], as a literal for `concat!`.
macro_rules! columns {
    () => {
        "notification_id, agent_id, notification_type, source, payload::text as payload, \
         correlation_id, trace_id, \
         span_id, trace_sampled, tracestate, status, attempts, last_error, accepted_at, \
         published_at, failed_at, idempotency_key, outcome, result::text as result, error, \
         tools::text as tools, llm::text as llm, started_at, completed_at, result_recorded_at"
    };
}

#[derive(sqlx::FromRow)]
pub(super) struct Row {
    notification_id: Uuid,
    agent_id: String,
    notification_type: String,
    source: String,
    payload: String,
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
    outcome: Option<String>,
    result: Option<String>,
    error: Option<String>,
    tools: Option<String>,
    llm: Option<String>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    result_recorded_at: Option<DateTime<Utc>>,
}

impl Row {
    pub(super) fn into_stored(self) -> Result<StoredNotification, StoreError> {
        let agent_id = AgentId::parse(&self.agent_id).map_err(decode_error)?;
        let payload = Payload::from_stored(self.payload).map_err(decode_error)?;
        let trace = TraceStamp::from_hex(
            &self.trace_id,
            &self.span_id,
            self.trace_sampled,
            self.tracestate,
        )
        .ok_or_else(|| decode_error("trace_id and span_id must be lowercase hex"))?;
        let idempotency_key = self
            .idempotency_key
            .as_deref()
            .map(IdempotencyKey::parse)
            .transpose()
            .map_err(decode_error)?;
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
                payload,
                correlation_id: self.correlation_id,
                trace,
                accepted_at: self.accepted_at,
                idempotency_key,
            },
            status,
            attempts: self.attempts,
            last_error: self.last_error,
            published_at: self.published_at,
            failed_at: self.failed_at,
            answer: self.outcome.map(|outcome| Answer {
                outcome,
                result: self.result,
                error: self.error,
                tools: self.tools,
                llm: self.llm,
                started_at: self.started_at,
                completed_at: self.completed_at,
                recorded_at: self.result_recorded_at,
            }),
        })
    }
}

/// A row that does not hold what the gateway writes (changed by hand, or a bug).
fn decode_error(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::Query(sqlx::Error::Decode(error.into()))
}
