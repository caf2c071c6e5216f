//! Health endpoints in `application/health+json` (draft-inadarei-api-health-check):
//! `live` never touches a dependency; `ready` needs Postgres (and the schema); `/health`
//! reports each check with its latency. A broker outage is `warn`, not `fail`: the outbox
//! keeps accepting, so taking the gateway out of rotation would only lose traffic.

use std::time::{Duration, Instant};

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{metrics::Dependency, state::AppState, store};

const HEALTH_JSON: &str = "application/health+json";
/// Probes answer within this, whatever the dependency does.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// A pending notification older than this makes `/health` say `warn`.
const STALE_BACKLOG_SECONDS: f64 = 60.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Pass,
    Warn,
    Fail,
}

fn health_response(status: Status, body: Value) -> Response {
    let code = if status == Status::Fail {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut response = (code, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(HEALTH_JSON));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Liveness: the process serves requests. Never touches a dependency.
#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, description = "Alive", body = Object, content_type = "application/health+json")))]
pub async fn live() -> Response {
    health_response(Status::Pass, json!({ "status": Status::Pass }))
}

/// Readiness: Postgres answers, the schema is migrated, keys and agents are loaded.
#[utoipa::path(get, path = "/health/ready", tag = "health", responses(
    (status = 200, description = "Ready", body = Object, content_type = "application/health+json"),
    (status = 503, description = "Not ready", body = Object, content_type = "application/health+json")))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let (status, _, output) = check_postgres(&state).await;
    let mut body = json!({ "status": status });
    if let Some(output) = output {
        body["output"] = output.into();
    }
    health_response(status, body)
}

/// Every check with its latency, the outbox backlog, uptime and version.
#[utoipa::path(get, path = "/health", tag = "health", responses(
    (status = 200, description = "pass or warn", body = Object, content_type = "application/health+json"),
    (status = 503, description = "fail", body = Object, content_type = "application/health+json")))]
pub async fn detail(State(state): State<AppState>) -> Response {
    let ((db_status, db_latency, db_output), (mq_status, mq_latency, mq_output)) =
        tokio::join!(check_postgres(&state), check_rabbitmq(&state));
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let backlog = state.metrics.outbox_backlog.get();
    let oldest = state.metrics.outbox_oldest_age.get();
    let backlog_status = if oldest > STALE_BACKLOG_SECONDS {
        Status::Warn
    } else {
        Status::Pass
    };
    let check = |status: Status, latency: Duration, output: Option<String>, kind: &str| {
        let mut check = json!({
            "componentType": kind,
            "observedValue": (latency.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
            "observedUnit": "ms",
            "status": status,
            "time": now,
        });
        if let Some(output) = output {
            check["output"] = output.into();
        }
        json!([check])
    };
    let status = db_status
        .max(if mq_status == Status::Fail {
            Status::Warn
        } else {
            mq_status
        })
        .max(backlog_status);
    let body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "serviceId": "vos-gateway",
        "description": "VOS API gateway",
        "uptime": state.started.elapsed().as_secs(),
        "checks": {
            "postgres:responseTime": check(db_status, db_latency, db_output, "datastore"),
            "rabbitmq:responseTime": check(mq_status, mq_latency, mq_output, "component"),
            "outbox:backlog": [{
                "componentType": "component",
                "observedValue": backlog,
                "observedUnit": "notifications",
                "status": backlog_status,
                "time": now,
                "oldestPendingSeconds": oldest,
            }],
        },
    });
    health_response(status, body)
}

async fn check_postgres(state: &AppState) -> (Status, Duration, Option<String>) {
    let started = Instant::now();
    let result = store::ping(&state.pool, PROBE_TIMEOUT).await;
    let latency = started.elapsed();
    let up = result.is_ok();
    state.metrics.mark_dependency(Dependency::Postgres, up);
    match result {
        Ok(()) if !state.schema.is_ready() => (
            Status::Fail,
            latency,
            Some("migrations have not run yet".into()),
        ),
        // Until keys and agents are in memory, no request can be authorised or routed.
        Ok(()) if !state.keyring.is_loaded() || !state.registry.is_loaded() => (
            Status::Fail,
            latency,
            Some("keys and agents are not loaded yet".into()),
        ),
        Ok(()) => (Status::Pass, latency, None),
        Err(error) => (Status::Fail, latency, Some(error.to_string())),
    }
}

/// Connected publisher, plus a TCP connect to the broker to measure reachability.
async fn check_rabbitmq(state: &AppState) -> (Status, Duration, Option<String>) {
    let started = Instant::now();
    let reachable = tokio::time::timeout(
        PROBE_TIMEOUT,
        tokio::net::TcpStream::connect(&*state.broker_addr),
    )
    .await;
    let latency = started.elapsed();
    let connected = state.publisher.is_connected();
    state
        .metrics
        .mark_dependency(Dependency::RabbitMq, connected);
    match (connected, reachable) {
        (true, Ok(Ok(_))) => (Status::Pass, latency, None),
        (true, _) => (
            Status::Warn,
            latency,
            Some("connected, but a new connection could not be opened".into()),
        ),
        (false, _) => (
            Status::Fail,
            latency,
            Some("not connected; notifications wait in the outbox".into()),
        ),
    }
}
