//! `vos-gateway migrate`: create the database if needed, run pending migrations, exit.

use super::{Exit, error_chain};
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
