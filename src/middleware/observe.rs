//! The one middleware around every route: correlation id, server span (continuing a valid
//! incoming `traceparent`), problem rendering, response headers, metrics and the log line.

use std::time::Instant;

use axum::body::HttpBody as _;
use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, Method, header},
    middleware::Next,
    response::Response,
};
use tracing::Instrument;

use super::{
    CorrelationId,
    correlation::{X_CORRELATION_ID, correlation_id},
    problem,
};
use crate::{
    error::LoggedError,
    metrics::{HttpLabels, HttpRouteLabels, Metrics, TraceExemplar, TraceIdLabel},
    telemetry::{self, UNMATCHED},
    trace_context::{TraceParent, sanitize_tracestate, traceparent_bytes},
};

/// Runs once per request, so it allocates as little as it can: static method names,
/// interned route templates, ids formatted on the stack.
pub async fn observe(State(metrics): State<Metrics>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = metrics
        .routes
        .label(matched.as_ref().map_or(UNMATCHED, MatchedPath::as_str));
    let path = request.uri().path().to_owned();
    let cid = correlation_id(request.headers());
    let span = telemetry::request_span(
        method,
        matched.as_ref().map(MatchedPath::as_str),
        &cid,
        remote_parent(request.headers()),
    );
    request.extensions_mut().insert(CorrelationId(cid.clone()));
    let request_size = content_length(request.headers());

    let active = metrics
        .active_requests
        .get_or_create_owned(&HttpRouteLabels {
            http_request_method: method,
            http_route: route.clone(),
        });
    active.inc();
    let response = next.run(request).instrument(span.clone()).await;
    active.dec();

    let status = response.status();
    let error = response.extensions().get::<LoggedError>().cloned();
    let mut response = problem::render(response, &cid, &path);
    let context = telemetry::span_context(&span);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&cid) {
        headers.insert(X_CORRELATION_ID, value);
    }
    let traceparent = traceparent_bytes(
        context.trace_id().to_bytes(),
        context.span_id().to_bytes(),
        context.trace_flags().to_u8(),
    );
    if let Ok(value) = HeaderValue::from_bytes(&traceparent) {
        headers.insert("traceparent", value);
    }

    let elapsed = started.elapsed();
    let response_size = response.body().size_hint().exact().unwrap_or(0);
    let labels = HttpLabels {
        http_request_method: method,
        http_route: route,
        http_response_status_code: status.as_u16(),
    };
    metrics.request_duration.get_or_create(&labels).observe(
        elapsed.as_secs_f64(),
        Some(TraceExemplar {
            trace_id: TraceIdLabel(u128::from_be_bytes(context.trace_id().to_bytes())),
        }),
        None,
    );
    metrics
        .request_body_size
        .get_or_create(&labels)
        .observe(request_size as f64);
    metrics
        .response_body_size
        .get_or_create(&labels)
        .observe(response_size as f64);

    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
        span.record("error.type", status.as_str());
    }
    span.in_scope(|| {
        if let Some(LoggedError(error)) = &error {
            let error = error.as_ref() as &dyn std::error::Error;
            if status.is_server_error() {
                tracing::error!(error, "request failed");
            } else {
                tracing::info!(error, "request rejected");
            }
        }
        tracing::info!(
            http.request.method = method,
            http.route = &*labels.http_route,
            http.response.status_code = status.as_u16(),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            request_size,
            response_size,
            "request completed"
        );
    });
    response
}

/// `http.request.method` as the HTTP conventions define it: the standard methods by name,
/// anything else as `_OTHER`, so that a client cannot invent label values.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "_OTHER",
    }
}

/// A valid `traceparent` (with its sanitised `tracestate`) continues the caller's trace;
/// anything else is ignored and a new trace starts, as the W3C spec requires.
fn remote_parent(headers: &axum::http::HeaderMap) -> Option<opentelemetry::trace::SpanContext> {
    let mut values = headers.get_all("traceparent").iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None; // Several traceparent headers: ambiguous, so invalid.
    }
    let parent = TraceParent::parse(first.to_str().ok()?)?;
    let tracestate = sanitize_tracestate(
        headers
            .get_all("tracestate")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    Some(parent.to_span_context(tracestate.as_deref()))
}

fn content_length(headers: &axum::http::HeaderMap) -> u64 {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0)
}
