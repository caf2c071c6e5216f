//! Renders every error response as `application/problem+json`, including those produced
//! outside our handlers (unknown routes, wrong methods, body limits, timeouts).

use axum::{
    body::Body,
    http::{HeaderValue, header},
    response::Response,
};

use std::borrow::Cow;

use crate::{
    error::{PROBLEM_JSON, Problem},
    privacy,
};

/// Gives an error response a problem body carrying the correlation id; other responses pass.
/// The `instance` names this occurrence by its correlation id (the URN the logs can be searched
/// by), not by the request path, which is input; the detail goes through the redaction policy.
pub fn render(response: Response, correlation_id: &str) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut problem = match parts.extensions.remove::<Problem>() {
        Some(problem) => problem,
        // A JSON error document of its own (problem+json, health+json) is left as it is.
        None if is_json_document(&parts.headers) => return Response::from_parts(parts, body),
        None => Problem::for_status(status),
    };
    if let Some(after) = problem.retry_after
        && !parts.headers.contains_key(header::RETRY_AFTER)
    {
        parts
            .headers
            .insert(header::RETRY_AFTER, HeaderValue::from(after.as_secs()));
    }
    problem.instance = Some(format!("urn:vos:request:{correlation_id}"));
    problem.correlation_id = Some(correlation_id.to_owned());
    if let Cow::Owned(masked) = privacy::policy().text(&problem.detail) {
        problem.detail = masked;
    }
    let bytes = serde_json::to_vec(&problem).expect("a problem always serialises");
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    Response::from_parts(parts, Body::from(bytes))
}

fn is_json_document(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().ends_with("+json"))
}
