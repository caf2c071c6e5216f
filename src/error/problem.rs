//! The RFC 9457 problem document every error response carries.

use std::time::Duration;

use axum::http::StatusCode;
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip)]
    #[schema(ignore)]
    pub retry_after: Option<Duration>,
}

/// One invalid field of the request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: &'static str,
    pub problem: &'static str,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:vos:problem:{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            correlation_id: None,
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// A problem for an error response produced outside our handlers (router, layers).
    pub fn for_status(status: StatusCode) -> Self {
        let (slug, detail) = match status {
            StatusCode::NOT_FOUND => ("not-found", "no route matches this path"),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method-not-allowed",
                "this route does not accept the method",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", "the request body is too large"),
            StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
            // Our handlers attach their own problem to every 503; one without comes from the
            // request deadline (`server.request_timeout`).
            StatusCode::SERVICE_UNAVAILABLE => (
                "request-timeout",
                "the request did not finish within its deadline",
            ),
            s if s.is_server_error() => ("internal-error", "an internal error occurred"),
            _ => ("bad-request", "the request was not understood"),
        };
        let mut problem = Self::new(status, slug, detail);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            problem.retry_after = Some(Duration::from_secs(1));
        }
        problem
    }
}
