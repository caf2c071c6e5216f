//! `GET /api/v1/notifications/{notification_id}`: the stored record, its delivery state and,
//! once the agent answered, its outcome; `?wait=10s` waits for the outcome.

use std::time::Duration;

use axum::{
    Extension, Json,
    extract::{Path, Query, State},
};
use serde::Deserialize;
use tokio::time::Instant;
use uuid::Uuid;

use super::status_view::NotificationView;
use crate::{
    auth::Principal,
    domain::ValidationError,
    error::ApiError,
    state::AppState,
    store::{StoredNotification, notifications},
};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct StatusParams {
    /// Wait up to this long (e.g. `10s`, `500ms`; at most 30 s) for the agent's outcome, and
    /// answer as soon as it is known.
    #[param(value_type = Option<String>, example = "10s")]
    pub wait: Option<String>,
}

/// A notification's record, delivery state (`pending`, `published`, `failed`) and outcome
/// (`null` until the agent answers, then `completed` or `failed`).
#[utoipa::path(
    get,
    path = "/api/v1/notifications/{notification_id}",
    tag = "notifications",
    security(("bearer" = [])),
    params(("notification_id" = uuid::Uuid, Path, description = "The id from the 202 answer"), StatusParams),
    responses(
        (status = 200, body = NotificationView),
        (status = 400, description = "Not a UUID", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such notification among the key's agents", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`wait` is not a duration", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    Query(params): Query<StatusParams>,
) -> Result<Json<NotificationView>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::InvalidNotificationId)?;
    let wait = wait_for(params.wait.as_deref(), state.waiters.max_wait())?;
    let deadline = Instant::now() + wait;
    // Past `[results] max_waiters`, a request answers at once rather than wait.
    let mut waiting = (!wait.is_zero()).then(|| state.waiters.join()).flatten();
    loop {
        let stored = find(&state, &principal, id).await?;
        let left = deadline.saturating_duration_since(Instant::now());
        match &mut waiting {
            Some(waiting) if stored.answer.is_none() && !left.is_zero() => {
                waiting.next(id, left).await
            }
            _ => return Ok(Json(NotificationView::from(stored))),
        }
    }
}

/// Another agent's notification is as absent as one that never existed.
async fn find(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<StoredNotification, ApiError> {
    notifications::find(&state.pool, id)
        .await?
        .filter(|stored| principal.covers(stored.notification.agent_id.as_str()))
        .ok_or(ApiError::NotificationNotFound)
}

/// `?wait=`: a duration, capped at `max`; none means no wait.
fn wait_for(wait: Option<&str>, max: Duration) -> Result<Duration, ApiError> {
    let Some(wait) = wait else {
        return Ok(Duration::ZERO);
    };
    let wait = humantime::parse_duration(wait.trim())
        .map_err(|_| ValidationError::new("wait", "must be a duration such as 10s or 500ms"))?;
    Ok(wait.min(max))
}
