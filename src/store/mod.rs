//! Postgres: the pool, the schema, and the notification (outbox) table.

pub mod agents;
pub mod changes;
mod error;
pub mod keys;
pub mod notifications;
pub mod results;
pub mod retention;
mod schema;
mod writer;

use std::{str::FromStr, time::Duration};

use sqlx::{
    ConnectOptions, Connection,
    postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode},
};

pub use error::{StoreError, bounded};
pub use notifications::{Answer, Backlog, StoredNotification};
pub use schema::{MIGRATOR, Schema, prepare};
pub use writer::{CommitError, OnCommitted, Writer};

use crate::config::DatabaseSettings;

fn connect_options(settings: &DatabaseSettings) -> Result<PgConnectOptions, sqlx::Error> {
    let statement_timeout = format!("{}ms", settings.statement_timeout.as_millis());
    let mut options = PgConnectOptions::from_str(&settings.url)?;
    // TLS when the URL asks for it (`sslmode=require|verify-ca|verify-full`), not otherwise:
    // libpq's default `prefer` would quietly encrypt loopback traffic (CPU for nothing), and a
    // TLS connection on a half-open link can hang sqlx's close for good (docs/reliability.md).
    if !asks_for_ssl_mode(&settings.url) {
        options = options.ssl_mode(PgSslMode::Disable);
    }
    Ok(options
        .application_name("vos-gateway")
        // A crashed relay must not hold its row locks for long.
        .options([
            ("statement_timeout", statement_timeout.as_str()),
            ("idle_in_transaction_session_timeout", "60s"),
        ])
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1)))
}

/// Whether the URL sets `sslmode` (or sqlx's spelling, `ssl-mode`).
fn asks_for_ssl_mode(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|pair| pair.starts_with("sslmode=") || pair.starts_with("ssl-mode="))
    })
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

/// `SELECT 1` within `deadline`: the readiness probe.
pub async fn ping(pool: &PgPool, deadline: Duration) -> Result<(), StoreError> {
    bounded(deadline, async {
        sqlx::query("select 1").execute(pool).await?;
        Ok(())
    })
    .await
}
