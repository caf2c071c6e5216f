//! The spans of a notification's path, named and attributed per the OpenTelemetry
//! semantic conventions (HTTP server spans, messaging producer spans).

use opentelemetry::{
    Context,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// `http.route` of a request that matched no route: raw paths would explode cardinality.
pub const UNMATCHED: &str = "unmatched";

/// The caller's trace context, and what the request span makes of it.
#[derive(Debug, Clone)]
pub enum Remote {
    /// No valid `traceparent`: a new trace.
    None,
    /// A trusted caller's context: the request continues its trace (sampling follows it).
    Parent(SpanContext),
    /// An untrusted caller's context: a new root trace that links to it. The caller's sampled
    /// flag does not decide sampling, so a `-00` cannot hide a request and a `-01` cannot force
    /// its export.
    Link(SpanContext),
}

/// The server span of one request, named `"{method} {route}"` (the method alone when no
/// route matched, `route` = `None`), as the HTTP conventions ask.
pub fn request_span(
    method: &str,
    route: Option<&str>,
    correlation_id: &str,
    key_prefix: Option<&str>,
    client_address: Option<&str>,
    remote: Remote,
) -> Span {
    // `format_args!`: the name is formatted once, by the OTel layer, not into a String first.
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{method}{}{}", if route.is_some() { " " } else { "" }, route.unwrap_or_default()),
        otel.kind = "server",
        http.request.method = method,
        http.route = route.unwrap_or(UNMATCHED),
        url.scheme = "http",
        http.response.status_code = Empty,
        otel.status_code = Empty,
        "error.type" = Empty,
        "auth.key_prefix" = key_prefix,
        "client.address" = client_address,
        correlation_id = correlation_id,
    );
    match remote {
        Remote::None => {}
        Remote::Parent(parent) => {
            let _ = span.set_parent(Context::new().with_remote_span_context(parent));
        }
        Remote::Link(caller) => span.add_link(caller),
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

/// The OpenTelemetry context of `span`. When the span is disabled (no subscriber, as in some
/// tests) fresh random ids are returned, so callers always get a well-formed context.
pub fn span_context(span: &Span) -> SpanContext {
    let sc = span.context().span().span_context().clone();
    if sc.is_valid() {
        return sc;
    }
    let random = uuid::Uuid::new_v4().as_u128();
    SpanContext::new(
        TraceId::from(random),
        SpanId::from(random as u64 | 1),
        TraceFlags::default(),
        false,
        TraceState::NONE,
    )
}
