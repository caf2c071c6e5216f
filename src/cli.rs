//! Command line: `serve` (the default), `migrate` and `healthcheck`.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};

use crate::{config::Settings, startup::Application, store, telemetry};

/// VOS API gateway: accepts notifications for agents over REST, stores them in Postgres,
/// publishes them to RabbitMQ, and makes the path observable.
#[derive(Debug, Parser)]
#[command(name = "vos-gateway", version, about)]
pub struct Cli {
    /// Configuration file layered over the defaults (environment variables still win).
    #[arg(long, global = true, env = "VOS_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Create the database if needed, run pending migrations, and exit.
    Migrate,
    /// Exit 0 when the local gateway reports ready (for container healthchecks without curl).
    Healthcheck {
        /// Readiness URL; by default `/health/ready` on the configured port of 127.0.0.1.
        #[arg(long)]
        url: Option<String>,
    },
}

/// Parses arguments, runs the command, and maps failures to exit codes:
/// 2 for invalid configuration or usage, 1 for anything else.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("vos-gateway: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(settings).await,
            Command::Migrate => migrate(settings).await,
            Command::Healthcheck { url } => healthcheck(&settings, url).await,
        }
    })
}

async fn serve(settings: Settings) -> ExitCode {
    let guard = match telemetry::init_stdout(&settings.telemetry) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("vos-gateway: {error}");
            return ExitCode::from(2);
        }
    };
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(error = &error as &dyn std::error::Error, "startup failed");
            eprintln!("vos-gateway: {error}");
            guard.shutdown();
            return ExitCode::from(if error.to_string().starts_with("invalid configuration") {
                2
            } else {
                1
            });
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
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vos-gateway: server error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(settings: Settings) -> ExitCode {
    let result = async {
        store::create_database_if_missing(&settings.database)
            .await
            .map_err(|e| e.to_string())?;
        let pool = store::pool(&settings.database).map_err(|e| e.to_string())?;
        store::migrate(&pool).await.map_err(|e| e.to_string())?;
        pool.close().await;
        Ok::<_, String>(())
    }
    .await;
    match result {
        Ok(()) => {
            println!("vos-gateway: migrations are up to date");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("vos-gateway: migrate failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A plain HTTP/1.1 GET over TCP: enough for a liveness check, and no client dependency.
async fn healthcheck(settings: &Settings, url: Option<String>) -> ExitCode {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = url.unwrap_or_else(|| {
        format!(
            "http://127.0.0.1:{}/health/ready",
            settings.server.addr.port()
        )
    });
    let Some(rest) = url.strip_prefix("http://") else {
        eprintln!("vos-gateway: healthcheck supports http:// URLs only");
        return ExitCode::from(2);
    };
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(authority).await.ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = vec![0; 64];
        let n = stream.read(&mut head).await.ok()?;
        Some(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"))
    };
    match tokio::time::timeout(Duration::from_secs(3), check).await {
        Ok(Some(true)) => ExitCode::SUCCESS,
        _ => {
            eprintln!("vos-gateway: {url} is not ready");
            ExitCode::FAILURE
        }
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
