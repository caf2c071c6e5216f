//! Postgres: the pool, migrations, and the notification (outbox) table.

pub mod notifications;
mod writer;

use std::{str::FromStr, time::Duration};

use sqlx::{
    ConnectOptions, Connection, Postgres,
    migrate::{MigrateDatabase, Migrator},
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
};

pub use notifications::{Backlog, StoredNotification};
pub use writer::{CommitError, OnCommitted, Writer};

use crate::config::DatabaseSettings;

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// A database failure, split by what the client should be told.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Unreachable, overloaded or restarting: worth retrying later (503).
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The database did not answer within the deadline (503).
    #[error("the database did not answer within {0:?}")]
    Timeout(Duration),
    /// Anything else is a bug or a schema problem (500).
    #[error("database error")]
    Query(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let unavailable = match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => true,
            sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
            // Class 08: connection exception; 57: operator intervention (shutdown, statement
            // timeout); 53: insufficient resources (too many connections, disk full).
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57") || c.starts_with("53")),
            _ => false,
        };
        if unavailable {
            Self::Unavailable(error)
        } else {
            Self::Query(error)
        }
    }
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, Self::Query(_))
    }
}

fn connect_options(settings: &DatabaseSettings) -> Result<PgConnectOptions, sqlx::Error> {
    let statement_timeout = format!("{}ms", settings.statement_timeout.as_millis());
    Ok(PgConnectOptions::from_str(&settings.url)?
        .application_name("vos-gateway")
        // A crashed relay must not hold its row locks for long.
        .options([
            ("statement_timeout", statement_timeout.as_str()),
            ("idle_in_transaction_session_timeout", "60s"),
        ])
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1)))
}

/// A lazy pool: the gateway starts (and answers health probes) while Postgres is down.
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    let release_deadline = settings.acquire_timeout;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(settings.acquire_timeout)
        // A connection comes back to the pool after its query was abandoned at a deadline,
        // perhaps on a half-open link. sqlx pings every returned connection without a
        // deadline: on a silent link that ping waits for ever and the connection counts as
        // in use for good; a few outages exhaust the pool and every request answers 503.
        // Ping it here within a deadline first; one that does not answer is closed hard.
        // (sqlx still pings once more after this; only a link that goes silent between the
        // two pings can keep a connection, until the kernel gives up on the socket.)
        .after_release(move |connection, _| {
            Box::pin(async move {
                match tokio::time::timeout(release_deadline, connection.ping()).await {
                    Ok(Ok(())) => Ok(true),
                    Ok(Err(error)) => Err(error),
                    Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no answer to a ping on release",
                    ))),
                }
            })
        })
        // Recycle connections so that a failover or restart is picked up without a restart here.
        .idle_timeout(Duration::from_secs(600))
        .max_lifetime(Duration::from_secs(1800))
        .connect_lazy_with(connect_options(settings)?))
}

/// Creates the database named in the URL when it does not exist.
pub async fn create_database_if_missing(settings: &DatabaseSettings) -> Result<(), StoreError> {
    let deadline = settings.acquire_timeout * 2;
    let url = settings.url.as_str();
    let exists = tokio::time::timeout(deadline, Postgres::database_exists(url))
        .await
        .map_err(|_| StoreError::Timeout(deadline))??;
    if exists {
        return Ok(());
    }
    match tokio::time::timeout(deadline, Postgres::create_database(url)).await {
        Err(_) => Err(StoreError::Timeout(deadline)),
        Ok(Ok(())) => {
            tracing::info!("created the database");
            Ok(())
        }
        // 42P04 duplicate_database: another replica created it first.
        Ok(Err(sqlx::Error::Database(db))) if db.code().as_deref() == Some("42P04") => Ok(()),
        Ok(Err(error)) => Err(error.into()),
    }
}

/// Runs pending migrations. sqlx takes an advisory lock, so replicas starting together are safe.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// `SELECT 1` within `deadline`: the readiness probe.
pub async fn ping(pool: &PgPool, deadline: Duration) -> Result<(), StoreError> {
    tokio::time::timeout(deadline, sqlx::query("select 1").execute(pool))
        .await
        .map_err(|_| StoreError::Timeout(deadline))??;
    Ok(())
}
