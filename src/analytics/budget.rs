//! How much of the time this gateway's analyses may run: `[analytics] time_share`. An
//! analysis is one Postgres backend busy for its whole length, so a client asking for them back
//! to back would take a core from the notify path for as long as it asks; the budget lets a
//! burst through at once (a dashboard's panels) and paces what follows to the share.
//!
//! A generic cell rate algorithm over analysis time instead of requests: each analysis, once
//! it has run for `t`, moves the theoretical arrival time on by `t / share`; the next may start
//! once that time is less than [`BURST`]` / share` ahead. A short wait is waited; a longer one
//! is refused with the time to wait, which the client gets as Retry-After.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// What may run back to back before the pacing starts (analysis time).
const BURST: Duration = Duration::from_secs(1);
/// The longest an analysis waits for the budget, well inside `[server] request_timeout`;
/// beyond, it is refused with the time to wait.
const MAX_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct Budget {
    share: f64,
    /// When the analyses run so far would have been paid for, at the share.
    paid_until: Mutex<Option<Instant>>,
}

impl Budget {
    /// `share` in `(0, 1]`: 1 is one backend's whole time.
    pub fn new(share: f64) -> Self {
        Self {
            share,
            paid_until: Mutex::new(None),
        }
    }

    /// How long an analysis asked for at `now` must wait first, or, if longer than
    /// [`MAX_WAIT`], `Err` with that time.
    pub fn admit(&self, now: Instant) -> Result<Duration, Duration> {
        let paid_until = *self.paid_until.lock().expect("not poisoned");
        let tolerance = BURST.div_f64(self.share);
        let wait = paid_until
            .and_then(|paid_until| paid_until.checked_duration_since(now))
            .map_or(Duration::ZERO, |ahead| ahead.saturating_sub(tolerance));
        if wait > MAX_WAIT { Err(wait) } else { Ok(wait) }
    }

    /// Charges an analysis that started at `started` and ran for `took`.
    pub fn charge(&self, started: Instant, took: Duration) {
        let mut paid_until = self.paid_until.lock().expect("not poisoned");
        let from = paid_until.map_or(started, |paid_until| paid_until.max(started));
        *paid_until = Some(from + took.div_f64(self.share));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_burst_runs_at_once_then_analyses_are_paced_to_the_share() {
        // Arrange: a tenth of the time, so a burst of 10 s of budget.
        let budget = Budget::new(0.1);
        let mut at = Instant::now();

        // Act: analyses of 100 ms (1 s of budget each) back to back, as long as none waits.
        let mut at_once = 0;
        while budget.admit(at) == Ok(Duration::ZERO) {
            budget.charge(at, 100 * MS);
            at += 100 * MS;
            at_once += 1;
        }

        // Assert: the burst, and what was paid back meanwhile; then 100 ms in every second.
        assert_eq!(at_once, 12);
        assert_eq!(budget.admit(at), Ok(800 * MS));
        at += 800 * MS;
        budget.charge(at, 100 * MS);
        at += 100 * MS;
        assert_eq!(budget.admit(at), Ok(900 * MS));
    }

    #[test]
    fn a_wait_past_the_longest_is_refused_with_its_length() {
        let budget = Budget::new(0.1);
        let start = Instant::now();
        budget.charge(start, Duration::from_secs(2));

        // 20 s of budget spent, 10 s tolerated: 10 s to wait, refused.
        assert_eq!(
            budget.admit(start + Duration::from_secs(2)),
            Err(Duration::from_secs(8))
        );
        assert_eq!(
            budget.admit(start + Duration::from_secs(9)),
            Ok(Duration::from_secs(1))
        );
        assert_eq!(
            budget.admit(start + Duration::from_secs(60)),
            Ok(Duration::ZERO),
            "an idle minute pays everything back"
        );
    }
}
