//! Records fast-path publish outcomes in the database, in batches.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::{
    broker::{Outcome, PublishResult},
    metrics::Metrics,
    store::notifications,
};

/// Most outcomes settled in one statement.
const MAX_BATCH: usize = 512;
/// How long a batch waits for more outcomes before it is settled. Marking rows published is
/// not on any request's path (the status endpoint just shows `pending` a little longer), and
/// each statement is a Postgres commit: under load, outcomes arrive a few at a time, and
/// without the wait most updates carried fewer than ten rows.
const LINGER: Duration = Duration::from_millis(10);

/// Starts the recorder; it ends when every sender is dropped and the queue is drained.
pub fn spawn_recorder(
    pool: PgPool,
    metrics: Metrics,
    max_attempts: i32,
    deadline: Duration,
    capacity: usize,
) -> (mpsc::Sender<Outcome>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Outcome>(capacity);
    let task = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            if batch.len() < MAX_BATCH {
                // Ends early when every sender is gone: shutdown must not wait.
                let _ = tokio::time::timeout(LINGER, async {
                    loop {
                        let room = MAX_BATCH - batch.len();
                        if room == 0 || rx.recv_many(&mut batch, room).await == 0 {
                            break;
                        }
                    }
                })
                .await;
            }
            settle(&pool, &metrics, max_attempts, deadline, &batch).await;
            batch.clear();
        }
    });
    (tx, task)
}

/// Marks confirmed rows published and counts rejections. Failures here are not data loss:
/// the rows stay pending and the relay publishes them again (a duplicate, never a gap).
async fn settle(
    pool: &PgPool,
    metrics: &Metrics,
    max_attempts: i32,
    deadline: Duration,
    batch: &[Outcome],
) {
    let ids = |wanted: PublishResult| -> Vec<Uuid> {
        batch
            .iter()
            .filter(|o| o.result == wanted)
            .map(|o| o.notification_id)
            .collect()
    };
    let confirmed = ids(PublishResult::Confirmed);
    if !confirmed.is_empty() {
        let marked =
            tokio::time::timeout(deadline, notifications::mark_published(pool, &confirmed)).await;
        if !matches!(marked, Ok(Ok(_))) {
            tracing::warn!(
                rows = confirmed.len(),
                "could not mark confirmed notifications published; the relay will republish them"
            );
        }
    }
    for rejection in [PublishResult::Nacked, PublishResult::Returned] {
        let rejected = ids(rejection);
        if rejected.is_empty() {
            continue;
        }
        let recorded = tokio::time::timeout(
            deadline,
            notifications::record_rejections(pool, &rejected, rejection.reason(), max_attempts),
        )
        .await;
        match recorded {
            Ok(Ok(failed)) => count_failed(metrics, &failed),
            _ => tracing::warn!(rows = rejected.len(), "could not record broker rejections"),
        }
    }
}

/// Counts notifications that just reached the terminal `failed` state.
pub(super) fn count_failed(metrics: &Metrics, failed: &[(String, String)]) {
    for (agent_id, notification_type) in failed {
        tracing::error!(
            agent_id,
            notification_type,
            "notification failed permanently after repeated broker rejections"
        );
        metrics
            .failed
            .get_or_create(&metrics.delivery_labels(agent_id, notification_type))
            .inc();
    }
}
