//! Cross-cutting request handling: correlation ids, the server span, HTTP metrics, the
//! completion log line and problem rendering (one middleware, `observe`, so that each request
//! pays for one layer and every step sees the same span), plus the request limits.

mod authenticate;
mod correlation;
mod limits;
mod observe;
mod problem;

use axum::{Router, extract::DefaultBodyLimit, http::StatusCode, middleware::from_fn_with_state};
use tower_http::{limit::RequestBodyLimitLayer, timeout::TimeoutLayer};

pub use authenticate::{AgentQuota, Caller, Gatekeeper, identify, require};
pub use correlation::{CorrelationId, correlation_id};
pub use limits::{HeaderLimits, limit_headers};
pub use observe::observe;

use crate::{config::ServerSettings, metrics::Metrics};

/// Puts `routes` behind the stack every gateway route has. The benchmark's instrumented
/// handler (`examples/overhead.rs`) uses this too, so what it measures is what runs.
pub fn apply<S>(routes: Router<S>, metrics: Metrics, settings: &ServerSettings) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    // Layers wrap from the inside out: the last one added runs first. `observe` is outermost
    // so that its span covers the others and it renders their error responses (413, 431,
    // 503 timeout) as problems too.
    routes
        .layer(DefaultBodyLimit::max(settings.body_limit_bytes))
        .layer(RequestBodyLimitLayer::new(settings.body_limit_bytes))
        .layer(from_fn_with_state(
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
        .layer(from_fn_with_state(metrics, observe))
}
