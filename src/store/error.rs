//! What can go wrong with Postgres, split by what the client should be told.

use std::time::Duration;

use crate::error::ApiError;

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Unreachable, overloaded or restarting: worth retrying later (503).
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The database did not answer within the deadline (503).
    #[error("the database did not answer within {0:?}")]
    Timeout(Duration),
    /// The schema is not migrated yet (a first start still creating it): 503, like an outage.
    #[error("the database schema is not ready yet")]
    NotReady,
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

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            ApiError::DatabaseUnavailable(Box::new(error))
        } else {
            ApiError::Internal(Box::new(error))
        }
    }
}

/// Runs one database step within `deadline`: Postgres's `statement_timeout` cannot help on a
/// half-open connection (the server never sees the statement).
pub async fn bounded<T>(
    deadline: Duration,
    step: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(deadline, step)
        .await
        .map_err(|_| StoreError::Timeout(deadline))?
}
