//! How an analysis fails, and what the client is told.

use crate::{error::ApiError, store::StoreError};

/// SQLSTATE of a statement Postgres cancelled (here: at `statement_timeout`).
const QUERY_CANCELED: &str = "57014";

#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// Past `[analytics] statement_timeout` (Postgres cancelled it, or the client deadline).
    #[error("the analysis did not finish within its statement timeout")]
    Timeout,
    /// `[analytics] max_concurrent` analyses are already running, or the `time_share` is
    /// spent for longer than an analysis waits; try again after `retry_after`.
    #[error("too many analyses are running")]
    Busy { retry_after: std::time::Duration },
    #[error(transparent)]
    Store(StoreError),
}

impl From<sqlx::Error> for AnalyticsError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.code().as_deref() == Some(QUERY_CANCELED) => {
                Self::Timeout
            }
            _ => Self::Store(error.into()),
        }
    }
}

impl From<StoreError> for AnalyticsError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Timeout(_) => Self::Timeout,
            other => Self::Store(other),
        }
    }
}

impl From<AnalyticsError> for ApiError {
    fn from(error: AnalyticsError) -> Self {
        match error {
            AnalyticsError::Timeout => ApiError::AnalysisTimeout,
            AnalyticsError::Busy { retry_after } => ApiError::AnalysisBusy(retry_after),
            AnalyticsError::Store(error) => error.into(),
        }
    }
}
