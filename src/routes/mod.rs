//! The HTTP API: routes, and the layers every request passes through.

mod health;
mod metrics;
mod notifications;
mod notify;
mod openapi;

pub use openapi::ApiDoc;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::StatusCode,
    middleware,
    routing::{get, post},
};
use tower_http::{limit::RequestBodyLimitLayer, timeout::TimeoutLayer};

use crate::{
    config::ServerSettings,
    middleware::{HeaderLimits, limit_headers, observe},
    state::AppState,
};

/// The whole application router; `main` and the tests use the same one.
pub fn router(state: AppState, settings: &ServerSettings) -> Router {
    Router::new()
        .route("/api/v1/agents/{agent_id}/notify", post(notify::notify))
        .route(
            "/api/v1/notifications/{notification_id}",
            get(notifications::show),
        )
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/health", get(health::detail))
        .route("/metrics", get(metrics::scrape))
        .route("/api-docs/openapi.json", get(openapi::openapi_json))
        // No route: a 404 problem (rendered by `observe`), labelled `unmatched` in metrics.
        .fallback(|| async { StatusCode::NOT_FOUND })
        // Layers wrap from the inside out: the last one added runs first. `observe` is
        // outermost so that its span covers the others and it renders their error
        // responses (413, 503 timeout) as problems too.
        .layer(DefaultBodyLimit::max(settings.body_limit_bytes))
        .layer(RequestBodyLimitLayer::new(settings.body_limit_bytes))
        .layer(middleware::from_fn_with_state(
            HeaderLimits {
                max_headers: settings.max_headers,
                max_header_bytes: settings.max_header_bytes,
            },
            limit_headers,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}
