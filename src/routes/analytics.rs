//! `GET /api/v1/analytics/*`: the analyses of `crate::analytics`, read scope, over the key's
//! agents only. Parameters are taken as text and checked here, so that a bad value is a 422
//! naming the field (not the extractor's 400).

use std::time::Duration;

use axum::{
    Extension, Json,
    extract::{Query, State},
};
use serde::Deserialize;

use crate::{
    analytics::{
        AgentScope,
        anomalies::Anomalies,
        error_rates::ErrorRates,
        message_flows::MessageFlows,
        params::{self, Period},
        slow_operations::SlowOperations,
    },
    auth::Principal,
    error::{ApiError, Problem},
    state::AppState,
};

/// What every analysis may answer instead of its result (OpenAPI only: the handlers return
/// [`ApiError`]s, which write these).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // never built: it only describes
pub enum Refusals {
    /// A parameter out of range
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
    /// The analysis ran past its statement timeout, or too many run at once or have run
    /// lately (the time share); see Retry-After
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
const FIVE_MINUTES: Duration = Duration::from_secs(300);

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct SlowOperationsParams {
    /// How far back (`5m`, `1h`, `24h`, `7d`; at most `7d`); default `1h`.
    #[param(example = "1h")]
    pub window: Option<String>,
    /// Only operations whose average processing time is at least this (ms); default 0.
    #[param(value_type = Option<f64>, example = 1000)]
    pub min_avg_ms: Option<String>,
}

/// Per agent and notification type: count, average, p95 and maximum processing time of the
/// notifications answered in the window, slowest first (at most 100).
#[utoipa::path(get, path = "/api/v1/analytics/slow-operations", tag = "analytics",
    security(("bearer" = [])), params(SlowOperationsParams),
    responses(
        (status = 200, body = SlowOperations),
        Refusals,
    ))]
pub async fn slow_operations(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<SlowOperationsParams>,
) -> Result<Json<SlowOperations>, ApiError> {
    let period = params::period("window", params.window.as_deref(), HOUR)?;
    let min_avg_ms = params::threshold("min_avg_ms", params.min_avg_ms.as_deref(), f64::MAX)?;
    let scope = AgentScope::of(&principal);
    Ok(Json(
        state
            .analytics
            .slow_operations(&scope, period, min_avg_ms)
            .await?,
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ErrorRatesParams {
    /// How far back (at most `7d`); default `24h`.
    #[param(example = "24h")]
    pub window: Option<String>,
    /// Bucket length, `1m` to `1d`, at most 2016 buckets in the window; default `5m`.
    #[param(example = "5m")]
    pub bucket: Option<String>,
    /// Only buckets whose error rate is at least this (percent, 0–100); default 0.
    #[param(value_type = Option<f64>, example = 5)]
    pub min_error_rate: Option<String>,
}

/// Per bucket and service (`vos-gateway`: delivery failures among notifications accepted;
/// each agent: `failed` outcomes among results recorded): requests, errors, error rate in
/// percent (at most 2016 rows).
#[utoipa::path(get, path = "/api/v1/analytics/error-rates", tag = "analytics",
    security(("bearer" = [])), params(ErrorRatesParams),
    responses(
        (status = 200, body = ErrorRates),
        Refusals,
    ))]
pub async fn error_rates(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<ErrorRatesParams>,
) -> Result<Json<ErrorRates>, ApiError> {
    let period = params::period("window", params.window.as_deref(), DAY)?;
    let bucket = params::bucket(params.bucket.as_deref(), FIVE_MINUTES, &period)?;
    let min_error_rate =
        params::threshold("min_error_rate", params.min_error_rate.as_deref(), 100.0)?;
    let scope = AgentScope::of(&principal);
    Ok(Json(
        state
            .analytics
            .error_rates(&scope, period, bucket, min_error_rate)
            .await?,
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct WindowParams {
    /// How far back (`5m`, `1h`, `24h`, `7d`; at most `7d`).
    #[param(example = "1h")]
    pub window: Option<String>,
}

/// Each distinct path of the notifications accepted in the window (`gateway → {agent}_queue →
/// {agent} → tools… → response`, or where an unanswered one is), how often, and its average
/// end-to-end time; most frequent first (at most 200). Default window `1h`.
#[utoipa::path(get, path = "/api/v1/analytics/message-flows", tag = "analytics",
    security(("bearer" = [])), params(WindowParams),
    responses(
        (status = 200, body = MessageFlows),
        Refusals,
    ))]
pub async fn message_flows(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<WindowParams>,
) -> Result<Json<MessageFlows>, ApiError> {
    let period = params::period("window", params.window.as_deref(), HOUR)?;
    let scope = AgentScope::of(&principal);
    Ok(Json(state.analytics.message_flows(&scope, period).await?))
}

/// Per agent, the 5-minute windows whose error rate or p95 end-to-end latency has a z-score of
/// 3 or more against the agent's own baseline over the window, with at least 30 results (the
/// rule of the Prometheus anomaly alerts; docs/analytics.md). Default window `24h`.
#[utoipa::path(get, path = "/api/v1/analytics/anomalies", tag = "analytics",
    security(("bearer" = [])), params(WindowParams),
    responses(
        (status = 200, body = Anomalies),
        Refusals,
    ))]
pub async fn anomalies(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<WindowParams>,
) -> Result<Json<Anomalies>, ApiError> {
    let period: Period = params::period("window", params.window.as_deref(), DAY)?;
    let scope = AgentScope::of(&principal);
    Ok(Json(state.analytics.anomalies(&scope, period).await?))
}
