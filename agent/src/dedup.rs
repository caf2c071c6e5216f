//! Duplicate deliveries: the gateway publishes at least once, so the same notification can
//! arrive twice. A bounded memory of recently completed message ids (plus those in progress)
//! lets this process handle each one once.

use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, Mutex},
};

pub(crate) struct Dedup {
    window: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    in_flight: HashSet<String>,
    done: HashSet<String>,
    /// `done` in completion order, to forget the oldest first.
    order: VecDeque<String>,
}

/// A claim on a message id while it is handled. Dropped without [`Claim::complete`] (the
/// delivery went back to the queue, or the task was aborted), the id is free again.
pub(crate) struct Claim {
    dedup: Arc<Dedup>,
    id: String,
}

impl Dedup {
    pub(crate) fn new(window: usize) -> Arc<Self> {
        Arc::new(Self {
            window,
            state: Mutex::default(),
        })
    }

    /// `None` when `id` was completed recently or is being handled now: a duplicate.
    pub(crate) fn claim(self: &Arc<Self>, id: &str) -> Option<Claim> {
        let mut state = self.lock();
        if state.done.contains(id) || !state.in_flight.insert(id.to_owned()) {
            return None;
        }
        Some(Claim {
            dedup: self.clone(),
            id: id.to_owned(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Claim {
    /// The message was settled (result sent, delivery acknowledged): remember it.
    pub(crate) fn complete(self) {
        let mut state = self.dedup.lock();
        if self.dedup.window == 0 {
            return;
        }
        if state.done.insert(self.id.clone()) {
            state.order.push_back(self.id.clone());
        }
        while state.order.len() > self.dedup.window {
            if let Some(oldest) = state.order.pop_front() {
                state.done.remove(&oldest);
            }
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.dedup.lock().in_flight.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completed_or_running_id_is_a_duplicate_and_an_abandoned_one_is_not() {
        let dedup = Dedup::new(2);
        let first = dedup.claim("a").expect("fresh");
        assert!(dedup.claim("a").is_none(), "in flight");
        first.complete();
        assert!(dedup.claim("a").is_none(), "completed");
        drop(dedup.claim("b").expect("fresh"));
        assert!(dedup.claim("b").is_some(), "abandoned ids are free again");
    }

    #[test]
    fn the_window_forgets_the_oldest_ids() {
        let dedup = Dedup::new(2);
        for id in ["a", "b", "c"] {
            dedup.claim(id).expect("fresh").complete();
        }
        assert!(dedup.claim("a").is_some(), "forgotten");
        assert!(dedup.claim("c").is_none());
    }
}
