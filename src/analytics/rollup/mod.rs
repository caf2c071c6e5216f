//! The rollup stage: every `[analytics] rollup_interval` (`rollups = true`, the default), the
//! minutes that have closed since the last run are summed up into the rollup tables, and once
//! a 5-minute bucket has closed its minutes are merged into it, so that an analysis of a day
//! reads ~300 buckets instead of every journey, and only the last minute or two from the
//! journeys themselves ([`super::split`] says which part of a window comes from where). A
//! first start, or a gateway that was down, catches up an hour at a time.
//!
//! Results are immutable once recorded, so a results minute is written once. Journeys change
//! after their bucket closes (published, answered, failed), so each run first rolls again the
//! accepted-side buckets that changed (see [`sql::changed_buckets`]). One step is one
//! transaction holding an advisory lock: replicas take turns, and an analysis sees a step
//! whole or not at all.

mod ranges;
pub(super) mod sql;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;

use super::{AnalyticsError, BUCKET_DELTA, bucket_floor, minute_floor};
use crate::{
    background::{Stage, Ticker},
    config::AnalyticsSettings,
    store::Schema,
};
use ranges::{pieces, ranges};

/// How long after a minute ends it is rolled. A row is stamped (`accepted_at` from the
/// gateway's clock, `result_recorded_at` from the database's) before it commits, and every
/// statement that writes one has a deadline of seconds; 30 s also leave replicas' clocks
/// some drift from the database's. A journey stamped before a roll and committed after it
/// is still counted when it is pending (its bucket's pending count changes); the lag is what
/// keeps results, written once, from being missed.
const LAG: TimeDelta = TimeDelta::seconds(30);
/// How much one step rolls at most, so that catching up a week is many short transactions.
const STEP: TimeDelta = TimeDelta::hours(1);
/// Rollups older than the longest window, and a day's margin, are deleted.
const KEEP: TimeDelta = TimeDelta::days(8);
/// Catching up works at most this share of the time (as retention, store/retention.rs).
const MAX_SHARE: f64 = 0.5;
/// Arbitrary, fixed: the advisory lock replicas take turns on.
const LOCK: i64 = 0x766f_735f_726f_6c6c;

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Rolled up to `until`; `more` if buckets closed since then are still to roll.
    Rolled { until: DateTime<Utc>, more: bool },
    /// Another replica holds the lock.
    Busy,
}

