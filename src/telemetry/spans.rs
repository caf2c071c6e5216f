//! The spans of a notification's path, named and attributed per the OpenTelemetry
//! semantic conventions (HTTP server spans, messaging producer spans).

use opentelemetry::{
    Context,
    trace::{SpanContext, TraceContextExt},
};
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The ids of a span, as lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceIds {
    pub trace_id: String,
    pub span_id: String,
    pub sampled: bool,
    /// The W3C `tracestate` carried with the context, if any.
    pub tracestate: Option<String>,
}

impl TraceIds {
    /// The `traceparent` header value (version 00).
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{}",
            self.trace_id,
            self.span_id,
            if self.sampled { "01" } else { "00" }
        )
    }
}

/// The server span of one request; `name` is `"{method} {route}"` (or the method alone
/// when no route matched), as the HTTP conventions ask.
pub fn request_span(
    method: &str,
    route: &str,
    name: &str,
    correlation_id: &str,
    parent: Option<SpanContext>,
) -> Span {
    let span = tracing::info_span!(
        "request",
        otel.name = name,
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        url.scheme = "http",
        http.response.status_code = Empty,
        otel.status_code = Empty,
        "error.type" = Empty,
        correlation_id = correlation_id,
    );
    if let Some(parent) = parent {
        let _ = span.set_parent(Context::new().with_remote_span_context(parent));
    }
    span
}

/// The producer span of one publish, a child of the current span. Its context is what the
/// message carries in `traceparent`, so the agent's work continues this trace.
pub fn producer_span(queue: &str, notification_id: &str, correlation_id: &str) -> Span {
    tracing::info_span!(
        "publish",
        // The destination template, not the queue: span names must stay low-cardinality.
        otel.name = "publish {agent_id}_queue",
        otel.kind = "producer",
        messaging.system = "rabbitmq",
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.destination.name = queue,
        messaging.destination.template = "{agent_id}_queue",
        messaging.rabbitmq.destination.routing_key = queue,
        messaging.message.id = notification_id,
        messaging.message.conversation_id = correlation_id,
        messaging.message.body.size = Empty,
        otel.status_code = Empty,
        "error.type" = Empty,
        correlation_id = correlation_id,
    )
}

/// A producer span for a republish by the relay: a child of the original producer span,
/// whose context the message keeps carrying.
pub fn republish_span(
    queue: &str,
    notification_id: &str,
    correlation_id: &str,
    original: SpanContext,
) -> Span {
    let span = producer_span(queue, notification_id, correlation_id);
    let _ = span.set_parent(Context::new().with_remote_span_context(original));
    span.set_attribute("vos.republish", true);
    span
}

/// The trace and span ids of `span`. When the span is disabled (no subscriber, as in some
/// tests) fresh random ids are returned, so callers always get a well-formed context.
pub fn ids_of(span: &Span) -> TraceIds {
    let cx = span.context();
    let otel_span = cx.span();
    let sc = otel_span.span_context();
    if sc.is_valid() {
        return TraceIds {
            trace_id: sc.trace_id().to_string(),
            span_id: sc.span_id().to_string(),
            sampled: sc.is_sampled(),
            tracestate: Some(sc.trace_state().header()).filter(|state| !state.is_empty()),
        };
    }
    let random = uuid::Uuid::new_v4().simple().to_string();
    TraceIds {
        trace_id: random.clone(),
        span_id: random[..16].to_owned(),
        sampled: false,
        tracestate: None,
    }
}
