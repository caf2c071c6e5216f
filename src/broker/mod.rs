//! Publishing to RabbitMQ: one task owns the connection and the confirm-mode channel, takes
//! jobs from a bounded queue and keeps a window of unconfirmed publishes in flight.
//!
//! We supervise the connection ourselves instead of relying on lapin's young auto-recovery
//! (see `docs/decisions.md`): on any connection or channel failure the session ends, every
//! unconfirmed publish is reported `Unavailable` (its row stays pending for the relay), and
//! the task reconnects with jittered exponential backoff.

mod admin;
mod job;
pub mod message;
mod queues;
mod session;
mod supervisor;

use std::{
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::mpsc;

pub use admin::{AdminError, QueueAdmin, QueueStatus};
pub use job::{Outcome, PublishJob, PublishResult, Reply};

use crate::{
    background::Stage,
    config::{AmqpSettings, PublisherSettings},
    metrics::Metrics,
};

/// A cheap handle on the publisher task.
#[derive(Clone)]
pub struct Publisher {
    jobs: mpsc::Sender<PublishJob>,
    connected: Arc<AtomicBool>,
}

impl Publisher {
    /// Starts the publisher task. It stops once every handle is dropped and the jobs and
    /// unconfirmed publishes are answered. `poll_queues_every` is how often queue depth and
    /// consumer gauges are refreshed.
    pub fn spawn(
        metrics: Metrics,
        amqp: &AmqpSettings,
        settings: &PublisherSettings,
        poll_queues_every: Duration,
    ) -> (Self, Stage) {
        let (jobs, rx) = mpsc::channel(settings.queue_capacity);
        let connected = Arc::new(AtomicBool::new(false));
        let supervisor = supervisor::supervise(
            rx,
            amqp.clone(),
            metrics,
            connected.clone(),
            poll_queues_every,
        );
        (
            Self { jobs, connected },
            Stage::spawn("publisher", supervisor),
        )
    }

    /// Queues a job without waiting; `false` when the queue is full or closed, in which case
    /// the relay publishes the notification later.
    pub fn offer(&self, job: PublishJob) -> bool {
        self.jobs.try_send(job).is_ok()
    }

    /// Queues a job, waiting for room.
    pub async fn submit(&self, job: PublishJob) -> Result<(), PublishJob> {
        self.jobs.send(job).await.map_err(|error| error.0)
    }

    /// Whether the publisher holds an open connection right now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

/// An AMQP URL that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: `amqp.url`: {0}")]
pub struct InvalidUrl(String);

/// `host:port` of an AMQP URL, for the health check's reachability probe.
///
/// ```
/// assert_eq!(vos_gateway::broker::address("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap(), "127.0.0.1:5672");
/// assert_eq!(vos_gateway::broker::address("amqps://mq.internal/vos").unwrap(), "mq.internal:5671");
/// ```
pub fn address(url: &str) -> Result<String, InvalidUrl> {
    let uri = lapin::uri::AMQPUri::from_str(url).map_err(InvalidUrl)?;
    Ok(format!("{}:{}", uri.authority.host, uri.authority.port))
}
