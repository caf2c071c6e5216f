//! The batch writer: requests hand their notification to one queue, and a task commits
//! whatever has gathered in one `INSERT … SELECT FROM UNNEST`. Under load this is
//! application-side group commit (one WAL flush for many rows, `synchronous_commit` on);
//! when idle a batch is a single row and nothing waits for a timer.

use std::{sync::Arc, time::Duration};

use prometheus_client::metrics::histogram::Histogram;
use sqlx::PgPool;
use tokio::{
    sync::{Semaphore, mpsc, oneshot},
    task::JoinSet,
};
use tracing::Span;

use super::{StoreError, notifications};
use crate::{background::Stage, config::WriterSettings, domain::Notification};

/// How long a batch that would run beside another one still in flight waits for more rows.
/// Without it, the second slot took the two or three requests that had arrived since the
/// first batch left, and every batch paid Postgres a statement and a commit for them (8.7
/// rows per insert at 32 connections, 3 per replica with three replicas). A batch with no
/// other in flight never waits: an idle gateway answers as fast as before.
const CONCURRENT_LINGER: Duration = Duration::from_millis(1);

/// Called for each committed notification, before its request is answered.
pub type OnCommitted = Arc<dyn Fn(Notification, Span) + Send + Sync>;

struct Job {
    notification: Notification,
    span: Span,
    done: oneshot::Sender<Result<(), CommitError>>,
}

/// Why a notification was not committed.
#[derive(Debug, Clone, Copy, thiserror::Error)]
pub enum CommitError {
    /// The writer queue is full: shed load rather than queue without bound.
    #[error("the writer queue is full")]
    Overloaded,
    /// The writer has stopped (shutdown).
    #[error("the writer has stopped")]
    Stopped,
    /// Postgres is unreachable or did not answer in time; nothing was committed for certain.
    #[error("the database is unavailable")]
    Unavailable,
    /// The insert failed for another reason (a bug or a schema problem).
    #[error("the insert failed")]
    Failed,
    /// The agent already used this idempotency key; nothing new was stored.
    #[error("the idempotency key was already used")]
    DuplicateKey,
}

/// A handle for committing notifications.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer. `grace` is how long new rows are left to the fast path before the
    /// relay may publish them. `rows` observes each insert's batch size (its `_count` is the
    /// writer's commits). The task ends when every handle is dropped and the queue drained.
    pub fn spawn(
        pool: PgPool,
        settings: &WriterSettings,
        deadline: Duration,
        grace: Duration,
        on_committed: OnCommitted,
        rows: Histogram,
    ) -> (Self, Stage) {
        let (jobs, rx) = mpsc::channel(settings.queue_capacity);
        let batches = Batches {
            pool,
            max_batch: settings.max_batch,
            slots: settings.max_inflight_batches,
            permits: Arc::new(Semaphore::new(settings.max_inflight_batches)),
            deadline,
            grace: chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::seconds(5)),
            on_committed,
            rows,
        };
        (Self { jobs }, Stage::spawn("writer", batches.run(rx)))
    }

    /// Commits `notification`; returns once it is durable in Postgres.
    pub async fn commit(&self, notification: Notification, span: Span) -> Result<(), CommitError> {
        let (done, committed) = oneshot::channel();
        self.jobs
            .try_send(Job {
                notification,
                span,
                done,
            })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => CommitError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => CommitError::Stopped,
            })?;
        // The batch task always answers (it holds the insert to a deadline); a dropped
        // sender means the task died, and then nothing was committed for certain.
        committed.await.map_err(|_| CommitError::Stopped)?
    }
}

struct Batches {
    pool: PgPool,
    max_batch: usize,
    /// `writer.max_inflight_batches`: the permits when no batch is in flight.
    slots: usize,
    permits: Arc<Semaphore>,
    deadline: Duration,
    grace: chrono::Duration,
    on_committed: OnCommitted,
    rows: Histogram,
}

impl Batches {
    async fn run(self, mut rx: mpsc::Receiver<Job>) {
        let this = Arc::new(self);
        let mut inflight = JoinSet::new();
        let mut batch = Vec::with_capacity(this.max_batch);
        loop {
            // The permit first, then the batch: while every batch slot is busy, requests keep
            // gathering in the queue and the next batch takes them all. (Taking the batch
            // first left it with the one or two that had arrived, waiting for a slot.)
            let permit = this
                .permits
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            // recv_many takes what has gathered (at least one): natural batching, no timer.
            if rx.recv_many(&mut batch, this.max_batch).await == 0 {
                break;
            }
            // Another batch holds a slot: it keeps Postgres busy meanwhile, so gathering a
            // little longer costs no idle time and saves a statement and a commit.
            if this.permits.available_permits() + 1 < this.slots {
                this.linger(&mut rx, &mut batch).await;
            }
            let jobs = std::mem::replace(&mut batch, Vec::with_capacity(this.max_batch));
            let this = this.clone();
            inflight.spawn(async move {
                this.commit(jobs).await;
                drop(permit);
            });
            while inflight.try_join_next().is_some() {}
        }
        while inflight.join_next().await.is_some() {}
    }

    /// Adds what arrives within [`CONCURRENT_LINGER`] to `batch`, up to `max_batch`.
    async fn linger(&self, rx: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
        let _ = tokio::time::timeout(CONCURRENT_LINGER, async {
            loop {
                let room = self.max_batch - batch.len();
                // Ends early when the batch is full or every sender is gone (shutdown).
                if room == 0 || rx.recv_many(batch, room).await == 0 {
                    break;
                }
            }
        })
        .await;
    }

    async fn commit(&self, jobs: Vec<Job>) {
        let rows: Vec<&Notification> = jobs.iter().map(|job| &job.notification).collect();
        self.rows.observe(rows.len() as f64);
        let result = match tokio::time::timeout(
            self.deadline,
            notifications::insert_batch(&self.pool, &rows, self.grace),
        )
        .await
        {
            Ok(result) => result,
            // The insert may still commit server-side; then the relay publishes the row later
            // although the client was told 503. Accepted-then-lost cannot happen; this can.
            Err(_) => Err(StoreError::Timeout(self.deadline)),
        };
        match result {
            Ok(inserted) => {
                let all = inserted.len() == jobs.len();
                for job in jobs {
                    // Only retried idempotency keys are skipped, and batches are small: a
                    // linear scan in that rare case beats building a set every time.
                    if all || inserted.contains(&job.notification.notification_id) {
                        (self.on_committed)(job.notification, job.span);
                        let _ = job.done.send(Ok(()));
                    } else {
                        let _ = job.done.send(Err(CommitError::DuplicateKey));
                    }
                }
            }
            Err(error) => {
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    rows = jobs.len(),
                    "insert batch failed"
                );
                let error = if error.is_unavailable() {
                    CommitError::Unavailable
                } else {
                    CommitError::Failed
                };
                for job in jobs {
                    let _ = job.done.send(Err(error));
                }
            }
        }
    }
}
