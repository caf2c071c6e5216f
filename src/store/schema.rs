//! The schema: the database created when missing and migrated, once at start by `serve` (in
//! the background, retried while Postgres is down) or alone by `migrate`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sqlx::{
    PgPool, Postgres,
    migrate::{MigrateDatabase, MigrateError, Migrator},
};
use tokio_util::sync::CancellationToken;

use super::{StoreError, bounded};
use crate::{background::Stage, config::DatabaseSettings};

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// Why the schema could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("creating the database failed")]
    Create(#[source] StoreError),
    #[error("running migrations failed")]
    Migrate(#[source] MigrateError),
}

/// Creates the database (when `create_if_missing`) and runs pending migrations (when
/// `migrate_on_start`). sqlx takes an advisory lock, so replicas starting together are safe.
pub async fn prepare(settings: &DatabaseSettings, pool: &PgPool) -> Result<(), PrepareError> {
    if settings.create_if_missing {
        create_database_if_missing(settings)
            .await
            .map_err(PrepareError::Create)?;
    }
    if settings.migrate_on_start {
        MIGRATOR.run(pool).await.map_err(PrepareError::Migrate)?;
    }
    Ok(())
}

/// Creates the database named in the URL when it does not exist.
async fn create_database_if_missing(settings: &DatabaseSettings) -> Result<(), StoreError> {
    let deadline = settings.acquire_timeout * 2;
    let url = settings.url.as_str();
    if bounded(deadline, async {
        Ok(Postgres::database_exists(url).await?)
    })
    .await?
    {
        return Ok(());
    }
    match bounded(deadline, async {
        Ok(Postgres::create_database(url).await?)
    })
    .await
    {
        Ok(()) => {
            tracing::info!("created the database");
            Ok(())
        }
        // 42P04 duplicate_database: another replica created it first.
        Err(StoreError::Query(sqlx::Error::Database(db)))
            if db.code().as_deref() == Some("42P04") =>
        {
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// Whether the schema is ready; until then the gateway is not ready and nothing is relayed.
#[derive(Clone, Default)]
pub struct Schema(Arc<AtomicBool>);

impl Schema {
    /// Prepares the schema in the background, retrying while Postgres is unreachable so the
    /// gateway can start (and report not-ready) before its database is up.
    pub fn spawn(
        pool: PgPool,
        settings: &DatabaseSettings,
        shutdown: CancellationToken,
    ) -> (Self, Stage) {
        let schema = Self::default();
        let ready = schema.clone();
        let settings = settings.clone();
        let work = async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                let prepared = tokio::select! {
                    prepared = prepare(&settings, &pool) => prepared,
                    _ = shutdown.cancelled() => return,
                };
                match prepared {
                    Ok(()) => return ready.0.store(true, Ordering::Release),
                    Err(error) => tracing::warn!(
                        error = &error as &dyn std::error::Error,
                        "database not ready; retrying"
                    ),
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        };
        (schema, Stage::spawn("schema", work))
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
