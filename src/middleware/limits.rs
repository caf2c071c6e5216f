//! Request header limits: too many or too large headers are a 431 problem.

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::error::ApiError;

/// The limits from `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct HeaderLimits {
    pub max_headers: usize,
    pub max_header_bytes: usize,
}

pub async fn limit_headers(
    State(limits): State<HeaderLimits>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    // Name, value and the ": " and CRLF around them, as they came over the wire.
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > limits.max_headers || bytes > limits.max_header_bytes {
        return ApiError::HeadersTooLarge.into_response();
    }
    next.run(request).await
}
