//! The wire contract between the VOS gateway and its agents (`DESIGN.md`, "The message on
//! RabbitMQ" and "Agents and results"), shared by both sides so that it is written once.
//!
//! - The gateway publishes a [`Notification`] to `{agent_id}_queue` (default exchange),
//!   persistent, with `message_id` = notification id, `correlation_id`, `reply_to` =
//!   [`RESULTS_QUEUE`], and the W3C `traceparent` (and `tracestate`) headers.
//! - The agent answers with an [`AgentResult`] on [`RESULTS_QUEUE`] (default exchange),
//!   persistent, with its own `message_id`, the notification's `correlation_id` and its own
//!   `traceparent`.
//! - A notification that failed every attempt goes to [`dead_letter_queue`] of its agent's
//!   queue; a result the gateway cannot read goes to [`RESULTS_DEAD_LETTERS`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// Where agents send results, and where the gateway consumes them.
pub const RESULTS_QUEUE: &str = "vos.results";
/// Where the gateway puts results it cannot read.
pub const RESULTS_DEAD_LETTERS: &str = "vos.results.dlq";

/// The queue an agent consumes.
pub fn agent_queue(agent_id: &str) -> String {
    format!("{agent_id}_queue")
}

/// Where an agent puts a notification that failed every attempt.
pub fn dead_letter_queue(agent_id: &str) -> String {
    format!("{agent_id}_queue.dlq")
}

/// The body of a notification message, as an agent reads it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    pub notification_id: Uuid,
    pub agent_id: String,
    pub notification_type: String,
    pub source: String,
    /// The JSON object the client sent, exactly as sent.
    pub payload: Box<RawValue>,
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits: the gateway's producer span.
    pub span_id: String,
    pub correlation_id: String,
    /// When the gateway accepted it (RFC 3339, UTC).
    pub timestamp: DateTime<Utc>,
}

/// How an agent's work on a notification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Completed,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// One tool call made while handling a notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub name: String,
    pub duration_ms: f64,
    /// `ok` or `error`.
    pub status: String,
}

/// One language-model call made while handling a notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmUsage {
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// The result document an agent sends to [`RESULTS_QUEUE`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentResult {
    pub notification_id: Uuid,
    pub agent_id: String,
    pub status: Outcome,
    /// A JSON object: what the agent produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<RawValue>>,
    /// Why it failed, for `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub tools: Vec<ToolCall>,
    #[serde(default)]
    pub llm: Vec<LlmUsage>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_round_trips_and_its_optional_parts_may_be_absent() {
        let text = r#"{"notification_id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","agent_id":"weather","status":"completed","result":{"temp":21},"tools":[{"name":"get_weather","duration_ms":12.5,"status":"ok"}],"llm":[{"model":"demo-1","input_tokens":10,"output_tokens":4}],"started_at":"2026-11-30T12:00:00Z","finished_at":"2026-11-30T12:00:01Z"}"#;
        let result: AgentResult = serde_json::from_str(text).unwrap();
        assert_eq!(result.status, Outcome::Completed);
        assert_eq!(result.result.as_ref().unwrap().get(), r#"{"temp":21}"#);
        assert_eq!(serde_json::to_string(&result).unwrap(), text);
        let minimal = r#"{"notification_id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","agent_id":"a","status":"failed","error":"boom","started_at":"2026-11-30T12:00:00Z","finished_at":"2026-11-30T12:00:00Z"}"#;
        let failed: AgentResult = serde_json::from_str(minimal).unwrap();
        assert!(failed.tools.is_empty() && failed.llm.is_empty() && failed.result.is_none());
    }

    #[test]
    fn queue_names_follow_the_contract() {
        assert_eq!(agent_queue("weather"), "weather_queue");
        assert_eq!(dead_letter_queue("weather"), "weather_queue.dlq");
    }
}
