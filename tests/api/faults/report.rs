//! What a load run did: every attempt, with its timing and how it was answered.

use std::{
    collections::{BTreeMap, HashSet},
    time::Duration,
};

use tokio::time::Instant;
use uuid::Uuid;

use crate::helpers::Sent;

#[derive(Debug, Clone)]
pub enum Outcome {
    /// 202 with this notification id.
    Accepted(Uuid),
    /// Any other status.
    Refused {
        status: u16,
        problem_json: bool,
        retry_after: bool,
    },
    /// No (complete) answer: refused connection, reset, timeout.
    NoAnswer { connect: bool, timeout: bool },
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub n: i64,
    pub started: Instant,
    pub finished: Instant,
    pub outcome: Outcome,
}

impl Attempt {
    pub fn elapsed(&self) -> Duration {
        self.finished - self.started
    }

    /// Started and finished inside `[from, to]`.
    pub fn within(&self, from: Instant, to: Instant) -> bool {
        self.started >= from && self.finished <= to
    }

    pub fn is_accepted(&self) -> bool {
        matches!(self.outcome, Outcome::Accepted(_))
    }
}

/// Every attempt of a run, in the order they started.
pub struct LoadReport {
    pub attempts: Vec<Attempt>,
}

impl LoadReport {
    /// What the ledger needs of the run: the numbers posted and the notifications accepted.
    pub fn sent(&self) -> Sent {
        let accepted: HashSet<Uuid> = self
            .attempts
            .iter()
            .filter_map(|attempt| match attempt.outcome {
                Outcome::Accepted(id) => Some(id),
                _ => None,
            })
            .collect();
        Sent {
            numbers: self.attempts.iter().map(|attempt| attempt.n).collect(),
            accepted,
        }
    }

    /// Attempts that started and finished inside `[from, to]`.
    pub fn within(&self, from: Instant, to: Instant) -> Vec<&Attempt> {
        self.attempts
            .iter()
            .filter(|attempt| attempt.within(from, to))
            .collect()
    }

    /// How soon after `instant` a request started from then on was first answered 202.
    pub fn first_accepted_after(&self, instant: Instant) -> Option<Duration> {
        self.attempts
            .iter()
            .find(|a| a.started >= instant && a.is_accepted())
            .map(|a| a.finished - instant)
    }

    /// Answers by kind, e.g. `{"202": 812, "503": 40, "no answer (connect)": 12}`.
    pub fn outcomes(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for attempt in &self.attempts {
            let kind = match attempt.outcome {
                Outcome::Accepted(_) => "202".to_owned(),
                Outcome::Refused { status, .. } => status.to_string(),
                Outcome::NoAnswer { timeout: true, .. } => "no answer (timeout)".to_owned(),
                Outcome::NoAnswer { connect: true, .. } => "no answer (connect)".to_owned(),
                Outcome::NoAnswer { .. } => "no answer (closed)".to_owned(),
            };
            *counts.entry(kind).or_default() += 1;
        }
        counts
    }
}
