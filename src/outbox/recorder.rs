//! Records fast-path publish outcomes in the database, in batches.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;

use super::settle::Settle;
use crate::{background::Stage, broker::Outcome, metrics::Metrics, store::bounded};

/// Most outcomes settled in one statement.
const MAX_BATCH: usize = 512;
/// How long a batch waits for more outcomes before it is settled. Marking rows published is
/// not on any request's path (the status endpoint just shows `pending` a little longer), and
/// each statement is a Postgres commit: under load, outcomes arrive a few at a time, and
/// without the wait most updates carried fewer than ten rows.
const LINGER: Duration = Duration::from_millis(10);

/// Where the publisher reports fast-path outcomes.
pub(super) type Recorder = mpsc::Sender<Outcome>;

/// Starts the recorder; it ends when every sender is dropped and the queue is drained.
pub(super) fn spawn(
    pool: PgPool,
    metrics: Metrics,
    max_attempts: i32,
    deadline: Duration,
    capacity: usize,
) -> (Recorder, Stage) {
    let (tx, mut rx) = mpsc::channel::<Outcome>(capacity);
    let work = async move {
        let settle = Settle {
            metrics: &metrics,
            max_attempts,
            deadline,
            postpone_unknown: None,
        };
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
            let settled = async {
                let mut connection = bounded(deadline, async { Ok(pool.acquire().await?) }).await?;
                settle.apply(&mut connection, &batch).await
            };
            if let Err(error) = settled.await {
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    outcomes = batch.len(),
                    "could not record publish outcomes; the relay will republish what stays pending"
                );
            }
            batch.clear();
        }
    };
    (tx, Stage::spawn("recorder", work))
}
