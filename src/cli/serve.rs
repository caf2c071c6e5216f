//! `vos-gateway serve`: telemetry, the gateway, and a graceful stop on SIGTERM or Ctrl-C.

use super::Exit;
use crate::{config::Settings, privacy, startup::Application, telemetry};

pub(super) async fn serve(settings: Settings) -> Exit {
    // Before telemetry: the first log line is already redacted. (Validated with the settings.)
    match settings.privacy.policy() {
        Ok(policy) => privacy::install(policy),
        Err(problem) => {
            return Exit::Configuration(format!(
                "invalid configuration: `privacy.patterns`: {problem}"
            ));
        }
    }
    let guard = match telemetry::init_stdout(&settings.telemetry) {
        Ok(guard) => guard,
        Err(error) if error.is_configuration() => return Exit::Configuration(error.to_string()),
        Err(error) => return Exit::Failure(error.to_string()),
    };
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(error = &error as &dyn std::error::Error, "startup failed");
            guard.shutdown();
            return if error.is_configuration() {
                Exit::Configuration(error.to_string())
            } else {
                Exit::Failure(error.to_string())
            };
        }
    };
    tracing::info!(
        port = app.port(),
        version = env!("CARGO_PKG_VERSION"),
        "vos-gateway listening"
    );
    let stop = app.stop_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown signal received");
        stop.cancel();
    });
    let result = app.run_until_stopped().await;
    guard.shutdown();
    match result {
        Ok(()) => Exit::Success,
        Err(error) => Exit::Failure(format!("server error: {error}")),
    }
}

/// Ctrl-C or SIGTERM (what Kubernetes and compose send).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
