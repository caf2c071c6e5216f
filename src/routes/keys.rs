//! `/api/v1/keys` (admin): issuing, listing and revoking API keys. A key is shown once, in the
//! 201 answer; afterwards only its display prefix exists.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    auth::{self, KeyRequest},
    domain::{AgentPattern, Grant, Scope, ValidationError},
    error::{ApiError, ApiJson, Problem},
    state::AppState,
    store::keys::{self, KeyRecord, RevokeError},
};

/// The body of `POST /api/v1/keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyRequest {
    /// Who or what uses the key; 1-128 characters, no control characters.
    pub name: String,
    /// At least one of `notify`, `read`, `admin`.
    pub scopes: Vec<Scope>,
    /// Agent id patterns (`*` matches any run of characters); default `["*"]`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub agents: Option<Vec<AgentPattern>>,
    /// Requests per second for this key; default `[rate_limit] per_key`.
    #[schema(minimum = 1)]
    pub rate_per_second: Option<u32>,
    /// Let this key's `traceparent` parent the gateway's spans (internal services only).
    #[serde(default)]
    pub trust_trace_context: bool,
}

/// A key as listed: everything but the key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub key_id: Uuid,
    pub name: String,
    pub display_prefix: String,
    pub scopes: Vec<Scope>,
    #[schema(value_type = Vec<String>)]
    pub agents: Vec<AgentPattern>,
    pub rate_per_second: Option<u32>,
    pub trust_trace_context: bool,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<KeyRecord> for KeyView {
    fn from(record: KeyRecord) -> Self {
        Self {
            key_id: record.key_id,
            name: record.name,
            display_prefix: record.display_prefix,
            scopes: record.grant.scopes,
            agents: record.grant.agents,
            rate_per_second: record.rate_per_second,
            trust_trace_context: record.grant.trust_trace_context,
            created_at: record.created_at,
            revoked_at: record.revoked_at,
        }
    }
}

/// The 201 body: the key, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    /// The key itself. Store it now: the gateway keeps only a hash.
    pub key: String,
    #[serde(flatten)]
    pub details: KeyView,
}

/// `GET /api/v1/keys`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

/// Issue a key.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", security(("bearer" = [])),
    request_body = NewKeyRequest,
    responses(
        (status = 201, body = CreatedKey),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<NewKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let request = validate(request)?;
    let (key, record) = auth::issue(&state.pool, state.keyring.hasher(), &request).await?;
    state.keyring.reload(&state.pool).await?;
    let created = CreatedKey {
        key: key.expose().to_owned(),
        details: record.into(),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

fn validate(request: NewKeyRequest) -> Result<KeyRequest, ValidationError> {
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "name",
            "must be 1-128 characters without control characters",
        ));
    }
    if request.scopes.is_empty() {
        return Err(ValidationError::new(
            "scopes",
            "must name at least one scope",
        ));
    }
    if request.rate_per_second == Some(0) {
        return Err(ValidationError::new(
            "rate_per_second",
            "must be at least 1",
        ));
    }
    let agents = request.agents.unwrap_or_else(|| vec![AgentPattern::any()]);
    if agents.is_empty() {
        return Err(ValidationError::new(
            "agents",
            "must name at least one pattern",
        ));
    }
    Ok(KeyRequest {
        name: name.to_owned(),
        grant: Grant {
            scopes: request.scopes,
            agents,
            trust_trace_context: request.trust_trace_context,
        },
        rate_per_second: request.rate_per_second,
    })
}

/// Every key, revoked ones included, oldest first; never the keys themselves.
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", security(("bearer" = [])),
    responses(
        (status = 200, body = KeyList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(State(state): State<AppState>) -> Result<Json<KeyList>, ApiError> {
    let keys = keys::all(&state.pool).await?;
    Ok(Json(KeyList {
        keys: keys.into_iter().map(|(_, record)| record.into()).collect(),
    }))
}

/// Revoke a key: every replica refuses it within a second.
#[utoipa::path(delete, path = "/api/v1/keys/{key_id}", tag = "keys", security(("bearer" = [])),
    params(("key_id" = Uuid, Path)),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Path(key_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(&key_id).map_err(|_| ApiError::KeyNotFound)?;
    match keys::revoke(&state.pool, &id.to_string()).await {
        Ok(_) => {}
        Err(RevokeError::Store(error)) => return Err(error.into()),
        Err(_) => return Err(ApiError::KeyNotFound),
    }
    state.keyring.reload(&state.pool).await?;
    Ok(StatusCode::NO_CONTENT)
}
