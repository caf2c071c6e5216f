//! `vos-gateway report --since 24h [--format markdown|json]`: the summary report, straight from
//! the database, over every agent (the same [`Summary`] as `GET /api/v1/reports/summary`).

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{Exit, error_chain};
use crate::{
    analytics::{AgentScope, Analytics, markdown, params},
    config::Settings,
};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The period: `1h`, `24h`, `7d` (at most 7 days), up to now.
    #[arg(long, default_value = "24h")]
    since: String,
    /// Markdown (readable as it is in a terminal) or JSON (the API's document).
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Markdown,
    Json,
}

pub(super) async fn report(settings: Settings, args: ReportArgs) -> Exit {
    let period = match params::period("since", Some(&args.since), Duration::ZERO) {
        Ok(period) => period,
        Err(error) => return Exit::Configuration(format!("--{error}")),
    };
    let pool = match super::prepared_pool(&settings).await {
        Ok(pool) => pool,
        Err(exit) => return exit,
    };
    let analytics = Analytics::new(pool.clone(), &settings.analytics, &settings.database);
    let summary = analytics.summary(&AgentScope::all(), period).await;
    pool.close().await;
    match summary {
        Ok(summary) => {
            match args.format {
                Format::Markdown => print!("{}", markdown::render(&summary)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&summary).expect("a summary serialises")
                ),
            }
            Exit::Success
        }
        Err(error) => Exit::Failure(error_chain(&error)),
    }
}
