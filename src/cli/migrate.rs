//! `vos-gateway migrate`: create the database if needed, run pending migrations, exit.

use super::Exit;
use crate::{config::Settings, store};

pub(super) async fn migrate(mut settings: Settings) -> Exit {
    // Asked for explicitly, so done whatever `serve` is configured to do at start.
    settings.database.create_if_missing = true;
    settings.database.migrate_on_start = true;
    let pool = match store::pool(&settings.database) {
        Ok(pool) => pool,
        Err(error) => {
            return Exit::Configuration(format!("invalid configuration: `database.url`: {error}"));
        }
    };
    let prepared = store::prepare(&settings.database, &pool).await;
    pool.close().await;
    match prepared {
        Ok(()) => {
            println!("vos-gateway: migrations are up to date");
            Exit::Success
        }
        Err(error) => Exit::Failure(format!("migrate failed: {}", error_chain(&error))),
    }
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
