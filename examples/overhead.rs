//! What the gateway's middleware stack costs: one process serves the same trivial JSON
//! handler twice, bare and behind the stack every gateway route has (`observe`: correlation
//! id, server span, metrics, log line, problem rendering; body and header limits; timeout),
//! applied by `vos_gateway::middleware::apply` as the gateway's router applies it, with the
//! telemetry configured exactly as the gateway's (`VOS__TELEMETRY__*`, `OTEL_*`, `RUST_LOG`).
//! `bench/run.sh` loads both routes alternately and reports the ratio.
//!
//! ```text
//! overhead [ADDR]      default 127.0.0.1:18090
//! POST /bare           the handler alone
//! POST /instrumented   the handler behind the full stack
//! ```

use axum::{
    Json, Router,
    http::StatusCode,
    routing::{get, post},
    serve::ListenerExt,
};
use serde::Serialize;
use vos_gateway::{
    config::Settings, domain::NotifyRequest, metrics::Metrics, middleware, telemetry,
};

#[derive(Serialize)]
struct Answer {
    status: &'static str,
    notification_type: String,
}

/// The handler both routes share: parse the notify body, answer a small JSON document.
async fn handler(Json(request): Json<NotifyRequest>) -> (StatusCode, Json<Answer>) {
    (
        StatusCode::OK,
        Json(Answer {
            status: "accepted",
            notification_type: request.notification_type,
        }),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18090".to_owned());
    let settings = Settings::load(None)?;
    let guard = telemetry::init_stdout(&settings.telemetry)?;
    let metrics = Metrics::new(settings.metrics.max_agent_labels);

    let bare = Router::new().route("/bare", post(handler));
    // The gateway's own stack, through the function its router uses.
    let instrumented = middleware::apply(
        Router::new().route("/instrumented", post(handler)),
        metrics.clone(),
        &settings.server,
    );
    let scrape = {
        let metrics = metrics.clone();
        Router::new().route(
            "/metrics",
            get(move || async move { metrics.render(false) }),
        )
    };
    let app = bare.merge(instrumented).merge(scrape);

    // TCP_NODELAY, as the gateway's listener sets it.
    let listener = tokio::net::TcpListener::bind(&addr).await?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    eprintln!("overhead listening on {addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await?;
    guard.shutdown();
    Ok(())
}
