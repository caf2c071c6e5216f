//! Settling publish outcomes in the outbox, written once for the fast path (the recorder) and
//! the relay: what the broker said becomes the row's state.

use std::time::Duration;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    broker::{Outcome, PublishResult},
    metrics::Metrics,
    store::{StoreError, bounded, notifications},
};

/// How outcomes are settled.
pub(super) struct Settle<'a> {
    pub metrics: &'a Metrics,
    /// Broker rejections before a notification is `failed`.
    pub max_attempts: i32,
    /// Deadline for each statement.
    pub deadline: Duration,
    /// Pushes back the next attempt of rows whose fate is unknown (timeout, no connection);
    /// `None` leaves them as they are (the fast path's rows wait for the relay's grace anyway).
    pub postpone_unknown: Option<Duration>,
}

impl Settle<'_> {
    /// Confirmed rows become `published`; a nack or return counts against `max_attempts`
    /// (and the row is `failed` at the limit); unknown fates are retried later. Returns how
    /// many rows were confirmed. An error here is never data loss: the rows stay pending and
    /// the relay publishes them again (a duplicate, never a gap).
    pub async fn apply(
        &self,
        connection: &mut PgConnection,
        outcomes: &[Outcome],
    ) -> Result<usize, StoreError> {
        let confirmed = ids(outcomes, |r| r == PublishResult::Confirmed);
        if !confirmed.is_empty() {
            self.metrics
                .batch_rows("mark")
                .observe(confirmed.len() as f64);
            bounded(
                self.deadline,
                notifications::mark_published(&mut *connection, &confirmed),
            )
            .await?;
        }
        for rejection in [PublishResult::Nacked, PublishResult::Returned] {
            let rejected = ids(outcomes, |r| r == rejection);
            if rejected.is_empty() {
                continue;
            }
            let failed = bounded(
                self.deadline,
                notifications::record_rejections(
                    &mut *connection,
                    &rejected,
                    rejection.reason(),
                    self.max_attempts,
                ),
            )
            .await?;
            self.count_failed(&failed);
        }
        if let Some(delay) = self.postpone_unknown {
            let unknown = ids(outcomes, |r| {
                matches!(r, PublishResult::TimedOut | PublishResult::Unavailable)
            });
            if !unknown.is_empty() {
                bounded(
                    self.deadline,
                    notifications::postpone(&mut *connection, &unknown, delay),
                )
                .await?;
            }
        }
        Ok(confirmed.len())
    }

    /// Counts notifications that just reached the terminal `failed` state.
    fn count_failed(&self, failed: &[(String, String)]) {
        for (agent_id, notification_type) in failed {
            tracing::error!(
                agent_id,
                notification_type,
                "notification failed permanently after repeated broker rejections"
            );
            self.metrics
                .failed
                .get_or_create(&self.metrics.delivery_labels(agent_id, notification_type))
                .inc();
        }
    }
}

fn ids(outcomes: &[Outcome], wanted: impl Fn(PublishResult) -> bool) -> Vec<Uuid> {
    outcomes
        .iter()
        .filter(|outcome| wanted(outcome.result))
        .map(|outcome| outcome.notification_id)
        .collect()
}
