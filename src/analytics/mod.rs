//! Analytics: what the journeys stored in `notifications` say — slow operations, error rates
//! per window, the paths messages take, anomalies, and the summary report. The seed's queries,
//! fixed for PostgreSQL (`date_bin`, no alias in `HAVING`, float division; docs/analytics.md).
//!
//! Every analysis runs in one read-only snapshot with its own `statement_timeout`, sees only
//! the caller's agents ([`AgentScope`]), returns at most a fixed number of rows, and reads the
//! rolled buckets of its window from the rollups ([`rollup`], [`split`]) and the rest from
//! the table, through the indexes of `migrations/*_analytics.sql`.

pub mod anomalies;
mod budget;
mod error;
pub mod error_rates;
pub mod markdown;
pub mod message_flows;
pub mod params;
pub mod plans;
pub mod rollup;
mod scope;
pub mod sketch;
pub mod slow_operations;
mod split;
pub mod summary;
mod usage;

use std::{sync::Arc, time::Duration};

use sqlx::{PgConnection, PgPool};
use tokio::sync::Semaphore;

pub use error::AnalyticsError;
pub use params::Period;
pub use scope::AgentScope;
pub use split::Split;

use crate::config::{AnalyticsSettings, DatabaseSettings};

/// The rollups' bucket, and the anomaly rule's.
pub const BUCKET: Duration = Duration::from_secs(300);
/// [`BUCKET`] for date arithmetic.
const BUCKET_DELTA: chrono::TimeDelta = chrono::TimeDelta::seconds(BUCKET.as_secs() as i64);
/// The newest rollups' bucket: minutes, until their 5-minute bucket has closed and they are
/// merged into it (`rollup`), so that the rows an analysis reads directly are those of the
/// last minute or two, not of the last five to eight.
const MINUTE: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// The start of the [`BUCKET`] `at` is in (buckets start at :00, :05, …).
fn bucket_floor(at: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::DurationRound;
    at.duration_trunc(BUCKET_DELTA).expect("a bucket fits")
}

/// The start of the minute `at` is in.
fn minute_floor(at: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::DurationRound;
    at.duration_trunc(MINUTE).expect("a minute fits")
}

/// A time from RFC 3339 text: the unit tests of the time arithmetic (`split`, the rollup
/// ranges) write their instants so.
#[cfg(test)]
fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().expect("an RFC 3339 time")
}

/// Where every bucket starts counting from, so that 5-minute buckets start at :00, :05, …
const BUCKET_ORIGIN: &str = "timestamptz '2000-01-01 00:00:00+00'";

/// Runs analyses; cheap to clone.
#[derive(Clone)]
pub struct Analytics {
    pool: PgPool,
    statement_timeout: Duration,
    work_mem: String,
    parallel_workers: String,
    acquire_timeout: Duration,
    permits: Arc<Semaphore>,
    budget: Arc<budget::Budget>,
}

impl Analytics {
    pub fn new(pool: PgPool, settings: &AnalyticsSettings, database: &DatabaseSettings) -> Self {
        Self {
            pool,
            statement_timeout: settings.statement_timeout,
            work_mem: settings.work_mem.clone(),
            parallel_workers: settings.parallel_workers.to_string(),
            acquire_timeout: database.acquire_timeout,
            permits: Arc::new(Semaphore::new(settings.max_concurrent)),
            budget: Arc::new(budget::Budget::new(settings.time_share)),
        }
    }

    /// Runs `work` (at most `statements` statements) in a read-only snapshot where each
    /// statement is cancelled past the statement timeout, handing it the [`Split`] of
    /// `period` (read first, in the same snapshot; `unit` is the analysis' own bucket). The
    /// whole is bounded client side as well: a half-open connection never answers, whatever
    /// Postgres enforces. It first waits for the time share ([`budget`]) and a permit
    /// (`[analytics] max_concurrent`), and is charged its time after, failed or not.
    ///
    /// The snapshot also gets `[analytics] work_mem`, so that a day's sorts and hashes stay
    /// in memory, `[analytics] parallel_workers`, so that an analysis takes no more cores than
    /// meant from the notify path, custom plans only (a statement prepared for a 1-hour
    /// window must not run a day with the generic plan Postgres switches to after five
    /// executions: 8 s instead of 3), and no JIT: the JSON functions' row estimates are far
    /// too high (100 per call), which made Postgres spend a second compiling a query of a few
    /// seconds.
    async fn read<T>(
        &self,
        statements: u32,
        period: Period,
        unit: Option<Duration>,
        work: impl AsyncFnOnce(&mut PgConnection, Split) -> Result<T, AnalyticsError>,
    ) -> Result<T, AnalyticsError> {
        let wait = self
            .budget
            .admit(std::time::Instant::now())
            .map_err(|retry_after| AnalyticsError::Busy { retry_after })?;
        tokio::time::sleep(wait).await;
        let _permit =
            self.permits
                .clone()
                .try_acquire_owned()
                .map_err(|_| AnalyticsError::Busy {
                    retry_after: Duration::from_secs(1),
                })?;
        let started = std::time::Instant::now();
        // One more statement: the split.
        let deadline = self.acquire_timeout
            + self.statement_timeout * (statements + 1)
            + Duration::from_secs(1);
        let timeout = format!("{}ms", self.statement_timeout.as_millis());
        let snapshot = async {
            let mut tx = self.pool.begin().await?;
            sqlx::query("set transaction isolation level repeatable read, read only")
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "select set_config('statement_timeout', $1, true), \
                     set_config('work_mem', $2, true), set_config('jit', 'off', true), \
                     set_config('max_parallel_workers_per_gather', $3, true), \
                     set_config('plan_cache_mode', 'force_custom_plan', true)",
            )
            .bind(&timeout)
            .bind(&self.work_mem)
            .bind(&self.parallel_workers)
            .execute(&mut *tx)
            .await?;
            let split = Split::of(&mut tx, period, unit).await?;
            let answer = work(&mut tx, split).await?;
            tx.commit().await?;
            Ok(answer)
        };
        let answer = tokio::time::timeout(deadline, snapshot).await;
        // Failed or not, the analysis took its time from the database.
        self.budget.charge(started, started.elapsed());
        answer.map_err(|_| AnalyticsError::Timeout)?
    }
}

/// At most `limit` rows, and whether there were more (queries fetch `limit + 1`).
fn capped<T>(mut rows: Vec<T>, limit: i64) -> (Vec<T>, bool) {
    let truncated = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    (rows, truncated)
}
