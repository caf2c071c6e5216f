//! The relay: publishes pending notifications whose fast path did not finish (broker outage,
//! full queue, crash), in acceptance order, and keeps the backlog gauges current.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::recorder::count_failed;
use crate::{
    broker::{PublishJob, PublishResult, Publisher, Reply},
    config::RelaySettings,
    metrics::{DependencyLabels, Metrics},
    store::{StoreError, notifications},
    telemetry,
    trace_context::TraceParent,
};

pub struct Relay {
    pub pool: PgPool,
    pub publisher: Publisher,
    pub metrics: Metrics,
    pub settings: RelaySettings,
    /// Deadline for one publish to be confirmed; a pass waits at most a little longer.
    pub confirm_timeout: Duration,
    /// Deadline for each database step of a pass (begin, claim, settle, commit). Postgres's
    /// `statement_timeout` cannot help on a half-open connection (the server never sees the
    /// statement), and without this a pass would wait for ever with its rows locked.
    pub db_deadline: Duration,
    /// Set once the database exists and is migrated. Before that there is nothing to relay,
    /// and a first start (which creates the database) must not log it as unreachable.
    pub schema_ready: Arc<AtomicBool>,
}

impl Relay {
    /// Runs until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.settings.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut db_was_up = true;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if !self.schema_ready.load(Ordering::Acquire) {
                continue;
            }
            let db_up = self.refresh_gauges().await;
            if db_up != db_was_up {
                if db_up {
                    tracing::info!("database reachable again")
                } else {
                    tracing::warn!("database unreachable")
                }
                db_was_up = db_up;
            }
            if !db_up || !self.publisher.is_connected() {
                continue;
            }
            // Keep going while passes come back full: a backlog drains at broker speed.
            loop {
                match self.pass().await {
                    Ok(claimed)
                        if claimed as i64 >= self.settings.batch_size
                            && !shutdown.is_cancelled() =>
                    {
                        continue;
                    }
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(
                            error = &error as &dyn std::error::Error,
                            "relay pass failed"
                        );
                        break;
                    }
                }
            }
        }
    }

    /// Updates the backlog and dependency gauges; `false` when the database is unreachable.
    async fn refresh_gauges(&self) -> bool {
        let up = |dependency, value: bool| {
            self.metrics
                .dependency_up
                .get_or_create(&DependencyLabels { dependency })
                .set(i64::from(value));
        };
        up("rabbitmq", self.publisher.is_connected());
        let backlog =
            tokio::time::timeout(self.confirm_timeout, notifications::backlog(&self.pool)).await;
        let reachable = match backlog {
            Ok(Ok(backlog)) => {
                self.metrics.outbox_backlog.set(backlog.pending);
                self.metrics
                    .outbox_oldest_age
                    .set(backlog.oldest_age_seconds);
                true
            }
            _ => false,
        };
        up("postgres", reachable);
        let size = self.pool.size() as i64;
        let idle = self.pool.num_idle() as i64;
        self.metrics
            .db_pool_connections
            .get_or_create(&crate::metrics::PoolStateLabels { state: "idle" })
            .set(idle);
        self.metrics
            .db_pool_connections
            .get_or_create(&crate::metrics::PoolStateLabels { state: "in_use" })
            .set(size - idle);
        reachable
    }

    /// Runs one database step within `db_deadline`.
    async fn bounded<T>(
        &self,
        step: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.db_deadline, step)
            .await
            .map_err(|_| StoreError::Timeout(self.db_deadline))?
    }

    /// Claims a batch, publishes it, and settles every row before releasing the claim.
    /// A step that misses its deadline abandons the pass: the transaction is dropped (the
    /// pool closes its connection), the rows stay pending, and a later pass takes them.
    async fn pass(&self) -> Result<usize, StoreError> {
        let mut tx = self.bounded(async { Ok(self.pool.begin().await?) }).await?;
        let claimed = self
            .bounded(notifications::claim_pending(
                &mut tx,
                self.settings.batch_size,
            ))
            .await?;
        if claimed.is_empty() {
            self.bounded(async { Ok(tx.commit().await?) }).await?;
            return Ok(0);
        }
        let count = claimed.len();
        let mut waiting = Vec::with_capacity(count);
        for notification in claimed {
            let id = notification.notification_id;
            let original = TraceParent::parse(&notification.trace.traceparent())
                .map(|parent| parent.to_span_context(notification.trace.tracestate.as_deref()));
            let queue = notification.agent_id.queue_name();
            let span = match original {
                Some(original) => telemetry::republish_span(
                    &queue,
                    &id.to_string(),
                    &notification.correlation_id,
                    original,
                ),
                None => {
                    telemetry::producer_span(&queue, &id.to_string(), &notification.correlation_id)
                }
            };
            let (reply, outcome) = oneshot::channel();
            let job = PublishJob {
                notification,
                span,
                reply: Reply::Wait(reply),
            };
            if self.publisher.submit(job).await.is_err() {
                break;
            }
            waiting.push((id, outcome));
        }
        // Every outcome arrives within the confirm deadline (or as Unavailable); the extra
        // margin only guards against a publisher that died.
        let deadline = tokio::time::Instant::now() + self.confirm_timeout * 2;
        let mut by_result: Vec<(PublishResult, Vec<Uuid>)> = Vec::new();
        for (id, outcome) in waiting {
            let result = match tokio::time::timeout_at(deadline, outcome).await {
                Ok(Ok(outcome)) => outcome.result,
                _ => PublishResult::Unavailable,
            };
            match by_result.iter_mut().find(|(r, _)| *r == result) {
                Some((_, ids)) => ids.push(id),
                None => by_result.push((result, vec![id])),
            }
        }
        for (result, ids) in &by_result {
            match result {
                PublishResult::Confirmed => {
                    self.bounded(notifications::mark_published(&mut *tx, ids))
                        .await?;
                    self.metrics.relay_republished.inc_by(ids.len() as u64);
                }
                PublishResult::Nacked | PublishResult::Returned => {
                    let failed = self
                        .bounded(notifications::record_rejections(
                            &mut *tx,
                            ids,
                            result.reason(),
                            self.settings.max_attempts,
                        ))
                        .await?;
                    count_failed(&self.metrics, &failed);
                }
                PublishResult::TimedOut | PublishResult::Unavailable => {
                    self.bounded(notifications::postpone(
                        &mut *tx,
                        ids,
                        self.settings.interval,
                    ))
                    .await?;
                }
            }
        }
        self.bounded(async { Ok(tx.commit().await?) }).await?;
        Ok(count)
    }
}
