//! What `GET /api/v1/notifications/{id}` shows of a stored notification.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::{
    domain::{DeliveryState, Payload},
    store::StoredNotification,
};

/// A stored notification, its delivery state and the agent's outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationView {
    pub notification_id: Uuid,
    pub agent_id: String,
    pub notification_type: String,
    pub source: String,
    /// Exactly as accepted.
    #[schema(value_type = Object)]
    pub payload: Payload,
    pub correlation_id: String,
    pub trace_id: String,
    pub span_id: String,
    pub status: DeliveryState,
    pub attempts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub accepted_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    /// `null` until the agent answers; then `completed` or `failed`.
    #[schema(value_type = Option<String>, example = "completed")]
    pub outcome: Option<String>,
    /// What the agent produced, as it sent it.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Box<RawValue>>,
    pub error: Option<String>,
    /// The tools the agent called: `[{name, duration_ms, status}]`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<Box<RawValue>>,
    /// Its language-model usage: `[{model, input_tokens, output_tokens}]`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub llm: Option<Box<RawValue>>,
    /// The agent's clock: when it started and finished.
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Acceptance to the agent starting (broker, queue and relay included).
    pub queue_wait_ms: Option<f64>,
    /// The agent's own processing time.
    pub processing_ms: Option<f64>,
    /// Acceptance to the result recorded by the gateway.
    pub end_to_end_ms: Option<f64>,
}

fn millis(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<f64> {
    Some((to? - from?).num_microseconds()? as f64 / 1000.0)
}

fn raw(text: Option<String>) -> Option<Box<RawValue>> {
    RawValue::from_string(text?).ok()
}

impl From<StoredNotification> for NotificationView {
    fn from(stored: StoredNotification) -> Self {
        let n = stored.notification;
        let answer = stored.answer;
        let accepted = Some(n.accepted_at);
        let (started, completed, recorded) = answer.as_ref().map_or((None, None, None), |a| {
            (a.started_at, a.completed_at, a.recorded_at)
        });
        let (outcome, result, error, tools, llm) = match answer {
            Some(a) => (
                Some(a.outcome),
                raw(a.result),
                a.error,
                raw(a.tools),
                raw(a.llm),
            ),
            None => (None, None, None, None, None),
        };
        Self {
            notification_id: n.notification_id,
            agent_id: n.agent_id.as_str().to_owned(),
            notification_type: n.notification_type,
            source: n.source,
            payload: n.payload,
            correlation_id: n.correlation_id,
            trace_id: n.trace.trace_id.to_string(),
            span_id: n.trace.span_id.to_string(),
            status: stored.status,
            attempts: stored.attempts,
            last_error: stored.last_error,
            accepted_at: n.accepted_at,
            published_at: stored.published_at,
            failed_at: stored.failed_at,
            outcome,
            result,
            error,
            tools,
            llm,
            started_at: started,
            completed_at: completed,
            queue_wait_ms: millis(accepted, started),
            processing_ms: millis(started, completed),
            end_to_end_ms: millis(accepted, recorded),
        }
    }
}
