//! The API's error type and its RFC 9457 `application/problem+json` rendering.
//!
//! `IntoResponse` only records the problem in the response extensions; the `problem`
//! middleware renders the body (with the correlation id) and logs it inside the request
//! span. That keeps conversion free of side effects and puts every error log line in context.
//! Lower layers keep their own error types and say how they map here (`From<StoreError>`
//! lives with the store).

mod json;
mod problem;

use std::time::Duration;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

pub use json::ApiJson;
pub use problem::{FieldError, PROBLEM_JSON, Problem};

use crate::domain::ValidationError;

/// Everything a request can fail with, as the client sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("{0}")]
    InvalidBody(String),
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("expected a request body with `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("the request body is larger than the limit")]
    PayloadTooLarge,
    #[error("`{0}` is not a valid notification id (expected a UUID)")]
    InvalidNotificationId(String),
    #[error("no notification with id {0}")]
    NotificationNotFound(uuid::Uuid),
    #[error("this Idempotency-Key was already used for a different notification")]
    IdempotencyKeyReused,
    #[error("the request headers are too many or too large")]
    HeadersTooLarge,
    #[error("the gateway is at capacity; retry shortly")]
    Overloaded,
    #[error("the database is unavailable; the notification was not accepted")]
    DatabaseUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("an internal error occurred")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::InvalidBody(_) | Self::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::MalformedJson(_) | Self::InvalidNotificationId(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::NotificationNotFound(_) => StatusCode::NOT_FOUND,
            Self::Overloaded | Self::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable problem type slug, part of the API contract.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Validation(_) | Self::InvalidBody(_) => "validation-failed",
            Self::MalformedJson(_) => "malformed-json",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::PayloadTooLarge => "payload-too-large",
            Self::HeadersTooLarge => "headers-too-large",
            Self::InvalidNotificationId(_) => "invalid-notification-id",
            Self::NotificationNotFound(_) => "notification-not-found",
            Self::IdempotencyKeyReused => "idempotency-key-reused",
            Self::Overloaded => "overloaded",
            Self::DatabaseUnavailable(_) => "database-unavailable",
            Self::Internal(_) => "internal-error",
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Overloaded => Some(Duration::from_secs(1)),
            Self::DatabaseUnavailable(_) => Some(Duration::from_secs(5)),
            _ => None,
        }
    }

    /// The problem document for this error; 5xx details never carry internals.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let mut problem = Problem::new(status, self.kind(), self.to_string());
        if let Self::Validation(error) = self {
            problem.errors = vec![FieldError {
                field: error.field,
                problem: error.problem,
            }];
        }
        problem.retry_after = self.retry_after();
        problem
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        if let Some(after) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(after.as_secs()));
        }
        let problem = self.problem();
        response
            .extensions_mut()
            .insert(LoggedError(std::sync::Arc::new(self)));
        response.extensions_mut().insert(problem);
        response
    }
}

/// The error behind a response, kept for the logging middleware.
#[derive(Debug, Clone)]
pub struct LoggedError(pub std::sync::Arc<ApiError>);
