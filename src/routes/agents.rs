//! `/api/v1/agents`: registering agents (which declares their queues) and their live status.

use axum::{
    Extension, Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use super::agent_status::{AgentView, view};
use crate::{
    auth::Principal,
    broker::AdminError,
    domain::{AgentId, QueueType, ValidationError},
    error::{ApiError, Problem},
    state::AppState,
    store::agents,
};

/// Longest description, in characters.
const MAX_DESCRIPTION: usize = 256;

/// The optional body of `PUT /api/v1/agents/{agent_id}`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRequest {
    /// What the agent does; at most 256 characters, no control characters.
    #[schema(max_length = 256)]
    pub description: Option<String>,
    /// The queue's type: `classic` or `quorum` (RabbitMQ's replicated type). Omitted: the
    /// type the agent is already registered with, or for a new agent the gateway's
    /// `[amqp] queue_type` (`quorum` unless configured otherwise). A queue's type cannot
    /// change in place: if the queue already exists with another type, it is used as it is.
    pub queue_type: Option<QueueType>,
}

/// Register an agent (idempotent): its queue is declared now, and it may be notified.
#[utoipa::path(put, path = "/api/v1/agents/{agent_id}", tag = "agents",
    security(("bearer" = [])),
    params(("agent_id" = String, Path, pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")),
    request_body(content = Option<AgentRequest>, description = "Optional; without `queue_type`, a new agent's queue gets the gateway's configured `[amqp] queue_type`"),
    responses(
        (status = 201, description = "Registered", body = AgentView),
        (status = 200, description = "Already registered; updated", body = AgentView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Broker or database unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register(
    State(state): State<AppState>,
    Path(agent_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let agent_id = AgentId::parse(&agent_id)?;
    let request = parse_body(&body)?;
    let queue_type = match request.queue_type {
        Some(queue_type) => queue_type,
        None => agents::find(&state.pool, agent_id.as_str())
            .await?
            .map_or_else(|| state.queues.default_type(), |record| record.queue_type),
    };
    state
        .queues
        .declare(&agent_id.queue_name(), queue_type)
        .await
        .map_err(|error| ApiError::BrokerUnavailable(Box::new(error)))?;
    let (record, created) = agents::upsert(
        &state.pool,
        &agent_id,
        request.description.as_deref(),
        queue_type,
    )
    .await?;
    state.registry.reload(&state.pool).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view(&state, record).await?)).into_response())
}

fn parse_body(body: &[u8]) -> Result<AgentRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(AgentRequest::default());
    }
    let request: AgentRequest =
        serde_json::from_slice(body).map_err(|error| match error.classify() {
            serde_json::error::Category::Data => ApiError::InvalidBody(error.to_string()),
            _ => ApiError::MalformedJson(error.to_string()),
        })?;
    if let Some(description) = &request.description
        && (description.chars().count() > MAX_DESCRIPTION
            || description.chars().any(char::is_control))
    {
        return Err(ValidationError::new(
            "description",
            "must be at most 256 characters without control characters",
        )
        .into());
    }
    Ok(request)
}

/// Registered agents the key may see, with their live status.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", security(("bearer" = [])),
    responses(
        (status = 200, body = AgentList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks the read scope", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<AgentList>, ApiError> {
    let mut views = Vec::new();
    for record in agents::all(&state.pool).await? {
        if principal.covers(record.agent_id.as_str()) {
            views.push(view(&state, record).await?);
        }
    }
    Ok(Json(AgentList { agents: views }))
}

/// `GET /api/v1/agents`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentList {
    pub agents: Vec<AgentView>,
}

/// One registered agent and its live status.
#[utoipa::path(get, path = "/api/v1/agents/{agent_id}", tag = "agents", security(("bearer" = [])),
    params(("agent_id" = String, Path)),
    responses(
        (status = 200, body = AgentView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks the read scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered, or not among the key's agents", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(agent_id): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    if !principal.covers(&agent_id) {
        return Err(ApiError::AgentNotFound);
    }
    let record = agents::find(&state.pool, &agent_id)
        .await?
        .ok_or(ApiError::AgentNotFound)?;
    Ok(Json(view(&state, record).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct UnregisterParams {
    /// Also delete the agent's queue, if it is empty (409 otherwise, and nothing changes). A
    /// quorum queue is never deleted this way (409 `queue-not-deletable`): RabbitMQ cannot
    /// delete it only if empty.
    #[serde(default)]
    pub delete_queue: bool,
}

/// Unregister an agent: it can no longer be notified. Its queue stays unless asked and empty.
#[utoipa::path(delete, path = "/api/v1/agents/{agent_id}", tag = "agents", security(("bearer" = [])),
    params(("agent_id" = String, Path), UnregisterParams),
    responses(
        (status = 204, description = "Unregistered"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The queue still holds messages (`queue-not-empty`), or is a quorum queue, which RabbitMQ cannot delete only if empty (`queue-not-deletable`); nothing changed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn unregister(
    State(state): State<AppState>,
    Path(agent_id): Path<String>,
    Query(params): Query<UnregisterParams>,
) -> Result<StatusCode, ApiError> {
    let Some(record) = agents::find(&state.pool, &agent_id).await? else {
        return Err(ApiError::AgentNotFound);
    };
    if params.delete_queue {
        match state
            .queues
            .delete_if_empty(&record.agent_id.queue_name())
            .await
        {
            Ok(()) => {}
            Err(AdminError::NotEmpty) => return Err(ApiError::QueueNotEmpty),
            Err(AdminError::IfEmptyUnsupported) => return Err(ApiError::QueueNotDeletable),
            Err(error) => return Err(ApiError::BrokerUnavailable(Box::new(error))),
        }
    }
    agents::delete(&state.pool, record.agent_id.as_str()).await?;
    state.registry.reload(&state.pool).await?;
    Ok(StatusCode::NO_CONTENT)
}
