//! Retention: published and failed notifications are deleted once older than `[retention]`
//! says, in bounded batches. Pending rows are never deleted: they are the outbox.
//!
//! Each batch is one statement that locks only the expired rows it takes (`FOR UPDATE SKIP
//! LOCKED`), so replicas running retention at once take disjoint rows, and the writer (which
//! only inserts) never waits for it.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::{Schema, StoreError, bounded};
use crate::{
    background::{Stage, Ticker},
    config::RetentionSettings,
    metrics::Metrics,
};

/// What one pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub published: u64,
    pub failed: u64,
}

/// Deletes up to `limit` rows of `status` whose `stamp` is older than `age`; returns how many.
async fn delete_batch(
    pool: &PgPool,
    status: &str,
    stamp: &str,
    age: Duration,
    limit: i64,
) -> Result<u64, StoreError> {
    let sql = format!(
        "with expired as ( \
             select notification_id from notifications \
             where status = $1 and {stamp} < now() - $2 \
             order by {stamp} limit $3 for update skip locked) \
         delete from notifications n using expired \
         where n.notification_id = expired.notification_id"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(status)
        .bind(age)
        .bind(limit)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// Retention works at most this share of the time: after a batch that took `t`, it pauses
/// `t × (1 / share − 1)` (at least `[retention] pause`). At 10 million rows a batch of 1,000
/// took ~100 ms and a fixed 20 ms pause let a pass cut notify throughput by ~15%; a quarter
/// of one connection's time still deletes several times faster than rows expire at the
/// rates this gateway accepts (docs/BENCHMARKS.md, "Retention at production volume").
const MAX_SHARE: f64 = 0.25;

/// One pass: batch after batch until nothing expired is left (or `shutdown`), pausing between
/// batches in proportion to how long each took, which leaves the database to the request path
/// however slow the batches get.
pub async fn pass(
    pool: &PgPool,
    settings: &RetentionSettings,
    deadline: Duration,
    shutdown: &CancellationToken,
) -> Result<Removed, StoreError> {
    let mut removed = Removed::default();
    let kinds = [
        ("published", "published_at", settings.published),
        ("failed", "failed_at", settings.failed),
    ];
    for (status, stamp, age) in kinds {
        loop {
            let started = std::time::Instant::now();
            let batch = delete_batch(pool, status, stamp, age, settings.batch_size);
            let deleted = bounded(deadline, batch).await?;
            let took = started.elapsed();
            match status {
                "published" => removed.published += deleted,
                _ => removed.failed += deleted,
            }
            if deleted < settings.batch_size as u64 || shutdown.is_cancelled() {
                break;
            }
            let pause = took.mul_f64(1.0 / MAX_SHARE - 1.0).max(settings.pause);
            tokio::time::sleep(pause).await;
        }
    }
    Ok(removed)
}

/// Runs a pass every `settings.interval` once the schema is ready, counting what it removed
/// in `vos_retention_deleted_total` and summing each non-empty pass up in one log line.
pub fn spawn(
    pool: PgPool,
    metrics: Metrics,
    schema: Schema,
    settings: &RetentionSettings,
    deadline: Duration,
    shutdown: CancellationToken,
) -> Stage {
    let settings = settings.clone();
    Stage::spawn("retention", async move {
        let mut ticker = Ticker::new(settings.interval, shutdown.clone());
        while ticker.next().await {
            if !schema.is_ready() {
                continue;
            }
            let started = Instant::now();
            match pass(&pool, &settings, deadline, &shutdown).await {
                Ok(removed) => {
                    metrics.count_retention("published", removed.published);
                    metrics.count_retention("failed", removed.failed);
                    if removed != Removed::default() {
                        tracing::info!(
                            published = removed.published,
                            failed = removed.failed,
                            duration_ms = started.elapsed().as_millis() as u64,
                            "retention removed expired notifications"
                        );
                    }
                }
                Err(error) => tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "retention pass failed; it runs again at the next interval"
                ),
            }
        }
    })
}
