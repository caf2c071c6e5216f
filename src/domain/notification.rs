//! A notification: the request as received, as validated, and as stored and published.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use serde_json::value::RawValue;

use super::{AgentId, IdempotencyKey, Payload, ValidationError, validation::parse_label};
use crate::trace_context::TraceStamp;

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
    /// Free-form JSON object for the agent; `{}` when absent or null. Delivered exactly as
    /// sent.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Box<RawValue>>,
}

/// A notification request that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub agent_id: AgentId,
    pub notification_type: String,
    pub source: String,
    pub payload: Payload,
}

impl NewNotification {
    pub fn parse(agent_id: &str, request: NotifyRequest) -> Result<Self, ValidationError> {
        let payload = Payload::parse(request.payload)?;
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

/// A notification accepted by the gateway, as stored and as published.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub notification_id: Uuid,
    pub agent_id: AgentId,
    pub notification_type: String,
    pub source: String,
    pub payload: Payload,
    pub correlation_id: String,
    pub trace: TraceStamp,
    pub accepted_at: DateTime<Utc>,
    /// The client's `Idempotency-Key`, unique per agent.
    pub idempotency_key: Option<IdempotencyKey>,
}

impl Notification {
    /// Stamps a validated request: the notification as it will be stored and published.
    pub fn accept(
        new: NewNotification,
        notification_id: Uuid,
        correlation_id: String,
        trace: TraceStamp,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Self {
        Self {
            notification_id,
            agent_id: new.agent_id,
            notification_type: new.notification_type,
            source: new.source,
            payload: new.payload,
            correlation_id,
            trace,
            accepted_at: Utc::now(),
            idempotency_key,
        }
    }

    /// Whether `new` asks for the same notification as this one (an idempotent retry).
    pub fn same_request_as(&self, new: &NewNotification) -> bool {
        self.agent_id == new.agent_id
            && self.notification_type == new.notification_type
            && self.source == new.source
            && self.payload.same_value_as(&new.payload)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::MAX_LABEL_CHARS;

    #[test]
    fn payload_must_be_an_object_and_defaults_to_empty() {
        let request = |payload: Option<serde_json::Value>| NotifyRequest {
            notification_type: "t".into(),
            source: "s".into(),
            payload: payload.map(|p| serde_json::value::to_raw_value(&p).unwrap()),
        };
        let parsed = NewNotification::parse("a", request(None)).unwrap();
        assert_eq!(parsed.payload.as_str(), "{}");
        assert!(NewNotification::parse("a", request(Some(serde_json::json!([1])))).is_err());
        assert!(NewNotification::parse("a", request(Some(serde_json::json!("x")))).is_err());
    }

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
        fn the_validator_never_panics_and_accepts_only_clean_labels(
            agent in "[a-z0-9_-]{0,70}|.{0,10}",
            notification_type in ".{0,200}",
            source in ".{0,200}",
            payload in prop::option::of(json_value()),
        ) {
            let payload = payload.map(|p| serde_json::value::to_raw_value(&p).unwrap());
            let request = NotifyRequest { notification_type, source, payload };
            if let Ok(accepted) = NewNotification::parse(&agent, request) {
                for label in [&accepted.notification_type, &accepted.source] {
                    prop_assert!(!label.is_empty());
                    prop_assert!(label.chars().count() <= MAX_LABEL_CHARS);
                    prop_assert!(!label.chars().any(char::is_control));
                    prop_assert_eq!(label.trim(), label.as_str());
                }
                prop_assert!(accepted.payload.as_str().starts_with('{'), "an object");
            }
        }
    }
}
