//! The HTTP API: the routes, merged into one router behind the middleware stack.

mod accept;
mod health;
mod metrics;
mod openapi;
mod status;

pub use openapi::ApiDoc;

use axum::{
    Router,
    http::StatusCode,
    routing::{get, post},
};

use crate::{config::ServerSettings, middleware, state::AppState};

/// The whole application router; `main` and the tests use the same one.
pub fn router(state: AppState, settings: &ServerSettings) -> Router {
    let routes = Router::new()
        .route("/api/v1/agents/{agent_id}/notify", post(accept::notify))
        .route("/api/v1/notifications/{notification_id}", get(status::show))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/health", get(health::detail))
        .route("/metrics", get(metrics::scrape))
        .route("/api-docs/openapi.json", get(openapi::openapi_json))
        // No route: a 404 problem (rendered by `observe`), labelled `unmatched` in metrics.
        .fallback(|| async { StatusCode::NOT_FOUND });
    middleware::apply(routes, state.metrics.clone(), settings).with_state(state)
}
