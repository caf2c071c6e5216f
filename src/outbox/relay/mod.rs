//! The relay: publishes pending notifications whose fast path did not finish (broker outage,
//! full queue, crash), in acceptance order, and keeps the backlog gauges current.

mod pass;

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::{
    background::Stage,
    broker::Publisher,
    config::RelaySettings,
    metrics::{Dependency, Metrics},
    registry::Registry,
    store::{Schema, bounded, notifications},
};

pub(super) struct Relay {
    pub pool: PgPool,
    pub publisher: Publisher,
    pub metrics: Metrics,
    pub settings: RelaySettings,
    /// Deadline for one publish to be confirmed; a pass waits at most a little longer.
    pub confirm_timeout: Duration,
    /// Deadline for each database step of a pass (begin, claim, settle, commit): without it
    /// a pass on a half-open connection would wait for ever with its rows locked.
    pub db_deadline: Duration,
    /// Before the database exists and is migrated there is nothing to relay, and a first start
    /// (which creates the database) must not log it as unreachable.
    pub schema: Schema,
    /// Queues are declared only for agents registered now.
    pub registry: Registry,
}

impl Relay {
    /// Runs until `shutdown` is cancelled.
    pub fn spawn(self, shutdown: CancellationToken) -> Stage {
        Stage::spawn("relay", self.run(shutdown))
    }

    async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.settings.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut db_was_up = true;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if !self.schema.is_ready() {
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
            if db_up && self.publisher.is_connected() {
                self.drain(&shutdown).await;
            }
        }
    }

    /// Keeps going while passes come back full: a backlog drains at broker speed.
    async fn drain(&self, shutdown: &CancellationToken) {
        loop {
            match self.pass().await {
                Ok(claimed)
                    if claimed as i64 >= self.settings.batch_size && !shutdown.is_cancelled() => {}
                Ok(_) => return,
                Err(error) => {
                    tracing::warn!(
                        error = &error as &dyn std::error::Error,
                        "relay pass failed"
                    );
                    return;
                }
            }
        }
    }

    /// Updates the backlog and dependency gauges; `false` when the database is unreachable.
    async fn refresh_gauges(&self) -> bool {
        self.metrics
            .mark_dependency(Dependency::RabbitMq, self.publisher.is_connected());
        let backlog = bounded(self.confirm_timeout, notifications::backlog(&self.pool)).await;
        if let Ok(backlog) = &backlog {
            self.metrics.outbox_backlog.set(backlog.pending);
            self.metrics
                .outbox_oldest_age
                .set(backlog.oldest_age_seconds);
        }
        self.metrics
            .mark_dependency(Dependency::Postgres, backlog.is_ok());
        let idle = self.pool.num_idle() as i64;
        self.metrics
            .pool_connections(idle, self.pool.size() as i64 - idle);
        backlog.is_ok()
    }
}
