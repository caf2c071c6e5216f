//! Notifications as the gateway understands them: validated on the way in, so that every
//! later stage handles only well-formed values. Pure; no I/O.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest `notification_type` or `source`, in characters.
pub const MAX_LABEL_CHARS: usize = 128;

/// An agent id: 1–64 of `a-z`, `0-9`, `-`, `_`, starting with a letter or digit.
///
/// The queue name `{agent_id}_queue` is derived from it, so the allow-list keeps out
/// everything RabbitMQ treats specially (`amq.` prefixes, dots, wildcards, NUL, long names).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AgentId(String);

impl AgentId {
    /// ```
    /// use vos_gateway::domain::AgentId;
    ///
    /// assert_eq!(AgentId::parse("weather_agent").unwrap().queue_name(), "weather_agent_queue");
    /// assert!(AgentId::parse("amq.gen").is_err());
    /// assert!(AgentId::parse("Weather").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let valid_chars = value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        let starts_well = value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
        if value.is_empty() || value.len() > 64 || !valid_chars || !starts_well {
            return Err(ValidationError::new(
                "agent_id",
                "must be 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter or digit",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The agent's queue on the default exchange.
    pub fn queue_name(&self) -> String {
        format!("{}_queue", self.0)
    }
}

/// A short, printable label (`notification_type`, `source`).
fn parse_label(field: &'static str, value: &str) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > MAX_LABEL_CHARS {
        return Err(ValidationError::new(
            field,
            "must be at most 128 characters",
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// The JSON body of `POST /api/v1/agents/{agent_id}/notify`, as received.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyRequest {
    /// What kind of notification this is, e.g. `user_message`. Trimmed; 1-128 characters,
    /// no control characters.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
    )]
    pub notification_type: String,
    /// Who sent it. Same rules as `notification_type`.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
    )]
    pub source: String,
    /// Free-form JSON object for the agent; `{}` when absent or null.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
}

/// A notification request that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub agent_id: AgentId,
    pub notification_type: String,
    pub source: String,
    pub payload: serde_json::Value,
}

impl NewNotification {
    pub fn parse(agent_id: &str, request: NotifyRequest) -> Result<Self, ValidationError> {
        let payload = match request.payload {
            None | Some(serde_json::Value::Null) => serde_json::Value::Object(Default::default()),
            Some(object @ serde_json::Value::Object(_)) => object,
            Some(_) => return Err(ValidationError::new("payload", "must be a JSON object")),
        };
        Ok(Self {
            agent_id: AgentId::parse(agent_id)?,
            notification_type: parse_label("notification_type", &request.notification_type)?,
            source: parse_label("source", &request.source)?,
            payload,
        })
    }
}

/// Where a notification is on its way to the agent's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Committed, not yet confirmed by the broker.
    Pending,
    /// Confirmed by the broker as a persistent message in the queue.
    Published,
    /// Rejected by the broker too many times; kept for an operator.
    Failed,
}

/// W3C trace context stamped on a notification when it is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceStamp {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits: the producer span, parent of the consumer's work.
    pub span_id: String,
    pub sampled: bool,
    pub tracestate: Option<String>,
}

impl TraceStamp {
    /// The `traceparent` header value (version 00).
    pub fn traceparent(&self) -> String {
        let flags = if self.sampled { "01" } else { "00" };
        format!("00-{}-{}-{flags}", self.trace_id, self.span_id)
    }
}

/// A notification accepted by the gateway, as stored and as published.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub notification_id: Uuid,
    pub agent_id: AgentId,
    pub notification_type: String,
    pub source: String,
    pub payload: serde_json::Value,
    pub correlation_id: String,
    pub trace: TraceStamp,
    pub accepted_at: DateTime<Utc>,
    /// The client's `Idempotency-Key`, unique per agent.
    pub idempotency_key: Option<String>,
}

impl Notification {
    /// Whether `new` asks for the same notification as this one (an idempotent retry).
    pub fn same_request_as(&self, new: &NewNotification) -> bool {
        self.agent_id == new.agent_id
            && self.notification_type == new.notification_type
            && self.source == new.source
            && self.payload == new.payload
    }
}

/// A field of the input that broke a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct ValidationError {
    pub field: &'static str,
    pub problem: &'static str,
}

impl ValidationError {
    pub fn new(field: &'static str, problem: &'static str) -> Self {
        Self { field, problem }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids_follow_the_allow_list() {
        for good in ["a", "weather_agent", "agent-7", "0", &"x".repeat(64)] {
            assert!(AgentId::parse(good).is_ok(), "{good} should be accepted");
        }
        let long = "x".repeat(65);
        for bad in [
            "", "Agent", "amq.gen", "a.b", "a#", "*", "-a", "_a", "a b", "é", "a\0", &long,
        ] {
            assert!(AgentId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn payload_must_be_an_object_and_defaults_to_empty() {
        let request = |payload| NotifyRequest {
            notification_type: "t".into(),
            source: "s".into(),
            payload,
        };
        let parsed = NewNotification::parse("a", request(None)).unwrap();
        assert_eq!(parsed.payload, serde_json::json!({}));
        assert!(NewNotification::parse("a", request(Some(serde_json::json!([1])))).is_err());
        assert!(NewNotification::parse("a", request(Some(serde_json::json!("x")))).is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn json_value() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                ".*".prop_map(serde_json::Value::from),
            ];
            leaf.prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                    prop::collection::hash_map(".*", inner, 0..4)
                        .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn accepted_agent_ids_always_make_plain_queue_names(id in ".{0,80}") {
                if let Ok(agent) = AgentId::parse(&id) {
                    let queue = agent.queue_name();
                    prop_assert!(queue.len() <= 70);
                    prop_assert!(!queue.starts_with("amq."));
                    prop_assert!(queue.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'));
                }
            }

            #[test]
            fn the_validator_never_panics_and_accepts_only_clean_labels(
                agent in "[a-z0-9_-]{0,70}|.{0,10}",
                notification_type in ".{0,200}",
                source in ".{0,200}",
                payload in prop::option::of(json_value()),
            ) {
                let request = NotifyRequest { notification_type, source, payload };
                if let Ok(accepted) = NewNotification::parse(&agent, request) {
                    for label in [&accepted.notification_type, &accepted.source] {
                        prop_assert!(!label.is_empty());
                        prop_assert!(label.chars().count() <= MAX_LABEL_CHARS);
                        prop_assert!(!label.chars().any(char::is_control));
                        prop_assert_eq!(label.trim(), label.as_str());
                    }
                    prop_assert!(accepted.payload.is_object());
                }
            }
        }
    }
}
