//! Background stages: named tasks that shutdown awaits, each within one shared deadline.
//!
//! Every stage starts the same way, `X::spawn(deps, &settings.x)`, which returns a handle for
//! its users and a [`Stage`] for shutdown. Stages that drain a queue end once every sender is
//! gone; stages that loop on a timer take the shutdown token.

use std::time::Duration;

use tokio::{
    task::JoinHandle,
    time::{Instant, Interval, MissedTickBehavior},
};
use tokio_util::sync::CancellationToken;

/// One running background task.
pub struct Stage {
    name: &'static str,
    task: JoinHandle<()>,
}

impl Stage {
    pub fn spawn(name: &'static str, work: impl Future<Output = ()> + Send + 'static) -> Self {
        Self {
            name,
            task: tokio::spawn(work),
        }
    }
}

/// The clock of a stage that works on a timer: ticks every `period`, the first at once, a late
/// tick delaying the next rather than bunching up, until shutdown.
pub struct Ticker {
    tick: Interval,
    shutdown: CancellationToken,
}

impl Ticker {
    pub fn new(period: Duration, shutdown: CancellationToken) -> Self {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { tick, shutdown }
    }

    /// Waits for the next tick; `false` once shutdown has begun.
    pub async fn next(&mut self) -> bool {
        tokio::select! {
            _ = self.shutdown.cancelled() => false,
            _ = self.tick.tick() => true,
        }
    }
}

/// The stages of a gateway, in shutdown order. Dropping this (say, when the serving future is
/// aborted) aborts whatever still runs.
#[derive(Default)]
pub struct Stages(Vec<Stage>);

impl Stages {
    pub fn push(&mut self, stage: Stage) -> &mut Self {
        self.0.push(stage);
        self
    }

    /// Adds `other`'s stages after these.
    pub fn append(&mut self, mut other: Stages) -> &mut Self {
        self.0.append(&mut other.0);
        self
    }

    /// Waits for every stage, in order, until `deadline`; a stage still running then is
    /// reported and aborted. Nothing is lost by that: what it held is pending in the outbox.
    pub async fn join(mut self, deadline: Instant) {
        for stage in &mut self.0 {
            if tokio::time::timeout_at(deadline, &mut stage.task)
                .await
                .is_err()
            {
                tracing::warn!(
                    task = stage.name,
                    "did not finish within the shutdown grace period; pending rows stay in the outbox"
                );
            }
        }
    }
}

impl Drop for Stages {
    fn drop(&mut self) {
        for stage in &self.0 {
            stage.task.abort();
        }
    }
}
