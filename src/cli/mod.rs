//! Command line: `serve` (the default), `migrate`, `healthcheck`, `keys`, `agents` and
//! `report`.

mod agents;
mod healthcheck;
mod keys;
mod migrate;
mod report;
mod serve;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::{config::Settings, store};

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
    /// Manage API keys in the database.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Register and list agents in the database.
    #[command(subcommand)]
    Agents(agents::AgentsCommand),
    /// Print the summary report of the last `--since` (straight from the database).
    Report(report::ReportArgs),
}

/// How a command ended, as an exit status: 2 for invalid configuration or usage (what an
/// operator must fix), 1 for anything else.
pub enum Exit {
    Success,
    Configuration(String),
    Failure(String),
}

impl Exit {
    fn report(self) -> ExitCode {
        match self {
            Self::Success => ExitCode::SUCCESS,
            Self::Configuration(message) => {
                eprintln!("vos-gateway: {message}");
                ExitCode::from(2)
            }
            Self::Failure(message) => {
                eprintln!("vos-gateway: {message}");
                ExitCode::FAILURE
            }
        }
    }
}

/// Parses arguments, runs the command, and maps its end to an exit status.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => return Exit::Configuration(error.to_string()).report(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let exit = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve::serve(settings).await,
            Command::Migrate => migrate::migrate(settings).await,
            Command::Healthcheck { url } => healthcheck::healthcheck(&settings, url).await,
            Command::Keys(command) => keys::keys(settings, command).await,
            Command::Agents(command) => agents::agents(settings, command).await,
            Command::Report(args) => report::report(settings, args).await,
        }
    });
    exit.report()
}

/// A pool on the configured database, created and migrated if need be: the commands that work
/// on the database directly may run before the first `serve`. Closed again on failure.
async fn prepared_pool(settings: &Settings) -> Result<sqlx::PgPool, Exit> {
    let pool = store::pool(&settings.database).map_err(|error| {
        Exit::Configuration(format!("invalid configuration: `database.url`: {error}"))
    })?;
    if let Err(error) = store::prepare(&settings.database, &pool).await {
        pool.close().await;
        return Err(Exit::Failure(error_chain(&error)));
    }
    Ok(pool)
}

/// An error and its causes on one line, for a terminal.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}
