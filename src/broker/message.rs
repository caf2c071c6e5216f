//! The AMQP message for a notification: the JSON body agents read, and the properties and
//! headers that let any OpenTelemetry SDK continue the trace.

use lapin::{
    BasicProperties,
    types::{AMQPValue, FieldTable},
};
use serde::Serialize;

use crate::{
    domain::{Notification, Payload},
    privacy,
};

/// AMQP delivery mode 2: the broker writes the message to disk (with a durable queue).
const PERSISTENT: u8 = 2;

/// The message body, as agents consume it.
#[derive(Debug, Serialize)]
struct Body<'a> {
    notification_id: uuid::Uuid,
    agent_id: &'a str,
    notification_type: &'a str,
    source: &'a str,
    payload: &'a Payload,
    trace_id: String,
    span_id: String,
    correlation_id: &'a str,
    timestamp: String,
}

/// An encoded message, ready for `basic.publish`.
pub struct Outbound {
    pub body: Vec<u8>,
    pub properties: BasicProperties,
}

/// Encodes `notification` for its agent's queue.
pub fn encode(notification: &Notification, reply_to: &str) -> Outbound {
    let body = Body {
        notification_id: notification.notification_id,
        agent_id: notification.agent_id.as_str(),
        notification_type: &notification.notification_type,
        source: &notification.source,
        payload: &notification.payload,
        trace_id: notification.trace.trace_id.to_string(),
        span_id: notification.trace.span_id.to_string(),
        correlation_id: &notification.correlation_id,
        timestamp: notification
            .accepted_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    };
    let body = serde_json::to_vec(&body).expect("a notification always serialises");

    // W3C Trace Context in the headers table, where the pika and amqplib instrumentations
    // (and so every OTel SDK's propagator with a header-table getter) look for it.
    let mut headers = FieldTable::default();
    headers.insert(
        "traceparent".into(),
        AMQPValue::LongString(notification.trace.traceparent().into()),
    );
    // A trusted caller's tracestate travels on (W3C); like everything the gateway adds to a
    // message, it goes through the redaction policy first.
    if let Some(tracestate) = &notification.trace.tracestate {
        let tracestate = privacy::policy().text(tracestate);
        headers.insert(
            "tracestate".into(),
            AMQPValue::LongString(tracestate.as_bytes().into()),
        );
    }

    let properties = BasicProperties::default()
        .with_message_id(notification.notification_id.to_string().into())
        .with_correlation_id(notification.correlation_id.as_str().into())
        .with_content_type("application/json".into())
        .with_delivery_mode(PERSISTENT)
        .with_timestamp(notification.accepted_at.timestamp().max(0) as u64)
        .with_type(notification.notification_type.as_str().into())
        .with_app_id("vos-gateway".into())
        // Where the agent answers: `[amqp] results_queue`, `vos.results` by default.
        .with_reply_to(reply_to.into())
        .with_headers(headers);
    Outbound { body, properties }
}
