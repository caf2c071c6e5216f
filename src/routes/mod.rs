//! The HTTP API: the routes, each with the scope it needs, merged into one router (two when
//! `[server] admin_addr` is set) behind the middleware stack.

mod accept;
mod agent_status;
mod agents;
mod analytics;
mod health;
mod keys;
mod metrics;
mod openapi;
mod reports;
mod status;
mod status_view;

pub use openapi::ApiDoc;

use axum::{
    Router,
    http::StatusCode,
    middleware::from_fn_with_state,
    routing::{MethodRouter, get, post, put},
};

use crate::{
    config::ServerSettings,
    domain::Scope,
    middleware::{self, Gatekeeper, identify, require},
    state::AppState,
};

/// The public router, and the admin router when `settings.admin_addr` is set; `main` and the
/// tests use the same ones.
pub fn routers(
    state: AppState,
    gate: Gatekeeper,
    settings: &ServerSettings,
) -> (Router, Option<Router>) {
    let guard = |scope: Scope, route: MethodRouter<AppState>| {
        route.route_layer(from_fn_with_state((gate.clone(), scope), require))
    };
    let api = Router::new()
        .route(
            "/api/v1/agents/{agent_id}/notify",
            guard(Scope::Notify, post(accept::notify)),
        )
        .route(
            "/api/v1/notifications/{notification_id}",
            guard(Scope::Read, get(status::show)),
        )
        .route("/api/v1/agents", guard(Scope::Read, get(agents::list)))
        .route(
            "/api/v1/analytics/slow-operations",
            guard(Scope::Read, get(analytics::slow_operations)),
        )
        .route(
            "/api/v1/analytics/error-rates",
            guard(Scope::Read, get(analytics::error_rates)),
        )
        .route(
            "/api/v1/analytics/message-flows",
            guard(Scope::Read, get(analytics::message_flows)),
        )
        .route(
            "/api/v1/analytics/anomalies",
            guard(Scope::Read, get(analytics::anomalies)),
        )
        .route(
            "/api/v1/reports/summary",
            guard(Scope::Read, get(reports::summary)),
        )
        .route(
            "/api/v1/agents/{agent_id}",
            guard(Scope::Read, get(agents::show)).merge(guard(
                Scope::Admin,
                put(agents::register).delete(agents::unregister),
            )),
        )
        .route(
            "/api/v1/keys",
            guard(Scope::Admin, post(keys::create).get(keys::list)),
        )
        .route(
            "/api/v1/keys/{key_id}",
            guard(Scope::Admin, axum::routing::delete(keys::revoke)),
        )
        .merge(probes());
    let (public, admin) = match settings.admin_addr {
        Some(_) => (api, Some(probes().merge(internal()))),
        None => (api.merge(internal()), None),
    };
    let finish = |routes: Router<AppState>| {
        // `identify` outermost: the server span's parent depends on who is calling.
        middleware::apply(
            routes.fallback(|| async { StatusCode::NOT_FOUND }),
            state.metrics.clone(),
            settings,
        )
        .layer(from_fn_with_state(gate.clone(), identify))
        .with_state(state.clone())
    };
    (finish(public), admin.map(finish))
}

/// Open to anyone, on every listener: what orchestrators probe.
fn probes() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
}

/// For operators and Prometheus: on the admin listener when there is one.
fn internal() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::detail))
        .route("/metrics", get(metrics::scrape))
        .route("/api-docs/openapi.json", get(openapi::openapi_json))
}