/// Rolls the buckets closed by now (and ending by `cap`, if given), step after step; returns
/// where the rollups end. What the stage does on every tick; tests call it to roll their
/// fixtures.
pub async fn catch_up(
    pool: &PgPool,
    cap: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>, AnalyticsError> {
    loop {
        match step(pool, cap).await? {
            Step::Rolled { until, more: false } => return Ok(until),
            Step::Rolled { .. } => {}
            Step::Busy => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// One step: at most [`STEP`] of closed minutes (ending by `cap`), in one transaction.
pub async fn step(pool: &PgPool, cap: Option<DateTime<Utc>>) -> Result<Step, AnalyticsError> {
    let mut tx = pool.begin().await?;
    // As an analysis' snapshot (super::Analytics::read): custom plans, or after five steps
    // Postgres plans the range for an unknown window and scans the table (5 s a step instead
    // of 0.3 at 10 million rows); an hour's aggregation in memory; no JIT.
    sqlx::query(
        "select set_config('statement_timeout', '60s', true), \
             set_config('plan_cache_mode', 'force_custom_plan', true), \
             set_config('work_mem', '64MB', true), set_config('jit', 'off', true)",
    )
    .execute(&mut *tx)
    .await?;
    let (locked, now): (bool, DateTime<Utc>) =
        sqlx::query_as("select pg_try_advisory_xact_lock($1), now()")
            .bind(LOCK)
            .fetch_one(&mut *tx)
            .await?;
    if !locked {
        return Ok(Step::Busy);
    }
    let closed = minute_floor(cap.map_or(now - LAG, |cap| cap.min(now - LAG)));
    let (from, until, trimmed) = progress(&mut tx, bucket_floor(now - KEEP)).await?;
    let next = closed.min(until + STEP);
    let rolls = next > until;
    if rolls {
        roll(&mut tx, from, until, next).await?;
    }
    let until = until.max(next);
    // A tick that finds no minute closed since the last writes nothing.
    if rolls || trimmed {
        sqlx::query("update rollup_progress set rolled_from = $1, rolled_until = $2")
            .bind(from)
            .bind(until)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Step::Rolled {
        until,
        more: until < closed,
    })
}

/// Where the rollups are, starting them a week back on a first run; drops buckets before
/// `keep_from` (and says whether it did).
async fn progress(
    tx: &mut Transaction<'_, Postgres>,
    keep_from: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, bool), AnalyticsError> {
    let (from, until): (DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
        "insert into rollup_progress (rolled_from, rolled_until) values ($1, $1) \
         on conflict (singleton) do update set singleton = true \
         returning rolled_from, rolled_until",
    )
    .bind(keep_from)
    .fetch_one(&mut **tx)
    .await?;
    if from >= keep_from {
        return Ok((from, until, false));
    }
    for table in [
        "rollup_results",
        "rollup_agents",
        "rollup_tools",
        "rollup_models",
        "rollup_journeys",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "delete from {table} where bucket_start < $1"
        )))
        .bind(keep_from)
        .execute(&mut **tx)
        .await?;
    }
    Ok((keep_from, until.max(keep_from), true))
}

/// Rolls `[until, next)`, rolls again the accepted-side buckets of `[from, until)` that
/// changed meanwhile, and merges the minutes of the bucket `until` was in if `next` closes
/// it. Before, the rollups hold 5-minute buckets up to `bucket_floor(until)` and minutes from
/// there to `until`; after, the same up to `next`. Buckets that close within the step are
/// rolled whole, so that catching up writes each row once.
async fn roll(
    tx: &mut Transaction<'_, Postgres>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    next: DateTime<Utc>,
) -> Result<(), AnalyticsError> {
    let open = bucket_floor(until);
    let changed: Vec<DateTime<Utc>> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql::changed_buckets()))
            .bind(from)
            .bind(until)
            .bind(next)
            .bind(open)
            .fetch_all(&mut **tx)
            .await?;
    sqlx::query("delete from rollup_journeys where bucket_start = any($1)")
        .bind(&changed)
        .execute(&mut **tx)
        .await?;
    for (start, end, grain) in ranges(changed, open) {
        sqlx::query(sqlx::AssertSqlSafe(sql::journeys(grain)))
            .bind(start)
            .bind(end)
            .execute(&mut **tx)
            .await?;
    }
    for (start, end, grain) in pieces(until, next) {
        let statements = [
            sql::results(grain),
            sql::tools(grain),
            sql::models(grain),
            sql::journeys(grain),
        ];
        for statement in statements {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .bind(start)
                .bind(end)
                .execute(&mut **tx)
                .await?;
        }
    }
    let closed = bucket_floor(next);
    if closed > open {
        if until > open {
            for statement in sql::merges() {
                sqlx::query(sqlx::AssertSqlSafe(statement))
                    .bind(open)
                    .bind(open + BUCKET_DELTA)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        sqlx::query(sqlx::AssertSqlSafe(sql::agents()))
            .bind(open)
            .bind(closed)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Catches up every `[analytics] rollup_interval` once the schema is ready. While catching
/// up, it pauses between steps in proportion to their time, leaving the database to the
/// request path.
pub fn spawn(
    pool: PgPool,
    schema: Schema,
    settings: &AnalyticsSettings,
    shutdown: CancellationToken,
) -> Option<Stage> {
    if !settings.rollups {
        return None;
    }
    let interval = settings.rollup_interval;
    Some(Stage::spawn("analytics rollup", async move {
        let mut ticker = Ticker::new(interval, shutdown.clone());
        while ticker.next().await {
            if !schema.is_ready() {
                continue;
            }
            loop {
                let started = std::time::Instant::now();
                let step = tokio::time::timeout(Duration::from_secs(90), step(&pool, None)).await;
                match step {
                    Ok(Ok(Step::Rolled { more: true, .. })) if !shutdown.is_cancelled() => {
                        let took = started.elapsed();
                        tokio::time::sleep(took.mul_f64(1.0 / MAX_SHARE - 1.0)).await;
                    }
                    Ok(Ok(_)) => break,
                    Ok(Err(error)) => {
                        tracing::warn!(
                            error = &error as &dyn std::error::Error,
                            "analytics rollup failed; it runs again at the next interval"
                        );
                        break;
                    }
                    Err(_) => {
                        tracing::warn!("analytics rollup did not finish within 90 s");
                        break;
                    }
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::{BUCKET, MINUTE, params::MAX_WINDOW};

    #[test]
    fn a_step_is_whole_buckets() {
        assert_eq!(STEP.num_seconds() % BUCKET.as_secs() as i64, 0);
        assert_eq!(KEEP.num_seconds() % BUCKET.as_secs() as i64, 0);
        assert_eq!(BUCKET.as_secs() as i64 % MINUTE.num_seconds(), 0);
        assert!(KEEP.to_std().unwrap() > MAX_WINDOW);
        let at: DateTime<Utc> = "2026-11-30T10:07:31Z".parse().unwrap();
        assert_eq!(
            bucket_floor(at),
            "2026-11-30T10:05:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            minute_floor(at),
            "2026-11-30T10:07:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
