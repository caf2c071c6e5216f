//! Publishing to RabbitMQ: one task owns the connection and the confirm-mode channel, takes
//! jobs from a bounded queue and keeps a window of unconfirmed publishes in flight.
//!
//! We supervise the connection ourselves instead of relying on lapin's young auto-recovery
//! (see `docs/decisions.md`): on any connection or channel failure the session ends, every
//! unconfirmed publish is reported `Unavailable` (its row stays pending for the relay), and
//! the task reconnects with jittered exponential backoff.

pub mod message;
mod queues;
mod session;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use tokio::sync::{mpsc, oneshot};
use tracing::Span;

use crate::{config::AmqpSettings, domain::Notification, metrics::Metrics};

/// A notification to publish, with its producer span (ended when the broker answers).
pub struct PublishJob {
    pub notification: Notification,
    pub span: Span,
    pub reply: Reply,
}

/// Where the outcome of a publish goes.
pub enum Reply {
    /// The fast path: outcomes are recorded in the database in batches.
    Record(mpsc::Sender<Outcome>),
    /// The relay waits for each outcome before it commits its claim.
    Wait(oneshot::Sender<Outcome>),
}

/// What the broker made of one publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishResult {
    /// Acked and routed: the message is in the queue.
    Confirmed,
    /// Nacked by the broker.
    Nacked,
    /// Acked but returned unroutable (the queue vanished).
    Returned,
    /// No confirm within the deadline.
    TimedOut,
    /// No usable connection; nothing was sent, or its fate is unknown.
    Unavailable,
}

impl PublishResult {
    /// Rejections count towards `relay.max_attempts`; outages do not.
    pub fn is_rejection(self) -> bool {
        matches!(self, Self::Nacked | Self::Returned)
    }

    pub fn reason(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Nacked => "nack",
            Self::Returned => "returned",
            Self::TimedOut => "timeout",
            Self::Unavailable => "unavailable",
        }
    }
}

/// The outcome of one publish, reported back to the fast path or the relay.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub notification_id: uuid::Uuid,
    pub result: PublishResult,
}

impl PublishJob {
    fn answer(self, result: PublishResult) {
        let outcome = Outcome {
            notification_id: self.notification.notification_id,
            result,
        };
        match self.reply {
            // A full recorder queue only delays the state change: the row stays pending
            // and the relay publishes it again after its grace period.
            Reply::Record(tx) => {
                let _ = tx.try_send(outcome);
            }
            Reply::Wait(tx) => {
                let _ = tx.send(outcome);
            }
        }
    }
}

/// A cheap handle on the publisher task.
#[derive(Clone)]
pub struct Publisher {
    jobs: mpsc::Sender<PublishJob>,
    connected: Arc<AtomicBool>,
}

impl Publisher {
    /// Starts the publisher task. It stops once every handle is dropped and the jobs and
    /// unconfirmed publishes are answered.
    /// `poll_queues_every` is how often queue depth and consumer gauges are refreshed.
    pub fn spawn(
        settings: AmqpSettings,
        capacity: usize,
        metrics: Metrics,
        poll_queues_every: std::time::Duration,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (jobs, rx) = mpsc::channel(capacity);
        let connected = Arc::new(AtomicBool::new(false));
        let supervisor =
            session::supervise(rx, settings, metrics, connected.clone(), poll_queues_every);
        let task = tokio::spawn(supervisor);
        (Self { jobs, connected }, task)
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
