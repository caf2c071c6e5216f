//! Small tables every replica mirrors in memory (`api_keys`, `agents`), kept current by polling
//! their version: a trigger bumps it on every write, whoever wrote (an HTTP call to any
//! replica, or the CLI), so a change reaches every replica within one poll interval.

use std::{sync::Arc, time::Duration};

use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Schema, StoreError, bounded};
use crate::background::{Stage, Ticker};

/// Whether a mirror has been loaded at least once, and a way to wait for it.
#[derive(Clone)]
pub struct Loaded(Arc<watch::Sender<bool>>);

impl Default for Loaded {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(false)))
    }
}

impl Loaded {
    pub fn get(&self) -> bool {
        *self.0.borrow()
    }

    pub fn set(&self) {
        self.0.send_replace(true);
    }

    /// Waits until loaded, at most `within`; whether it is.
    pub async fn wait(&self, within: Duration) -> bool {
        let mut loaded = self.0.subscribe();
        tokio::time::timeout(within, loaded.wait_for(|loaded| *loaded))
            .await
            .is_ok_and(|waited| waited.is_ok())
    }
}

/// A mirrored table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    ApiKeys,
    Agents,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Self::ApiKeys => "api_keys",
            Self::Agents => "agents",
        }
    }
}

/// The table's version: it moves whenever a row does.
pub async fn version(pool: &PgPool, table: Table) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("select version from change_versions where table_name = $1")
            .bind(table.name())
            .fetch_one(pool)
            .await?,
    )
}

/// Keeps a mirror of `table` current: once the schema is ready, `reload` runs at start and
/// whenever the version moves (checked every `every`). A replica that writes the table itself
/// reloads its mirror directly, without waiting for a poll. A failed poll or reload keeps the
/// last copy and is retried at the next tick; every step has `deadline`.
pub fn mirror<F, Fut>(
    pool: PgPool,
    table: Table,
    schema: Schema,
    every: Duration,
    deadline: Duration,
    shutdown: CancellationToken,
    reload: F,
) -> Stage
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), StoreError>> + Send,
{
    let work = async move {
        let mut ticker = Ticker::new(every, shutdown);
        let mut loaded: Option<i64> = None;
        while ticker.next().await {
            if !schema.is_ready() {
                continue;
            }
            let current = match bounded(deadline, version(&pool, table)).await {
                Ok(current) => current,
                Err(error) => {
                    tracing::debug!(
                        error = &error as &dyn std::error::Error,
                        table = table.name(),
                        "version poll failed"
                    );
                    continue;
                }
            };
            if loaded == Some(current) {
                continue;
            }
            match bounded(deadline, reload()).await {
                Ok(()) => loaded = Some(current),
                Err(error) => tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    table = table.name(),
                    "reloading the in-memory copy failed; keeping the last one"
                ),
            }
        }
    };
    Stage::spawn(table.name(), work)
}
