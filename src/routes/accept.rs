//! `POST /api/v1/agents/{agent_id}/notify`: validate, stamp, commit, hand to the publisher.

use axum::{
    Extension, Json,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    auth::Principal,
    domain::{IdempotencyKey, NewNotification, Notification, NotifyRequest},
    error::{ApiError, ApiJson, Problem},
    metrics::Overload,
    middleware::{AgentQuota, CorrelationId},
    ratelimit::{Decision, Quota},
    state::AppState,
    store::{CommitError, notifications},
    telemetry,
    trace_context::TraceStamp,
};

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The 202 body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub notification_id: Uuid,
    pub trace_id: String,
    pub correlation_id: String,
    /// Always `accepted`: committed, to be published at least once.
    #[schema(value_type = String, example = "accepted")]
    pub status: &'static str,
}

impl Accepted {
    fn of(notification: &Notification) -> Self {
        Self {
            notification_id: notification.notification_id,
            trace_id: notification.trace.trace_id.to_string(),
            correlation_id: notification.correlation_id.clone(),
            status: "accepted",
        }
    }
}

/// Accept a notification for an agent: it is committed to Postgres before the 202, then
/// published to `{agent_id}_queue` at least once.
#[utoipa::path(
    post,
    path = "/api/v1/agents/{agent_id}/notify",
    tag = "notifications",
    security(("bearer" = [])),
    params(
        ("agent_id" = String, Path, description = "1-64 of a-z, 0-9, '-', '_'", pattern = "^[a-z0-9][a-z0-9_-]{0,63}$"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key and body return the original answer", pattern = "^[A-Za-z0-9._:-]{1,128}$"),
        ("X-Correlation-ID" = Option<String>, Header, description = "Kept when short and plain, else replaced"),
        ("traceparent" = Option<String>, Header, description = "W3C Trace Context; invalid values start a new trace"),
    ),
    request_body = NotifyRequest,
    responses(
        (status = 202, description = "Committed; will be published", body = Accepted),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks the notify scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent among the key's agents", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field or reused Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the key's or the agent's rate; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 431, description = "Headers too many or too large", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable or gateway overloaded; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn notify(
    State(state): State<AppState>,
    Path(agent_id): Path<String>,
    Extension(CorrelationId(correlation_id)): Extension<CorrelationId>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<NotifyRequest>,
) -> Result<Response, ApiError> {
    let new = NewNotification::parse(&agent_id, request)?;
    let idempotency_key = idempotency_key(&headers)?;
    let agent_quota = admit(&state, &principal, new.agent_id.as_str())?;
    let notification_id = Uuid::now_v7();
    // The producer span starts now, as a child of the request span; its context is stored
    // with the row and travels in the message, so a republish continues the same trace.
    let span = telemetry::producer_span(
        &new.agent_id.queue_name(),
        &notification_id.to_string(),
        &correlation_id,
    );
    let trace = TraceStamp::of(&telemetry::span_context(&span));
    let labels = state
        .metrics
        .delivery_labels(new.agent_id.as_str(), &new.notification_type);
    // Only a keyed request may need comparing with an earlier one after the insert.
    let retry_check = idempotency_key
        .as_ref()
        .map(|key| (key.clone(), new.clone()));
    let notification = Notification::accept(
        new,
        notification_id,
        correlation_id.to_string(),
        trace,
        idempotency_key,
    );
    let accepted = Accepted::of(&notification);
    match state.writer.commit(notification, span).await {
        Ok(()) => {
            state.metrics.accepted.get_or_create(&labels).inc();
            let mut response = (StatusCode::ACCEPTED, Json(accepted)).into_response();
            if let Some(quota) = agent_quota {
                response.extensions_mut().insert(AgentQuota(quota));
            }
            Ok(response)
        }
        Err(CommitError::DuplicateKey) => {
            let (key, new) = retry_check.expect("only keyed inserts are skipped");
            replay(&state, &new, &key).await
        }
        Err(CommitError::Overloaded) => {
            state.metrics.overloaded(Overload::Writer);
            Err(ApiError::Overloaded)
        }
        Err(error @ (CommitError::Unavailable | CommitError::Stopped)) => {
            Err(ApiError::DatabaseUnavailable(Box::new(error)))
        }
        Err(error @ CommitError::Failed) => Err(ApiError::Internal(Box::new(error))),
    }
}

/// Whether this caller may notify this agent now: it must be one of the key's agents and
/// registered (404 otherwise, the same answer for both, so a key learns nothing about agents
/// outside its patterns), and within the agent's rate (429). Returns the agent's quota.
fn admit(
    state: &AppState,
    principal: &Principal,
    agent_id: &str,
) -> Result<Option<Quota>, ApiError> {
    let registration = principal
        .covers(agent_id)
        .then(|| state.registry.get(agent_id))
        .flatten()
        .ok_or(ApiError::AgentNotFound)?;
    match registration
        .limiter
        .as_deref()
        .map(|limiter| limiter.check())
    {
        Some(Decision::Limited(limited)) => {
            state.metrics.limited("agent");
            Err(ApiError::RateLimited(limited))
        }
        Some(Decision::Allowed(quota)) => Ok(Some(quota)),
        None => Ok(None),
    }
}

/// The `Idempotency-Key` header, if any.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default();
    Ok(Some(IdempotencyKey::parse(value)?))
}

/// A retry with a key the agent already used: the original 202 for the same request, a
/// 422 for a different one. Nothing new is stored or published either way.
async fn replay(
    state: &AppState,
    new: &NewNotification,
    key: &IdempotencyKey,
) -> Result<Response, ApiError> {
    let original = notifications::find_by_idempotency_key(&state.pool, new.agent_id.as_str(), key)
        .await?
        .ok_or_else(|| ApiError::Internal("idempotency key conflict without a row".into()))?;
    if !original.same_request_as(new) {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let mut response = (StatusCode::ACCEPTED, Json(Accepted::of(&original))).into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}
