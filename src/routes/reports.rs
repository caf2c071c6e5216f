//! `GET /api/v1/reports/summary`: the summary report as JSON (`vos-gateway report` prints the
//! same [`Summary`], as Markdown by default).

use std::time::Duration;

use axum::{
    Extension, Json,
    extract::{Query, State},
};
use serde::Deserialize;

use crate::{
    analytics::{AgentScope, params, summary::Summary},
    auth::Principal,
    error::{ApiError, Problem},
    state::AppState,
};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct SummaryParams {
    /// How far back (`1h`, `24h`, `7d`; at most `7d`); default `24h`.
    #[param(example = "24h")]
    pub since: Option<String>,
}

/// Totals and success ratio, busiest agents (utilisation), most requested notification types,
/// tool adoption, LLM tokens by model, accepted per hour, the slowest operations and the worst
/// 5-minute error-rate windows, over the key's agents.
#[utoipa::path(get, path = "/api/v1/reports/summary", tag = "analytics",
    security(("bearer" = [])), params(SummaryParams),
    responses(
        (status = 200, body = Summary),
        (status = 422, description = "`since` is not a duration of at most 7d", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "A statement ran past its timeout, or too many analyses run at once or have run lately (the time share); see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn summary(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<SummaryParams>,
) -> Result<Json<Summary>, ApiError> {
    let period = params::period(
        "since",
        params.since.as_deref(),
        Duration::from_secs(24 * 3600),
    )?;
    let scope = AgentScope::of(&principal);
    Ok(Json(state.analytics.summary(&scope, period).await?))
}
