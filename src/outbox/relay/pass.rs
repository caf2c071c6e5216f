//! One relay pass: claim a batch, publish it, settle every row, then release the claim.

use sqlx::{Postgres, Transaction};
use tokio::sync::oneshot;

use super::Relay;
use crate::{
    broker::{Outcome, PublishJob, PublishResult, Reply},
    outbox::settle::Settle,
    store::{StoreError, bounded, notifications},
    telemetry,
};

impl Relay {
    /// Claims, publishes and settles one batch; returns how many rows it claimed. A step that
    /// misses its deadline abandons the pass: the transaction is dropped (the pool closes its
    /// connection), the rows stay pending, and a later pass takes them.
    pub(super) async fn pass(&self) -> Result<usize, StoreError> {
        let (mut tx, claimed) = self.claim().await?;
        if claimed.is_empty() {
            bounded(self.db_deadline, async { Ok(tx.commit().await?) }).await?;
            return Ok(0);
        }
        let count = claimed.len();
        let outcomes = self.publish(claimed).await;
        let settle = Settle {
            metrics: &self.metrics,
            max_attempts: self.settings.max_attempts,
            deadline: self.db_deadline,
            postpone_unknown: Some(self.settings.interval),
        };
        let confirmed = settle.apply(&mut tx, &outcomes).await?;
        bounded(self.db_deadline, async { Ok(tx.commit().await?) }).await?;
        self.metrics.relay_republished.inc_by(confirmed as u64);
        Ok(count)
    }

    /// Locks up to a batch of pending rows whose time has come (`FOR UPDATE SKIP LOCKED`).
    async fn claim(
        &self,
    ) -> Result<
        (
            Transaction<'static, Postgres>,
            Vec<crate::domain::Notification>,
        ),
        StoreError,
    > {
        let mut tx = bounded(self.db_deadline, async { Ok(self.pool.begin().await?) }).await?;
        let claimed = bounded(
            self.db_deadline,
            notifications::claim_pending(&mut tx, self.settings.batch_size),
        )
        .await?;
        Ok((tx, claimed))
    }

    /// Publishes each claimed notification under a producer span that continues its original
    /// trace, and waits for every outcome.
    async fn publish(&self, claimed: Vec<crate::domain::Notification>) -> Vec<Outcome> {
        let mut waiting = Vec::with_capacity(claimed.len());
        for notification in claimed {
            let id = notification.notification_id;
            let span = telemetry::republish_span(
                &notification.agent_id.queue_name(),
                &id.to_string(),
                &notification.correlation_id,
                notification.trace.to_span_context(),
            );
            let (reply, outcome) = oneshot::channel();
            let queue = self.registry.queue_type(notification.agent_id.as_str());
            let job = PublishJob {
                notification,
                queue,
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
        let mut outcomes = Vec::with_capacity(waiting.len());
        for (notification_id, outcome) in waiting {
            let result = match tokio::time::timeout_at(deadline, outcome).await {
                Ok(Ok(outcome)) => outcome.result,
                _ => PublishResult::Unavailable,
            };
            outcomes.push(Outcome {
                notification_id,
                result,
            });
        }
        outcomes
    }
}
