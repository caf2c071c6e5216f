//! The trace context a notification carries from acceptance to its agent.

use std::str::FromStr;

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

use super::{TRACEPARENT_LEN, encode_traceparent};

/// The producer span's context, stamped on a notification when it is accepted: stored with
/// the row, sent in the message's `traceparent`, and the parent of every republish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceStamp {
    pub trace_id: TraceId,
    /// The producer span: parent of the consumer's work.
    pub span_id: SpanId,
    pub sampled: bool,
    /// The W3C `tracestate` carried with the context, if any (already sanitised).
    pub tracestate: Option<String>,
}

impl TraceStamp {
    /// The stamp of a live span's context.
    pub fn of(context: &SpanContext) -> Self {
        Self {
            trace_id: context.trace_id(),
            span_id: context.span_id(),
            sampled: context.is_sampled(),
            tracestate: Some(context.trace_state().header()).filter(|state| !state.is_empty()),
        }
    }

    /// A stamp read back from storage, where the ids are lowercase hex; `None` if they are not.
    pub fn from_hex(
        trace_id: &str,
        span_id: &str,
        sampled: bool,
        tracestate: Option<String>,
    ) -> Option<Self> {
        Some(Self {
            trace_id: TraceId::from_hex(trace_id).ok()?,
            span_id: SpanId::from_hex(span_id).ok()?,
            sampled,
            tracestate,
        })
    }

    /// The context as a remote parent, for spans that continue this notification's trace.
    pub fn to_span_context(&self) -> SpanContext {
        let state = self
            .tracestate
            .as_deref()
            .and_then(|state| TraceState::from_str(state).ok())
            .unwrap_or_default();
        let flags = if self.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        SpanContext::new(self.trace_id, self.span_id, flags, true, state)
    }

    /// The `traceparent` header value (version 00).
    pub fn traceparent(&self) -> [u8; TRACEPARENT_LEN] {
        encode_traceparent(
            self.trace_id.to_bytes(),
            self.span_id.to_bytes(),
            u8::from(self.sampled),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_survives_storage_and_becomes_the_same_remote_context() {
        let context = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::from_str("rojo=1,congo=2").unwrap(),
        );
        let stamp = TraceStamp::of(&context);

        let stored = TraceStamp::from_hex(
            &stamp.trace_id.to_string(),
            &stamp.span_id.to_string(),
            stamp.sampled,
            stamp.tracestate.clone(),
        );

        assert_eq!(stored.as_ref(), Some(&stamp));
        let parent = stamp.to_span_context();
        assert!(parent.is_remote() && parent.is_sampled());
        assert_eq!(
            (parent.trace_id(), parent.span_id()),
            (context.trace_id(), context.span_id())
        );
        assert_eq!(parent.trace_state().header(), "rojo=1,congo=2");
        assert_eq!(
            &stamp.traceparent(),
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(
            TraceStamp::from_hex("xyz", "00f067aa0ba902b7", true, None),
            None
        );
    }
}
