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

use crate::{
    domain::ValidationError,
    ratelimit::{self, Limited},
};

/// The detail of a 401 without any key; the challenge then carries no `error`.
pub const MISSING_KEY: &str = "no `Authorization: Bearer` key was sent";

/// Everything a request can fail with, as the client sees it. No variant repeats what the
/// client sent (an id, a field value): a problem body carries nothing the client did not
/// already have, and nothing an attacker could plant for someone else to read.
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
    #[error("the notification id is not a UUID")]
    InvalidNotificationId,
    #[error("no such notification")]
    NotificationNotFound,
    #[error("this Idempotency-Key was already used for a different notification")]
    IdempotencyKeyReused,
    #[error("the request headers are too many or too large")]
    HeadersTooLarge,
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("this key lacks the `{0}` scope")]
    Forbidden(&'static str),
    #[error("too many requests for this {} (see RateLimit and Retry-After)", .0.policy)]
    RateLimited(Limited),
    #[error("no such agent is registered")]
    AgentNotFound,
    #[error("no such key")]
    KeyNotFound,
    #[error("the agent's queue still holds messages; it was kept")]
    QueueNotEmpty,
    #[error(
        "the agent's queue is a quorum queue, which RabbitMQ cannot delete only if empty; it was \
         kept and the agent stays registered (unregister without delete_queue, then delete the \
         drained queue with rabbitmqctl)"
    )]
    QueueNotDeletable,
    #[error("the gateway cannot check keys until its database answers; retry shortly")]
    NotReady,
    #[error("the broker is unavailable; retry shortly")]
    BrokerUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the gateway is at capacity; retry shortly")]
    Overloaded,
    #[error("the analysis did not finish within its statement timeout; try a shorter window")]
    AnalysisTimeout,
    /// Too many at once, or the analyses' time share is spent: retry after the duration.
    #[error("too many analyses are running, or have run lately; retry after the time given")]
    AnalysisBusy(Duration),
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
            Self::MalformedJson(_) | Self::InvalidNotificationId => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::NotificationNotFound | Self::AgentNotFound | Self::KeyNotFound => {
                StatusCode::NOT_FOUND
            }
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::QueueNotEmpty | Self::QueueNotDeletable => StatusCode::CONFLICT,
            Self::Overloaded
            | Self::AnalysisTimeout
            | Self::AnalysisBusy(_)
            | Self::DatabaseUnavailable(_)
            | Self::NotReady
            | Self::BrokerUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            Self::InvalidNotificationId => "invalid-notification-id",
            Self::NotificationNotFound => "notification-not-found",
            Self::IdempotencyKeyReused => "idempotency-key-reused",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::RateLimited(_) => "rate-limited",
            Self::AgentNotFound => "agent-not-found",
            Self::KeyNotFound => "key-not-found",
            Self::QueueNotEmpty => "queue-not-empty",
            Self::QueueNotDeletable => "queue-not-deletable",
            Self::NotReady => "not-ready",
            Self::BrokerUnavailable(_) => "broker-unavailable",
            Self::Overloaded => "overloaded",
            Self::AnalysisTimeout => "analysis-timeout",
            Self::AnalysisBusy(_) => "analysis-busy",
            Self::DatabaseUnavailable(_) => "database-unavailable",
            Self::Internal(_) => "internal-error",
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Overloaded => Some(Duration::from_secs(1)),
            Self::AnalysisBusy(after) => {
                Some(Duration::from_secs(ratelimit::ceil_secs(*after).max(1)))
            }
            // The same question is as slow in a moment; later, other load may have passed.
            Self::AnalysisTimeout => Some(Duration::from_secs(30)),
            Self::DatabaseUnavailable(_) | Self::BrokerUnavailable(_) => {
                Some(Duration::from_secs(5))
            }
            Self::NotReady => Some(Duration::from_secs(1)),
            Self::RateLimited(limited) => Some(Duration::from_secs(limited.retry_after_secs())),
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
        let headers = response.headers_mut();
        match &self {
            // RFC 6750 § 3: the scheme, and `invalid_token` once a token was sent.
            Self::Unauthorized(detail) => {
                let challenge = if *detail == MISSING_KEY {
                    "Bearer realm=\"vos-gateway\""
                } else {
                    "Bearer realm=\"vos-gateway\", error=\"invalid_token\""
                };
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            Self::RateLimited(limited) => {
                let quotas = [limited.quota];
                headers.insert("ratelimit-policy", ratelimit::policy_header(&quotas));
                headers.insert("ratelimit", ratelimit::ratelimit_header(&quotas));
            }
            _ => {}
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
