//! `GET /api/v1/notifications/{notification_id}`: the stored record and its delivery state.

use axum::{
    Extension, Json,
    extract::{Path, State},
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    auth::Principal,
    domain::{DeliveryState, Payload},
    error::ApiError,
    state::AppState,
    store::notifications,
};

/// A stored notification and its delivery state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationView {
    pub notification_id: Uuid,
    pub agent_id: String,
    pub notification_type: String,
    pub source: String,
    /// Exactly as accepted.
    #[schema(value_type = Object)]
    pub payload: Payload,
    pub correlation_id: String,
    pub trace_id: String,
    pub span_id: String,
    pub status: DeliveryState,
    pub attempts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub accepted_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
}

/// A notification's record and delivery state (`pending`, `published`, `failed`).
#[utoipa::path(
    get,
    path = "/api/v1/notifications/{notification_id}",
    tag = "notifications",
    security(("bearer" = [])),
    params(("notification_id" = uuid::Uuid, Path, description = "The id from the 202 answer")),
    responses(
        (status = 200, body = NotificationView),
        (status = 400, description = "Not a UUID", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks the read scope", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such notification among the key's agents", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<NotificationView>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::InvalidNotificationId)?;
    // Another agent's notification is as absent as one that never existed.
    let stored = notifications::find(&state.pool, id)
        .await?
        .filter(|stored| principal.covers(stored.notification.agent_id.as_str()))
        .ok_or(ApiError::NotificationNotFound)?;
    let n = stored.notification;
    Ok(Json(NotificationView {
        notification_id: n.notification_id,
        agent_id: n.agent_id.as_str().to_owned(),
        notification_type: n.notification_type,
        source: n.source,
        payload: n.payload,
        correlation_id: n.correlation_id,
        trace_id: n.trace.trace_id.to_string(),
        span_id: n.trace.span_id.to_string(),
        status: stored.status,
        attempts: stored.attempts,
        last_error: stored.last_error,
        accepted_at: n.accepted_at,
        published_at: stored.published_at,
        failed_at: stored.failed_at,
    }))
}
