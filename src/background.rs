//! Background stages: named tasks that shutdown awaits, each within one shared deadline.
//!
//! Every stage starts the same way, `X::spawn(deps, &settings.x)`, which returns a handle for
//! its users and a [`Stage`] for shutdown. Stages that drain a queue end once every sender is
//! gone; stages that loop on a timer take the shutdown token.

use tokio::{task::JoinHandle, time::Instant};

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
