//! What the publisher is asked to do, and what it answers.

use tokio::sync::{mpsc, oneshot};
use tracing::Span;

use crate::domain::{Notification, QueueType};

/// A notification to publish, with its producer span (ended when the broker answers).
pub struct PublishJob {
    pub notification: Notification,
    /// The registered agent's queue type, to declare its queue with; `None` when the agent is
    /// not registered (any more): then nothing is declared.
    pub queue: Option<QueueType>,
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
    /// Every way a publish can fail, as `vos_publish_failures_total{reason}` labels them.
    pub const FAILURES: [Self; 4] = [
        Self::Nacked,
        Self::Returned,
        Self::TimedOut,
        Self::Unavailable,
    ];

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
    pub(super) fn answer(self, result: PublishResult) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::PUBLISH_FAILURE_REASONS;

    #[test]
    fn every_failure_reason_is_a_series_that_exists_from_the_start() {
        let reasons = PublishResult::FAILURES.map(PublishResult::reason);
        assert_eq!(reasons, PUBLISH_FAILURE_REASONS);
    }
}
