//! Trace context: reading the gateway's `traceparent` from a delivery, the consumer span that
//! continues it, and the `traceparent` a result carries onwards.

use lapin::{
    BasicProperties,
    types::{AMQPValue, FieldTable},
};
use opentelemetry::{
    Context,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// What the delivery said about its trace.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Remote {
    /// No `traceparent` header.
    Absent,
    /// A header that is not W3C Trace Context: a new root trace, marked as such.
    Invalid,
    Valid(SpanContext),
}

impl Remote {
    pub(crate) fn span_context(&self) -> Option<&SpanContext> {
        match self {
            Self::Valid(context) => Some(context),
            _ => None,
        }
    }
}

/// Reads `traceparent` (and `tracestate`) from the headers. Publishers differ in how they
/// encode header strings (pika and most SDKs: long string; some: short string or bytes), so
/// all three are accepted.
pub(crate) fn remote(headers: Option<&FieldTable>) -> Remote {
    let Some(headers) = headers else {
        return Remote::Absent;
    };
    let Some(value) = headers.inner().get("traceparent") else {
        return Remote::Absent;
    };
    let Some(context) = header_text(value).and_then(parse_traceparent) else {
        return Remote::Invalid;
    };
    let state = headers
        .inner()
        .get("tracestate")
        .and_then(header_text)
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(|text| text.parse::<TraceState>().ok())
        .unwrap_or_default();
    Remote::Valid(SpanContext::new(
        context.trace_id(),
        context.span_id(),
        context.trace_flags(),
        true,
        state,
    ))
}

/// The bytes of a string-like header value.
pub(crate) fn header_text(value: &AMQPValue) -> Option<&[u8]> {
    match value {
        AMQPValue::LongString(text) => Some(text.as_bytes()),
        AMQPValue::ShortString(text) => Some(text.as_str().as_bytes()),
        AMQPValue::ByteArray(bytes) => Some(bytes.as_slice()),
        _ => None,
    }
}

/// Parses a W3C `traceparent` strictly: lowercase hex, non-zero ids, version `00` exactly
/// 55 characters (a later version may append fields after a `-`), never version `ff`.
pub(crate) fn parse_traceparent(text: &[u8]) -> Option<SpanContext> {
    let text = std::str::from_utf8(text).ok()?.trim();
    let lower_hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if text.len() < 55 || !text.is_char_boundary(55) {
        return None;
    }
    let (head, tail) = text.split_at(55);
    let parts: Vec<&str> = head.split('-').collect();
    let [version, trace, span, flags] = parts.as_slice() else {
        return None;
    };
    if version.len() != 2 || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
        return None;
    }
    if !(lower_hex(version) && lower_hex(trace) && lower_hex(span) && lower_hex(flags)) {
        return None;
    }
    if *version == "ff" || (*version == "00" && !tail.is_empty()) {
        return None;
    }
    if !tail.is_empty() && !tail.starts_with('-') {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        TraceState::NONE,
    ))
}

/// The CONSUMER span for one delivery, per the messaging conventions: named
/// `process {queue}`, a child of the producer's context (one trace from the client's request
/// to the agent's answer, as the seed shows it) and also linked to it, as the conventions
/// ask of every process span.
pub(crate) fn process_span(
    agent_id: &str,
    queue: &str,
    delivery_tag: u64,
    properties: &BasicProperties,
    body_size: usize,
    remote: &Remote,
) -> Span {
    let span = tracing::info_span!(
        "process",
        otel.name = %format_args!("process {queue}"),
        otel.kind = "consumer",
        otel.status_code = Empty,
        otel.status_description = Empty,
        messaging.system = "rabbitmq",
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = queue,
        messaging.message.id = properties.message_id().as_ref().map(|id| id.as_str()),
        messaging.message.conversation_id = properties.correlation_id().as_ref().map(|id| id.as_str()),
        messaging.message.body.size = body_size,
        messaging.rabbitmq.message.delivery_tag = delivery_tag,
        vos.agent_id = agent_id,
        vos.notification_type = Empty,
        vos.attempts = Empty,
        vos.duplicate = Empty,
        vos.trace_context.invalid = Empty,
        "error.type" = Empty,
    );
    match remote {
        Remote::Valid(context) => {
            let _ = span.set_parent(Context::new().with_remote_span_context(context.clone()));
            span.add_link(context.clone());
        }
        Remote::Invalid => {
            span.record("vos.trace_context.invalid", true);
        }
        Remote::Absent => {}
    }
    span
}

/// Marks `span` failed with a low-cardinality `error.type`.
pub(crate) fn fail(span: &Span, error_type: &'static str) {
    span.record("otel.status_code", "error");
    span.record("otel.status_description", error_type);
    span.record("error.type", error_type);
}

/// The `traceparent` a result carries: the consumer span's own context, so the gateway's
/// result consumer joins the trace. Without an OpenTelemetry layer (spans disabled) the
/// remote trace id is kept with a fresh span id, so the trace still joins up.
pub(crate) fn traceparent(span: &Span, remote: &Remote) -> String {
    let own = span.context().span().span_context().clone();
    let context = if own.is_valid() {
        own
    } else {
        let random = uuid::Uuid::new_v4().as_u128();
        let (trace_id, flags) = match remote.span_context() {
            Some(parent) => (parent.trace_id(), parent.trace_flags()),
            None => (TraceId::from(random), TraceFlags::default()),
        };
        SpanContext::new(
            trace_id,
            SpanId::from((random as u64) | 1),
            flags,
            false,
            TraceState::NONE,
        )
    };
    format!(
        "00-{}-{}-{:02x}",
        context.trace_id(),
        context.span_id(),
        context.trace_flags().to_u8()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn headers(value: AMQPValue) -> FieldTable {
        let mut table = FieldTable::default();
        table.insert("traceparent".into(), value);
        table
    }

    #[test]
    fn traceparent_is_accepted_as_long_string_short_string_or_bytes() {
        for value in [
            AMQPValue::LongString(VALID.into()),
            AMQPValue::ShortString(VALID.into()),
            AMQPValue::ByteArray(VALID.as_bytes().into()),
        ] {
            let Remote::Valid(context) = remote(Some(&headers(value))) else {
                panic!("not accepted");
            };
            assert_eq!(
                context.trace_id().to_string(),
                "4bf92f3577b34da6a3ce929d0e0e4736"
            );
            assert!(context.is_remote() && context.is_sampled());
        }
    }

    #[test]
    fn invalid_traceparents_are_rejected() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad.as_bytes()).is_none(), "{bad}");
        }
        assert_eq!(
            remote(Some(&headers(AMQPValue::LongInt(7)))),
            Remote::Invalid
        );
        assert_eq!(remote(None), Remote::Absent);
    }

    #[test]
    fn a_later_version_may_carry_more_fields() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more";
        assert!(parse_traceparent(later.as_bytes()).is_some());
    }
}
