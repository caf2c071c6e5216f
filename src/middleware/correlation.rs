//! The correlation id: taken from the caller when it is short and plain, generated otherwise.

use std::sync::Arc;

use axum::http::HeaderMap;

use crate::trace_context::is_acceptable_correlation_id;

pub const X_CORRELATION_ID: &str = "x-correlation-id";
pub const X_REQUEST_ID: &str = "x-request-id";

/// The request's correlation id, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct CorrelationId(pub Arc<str>);

/// `X-Correlation-ID`, else `X-Request-ID` (the tower-http and Envoy default), else a new
/// UUIDv7. An unacceptable id is replaced, not rejected: it must never fail a request.
pub fn correlation_id(headers: &HeaderMap) -> Arc<str> {
    [X_CORRELATION_ID, X_REQUEST_ID]
        .iter()
        .filter_map(|name| headers.get(*name)?.to_str().ok())
        .find(|value| is_acceptable_correlation_id(value))
        .map(Arc::from)
        .unwrap_or_else(|| {
            let mut buffer = uuid::Uuid::encode_buffer();
            Arc::from(&*uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buffer))
        })
}
