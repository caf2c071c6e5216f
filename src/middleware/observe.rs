//! The one middleware around every route: correlation id, server span (continuing a valid
//! incoming `traceparent`), problem rendering, response headers, metrics and the log line.
//!
//! It runs once per request, so it allocates as little as it can: static method names,
//! interned route templates, ids formatted on the stack.

use std::{sync::Arc, time::Instant};

use axum::body::HttpBody as _;
use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::Response,
};
use opentelemetry::trace::SpanContext;
use prometheus_client::metrics::gauge::Gauge;
use tracing::{Instrument, Span};

use super::{
    Caller, CorrelationId,
    correlation::{X_CORRELATION_ID, correlation_id},
    problem,
};
use crate::{
    error::LoggedError,
    metrics::{HttpLabels, HttpRouteLabels, Metrics, TraceExemplar},
    telemetry::{self, Remote, UNMATCHED},
    trace_context::{TraceParent, encode_traceparent, sanitize_tracestate},
};

pub async fn observe(State(metrics): State<Metrics>, mut request: Request, next: Next) -> Response {
    let observed = Observed::begin(&metrics, &mut request);
    let response = next.run(request).instrument(observed.span.clone()).await;
    observed.finish(&metrics, response)
}

/// A request between its arrival and its response.
struct Observed {
    started: Instant,
    method: &'static str,
    route: Arc<str>,
    correlation_id: Arc<str>,
    span: Span,
    key_prefix: Option<Arc<str>>,
    client_address: Option<Arc<str>>,
    request_size: u64,
    active: Gauge,
}

impl Observed {
    /// Names the request, opens its server span, hands the correlation id to the handlers and
    /// counts it active.
    fn begin(metrics: &Metrics, request: &mut Request) -> Self {
        let started = Instant::now();
        let method = method_label(request.method());
        let matched = request.extensions().get::<MatchedPath>();
        let template = matched.map(MatchedPath::as_str);
        let route = metrics.routes.label(template.unwrap_or(UNMATCHED));
        let correlation_id = correlation_id(request.headers());
        let caller = request.extensions().get::<Caller>();
        let trusted = caller.is_some_and(|caller| caller.trusted);
        let key_prefix = caller
            .and_then(|caller| caller.key.as_ref().ok())
            .map(|key| key.display_prefix.clone());
        let client_address = caller.and_then(|caller| caller.recorded_address.clone());
        let span = telemetry::request_span(
            method,
            template,
            &correlation_id,
            key_prefix.as_deref(),
            client_address.as_deref(),
            remote(request.headers(), trusted),
        );
        let request_size = content_length(request.headers());
        request
            .extensions_mut()
            .insert(CorrelationId(correlation_id.clone()));
        let active = metrics
            .active_requests
            .get_or_create_owned(&HttpRouteLabels {
                http_request_method: method,
                http_route: route.clone(),
            });
        active.inc();
        Self {
            started,
            method,
            route,
            correlation_id,
            span,
            key_prefix,
            client_address,
            request_size,
            active,
        }
    }

    /// Renders errors as problems, sets the tracing headers, records the metrics, the span's
    /// outcome and the completion log line.
    fn finish(self, metrics: &Metrics, response: Response) -> Response {
        self.active.dec();
        let status = response.status();
        let error = response.extensions().get::<LoggedError>().cloned();
        let mut response = problem::render(response, &self.correlation_id);
        let context = telemetry::span_context(&self.span);
        set_tracing_headers(response.headers_mut(), &self.correlation_id, &context);

        let elapsed = self.started.elapsed();
        let response_size = response.body().size_hint().exact().unwrap_or(0);
        let labels = HttpLabels {
            http_request_method: self.method,
            http_route: self.route,
            http_response_status_code: status.as_u16(),
        };
        let exemplar = TraceExemplar::new(context.trace_id().to_bytes());
        metrics.request_duration.get_or_create(&labels).observe(
            elapsed.as_secs_f64(),
            Some(exemplar),
            None,
        );
        metrics
            .request_body_size
            .get_or_create(&labels)
            .observe(self.request_size as f64);
        metrics
            .response_body_size
            .get_or_create(&labels)
            .observe(response_size as f64);

        let span = self.span;
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("otel.status_code", "error");
            span.record("error.type", status.as_str());
        }
        span.in_scope(|| {
            log_error(status, error);
            tracing::info!(
                http.request.method = self.method,
                http.route = &*labels.http_route,
                http.response.status_code = status.as_u16(),
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                request_size = self.request_size,
                response_size,
                auth.key_prefix = self.key_prefix.as_deref(),
                client.address = self.client_address.as_deref(),
                "request completed"
            );
        });
        response
    }
}

/// `X-Correlation-ID` and `traceparent` on every response, so a client can quote either.
fn set_tracing_headers(headers: &mut HeaderMap, correlation_id: &str, context: &SpanContext) {
    if let Ok(value) = HeaderValue::from_str(correlation_id) {
        headers.insert(X_CORRELATION_ID, value);
    }
    let traceparent = encode_traceparent(
        context.trace_id().to_bytes(),
        context.span_id().to_bytes(),
        context.trace_flags().to_u8(),
    );
    if let Ok(value) = HeaderValue::from_bytes(&traceparent) {
        headers.insert("traceparent", value);
    }
}

/// The error behind a 4xx or 5xx, inside the request span: 5xx as errors, refusals as info.
fn log_error(status: StatusCode, error: Option<LoggedError>) {
    if let Some(LoggedError(error)) = &error {
        let error = error.as_ref() as &dyn std::error::Error;
        if status.is_server_error() {
            tracing::error!(error, "request failed");
        } else {
            tracing::info!(error, "request rejected");
        }
    }
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

/// The caller's context from a valid `traceparent`: a trusted caller's (with its sanitised
/// `tracestate`) becomes the parent; an untrusted caller's becomes a link, without its
/// `tracestate`. Anything invalid is ignored and a new trace starts, as the W3C spec requires.
fn remote(headers: &HeaderMap, trusted: bool) -> Remote {
    let mut values = headers.get_all("traceparent").iter();
    let (Some(first), None) = (values.next(), values.next()) else {
        return Remote::None; // None, or several: ambiguous, so invalid.
    };
    let Some(parent) = first.to_str().ok().and_then(TraceParent::parse) else {
        return Remote::None;
    };
    if !trusted {
        return Remote::Link(parent.to_span_context(None));
    }
    let tracestate = sanitize_tracestate(
        headers
            .get_all("tracestate")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    Remote::Parent(parent.to_span_context(tracestate.as_deref()))
}

fn content_length(headers: &HeaderMap) -> u64 {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0)
}
