//! Requests waiting for an outcome (`?wait=`): woken at once when this replica records it,
//! and re-reading the row every poll interval, which covers a result another replica
//! recorded. Their number is bounded; past it, a request answers at once.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::broadcast;
use uuid::Uuid;

use crate::config::ResultsSettings;

/// Shared by the results consumer (which announces) and the status route (which waits).
#[derive(Clone)]
pub struct Waiters(Arc<Inner>);

struct Inner {
    recorded: broadcast::Sender<Uuid>,
    waiting: AtomicUsize,
    max: usize,
    max_wait: Duration,
    poll: Duration,
}

impl Waiters {
    pub fn new(settings: &ResultsSettings) -> Self {
        // Lagging receivers skip ahead; they poll the row anyway.
        let (recorded, _) = broadcast::channel(1024);
        Self(Arc::new(Inner {
            recorded,
            waiting: AtomicUsize::new(0),
            max: settings.max_waiters,
            max_wait: settings.max_wait,
            poll: settings.wait_poll,
        }))
    }

    /// The longest a request may wait (`[results] max_wait`).
    pub fn max_wait(&self) -> Duration {
        self.0.max_wait
    }

    /// Tells waiting requests that this notification has its outcome.
    pub fn announce(&self, notification_id: Uuid) {
        let _ = self.0.recorded.send(notification_id);
    }

    /// A place among the waiters, or `None` when all are taken.
    pub fn join(&self) -> Option<Waiting> {
        let mut now = self.0.waiting.load(Ordering::Relaxed);
        loop {
            if now >= self.0.max {
                return None;
            }
            match self.0.waiting.compare_exchange_weak(
                now,
                now + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(Waiting {
                        waiters: self.clone(),
                        recorded: self.0.recorded.subscribe(),
                    });
                }
                Err(actual) => now = actual,
            }
        }
    }
}

/// One waiting request; leaving frees its place.
pub struct Waiting {
    waiters: Waiters,
    recorded: broadcast::Receiver<Uuid>,
}

impl Waiting {
    /// Until `id` is announced here, or the poll interval (at most `left`) passes; then the
    /// caller reads the row again.
    pub async fn next(&mut self, id: Uuid, left: Duration) {
        let poll = self.waiters.0.poll.min(left);
        let wait = async {
            loop {
                match self.recorded.recv().await {
                    Ok(announced) if announced == id => return,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                }
            }
        };
        let _ = tokio::time::timeout(poll, wait).await;
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.waiters.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}
