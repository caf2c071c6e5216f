//! What one check against one policy says, in the terms of the IETF RateLimit fields
//! (draft-ietf-httpapi-ratelimit-headers): `q` and `w` for the policy, `r` and `t` for now.

use std::time::Duration;

use governor::{
    NotUntil,
    clock::{Clock, DefaultClock},
    middleware::StateSnapshot,
};

use super::Rate;

/// The outcome of one check against one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request may proceed; the quota says what is left.
    Allowed(Quota),
    /// The request must be refused with 429 and `Retry-After`.
    Limited(Limited),
}

impl Decision {
    /// The quota to report in `RateLimit-Policy` and `RateLimit`, allowed or not.
    pub fn quota(&self) -> Quota {
        match self {
            Self::Allowed(quota) => *quota,
            Self::Limited(limited) => limited.quota,
        }
    }
}

/// Where one policy stands after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The policy's name in the header fields, e.g. `"key"`.
    pub policy: &'static str,
    /// `q`: requests per window, which is also the burst.
    pub limit: u32,
    /// `w`: the window.
    pub window: Duration,
    /// `r`: requests that may still be made right now.
    pub remaining: u32,
    /// `t`: time until the bucket is full again (`remaining == limit`).
    pub reset: Duration,
}

/// A refusal: the quota is spent until `retry_after` has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// The policy that refused, as in [`Quota::policy`].
    pub policy: &'static str,
    /// The policy's state, `remaining` 0.
    pub quota: Quota,
    /// Time until one request would be allowed again; never zero.
    pub retry_after: Duration,
}

impl Limited {
    /// `retry_after` in whole seconds for the `Retry-After` field, rounded up: at least 1, as
    /// 0 would invite an immediate retry that is still refused.
    pub fn retry_after_secs(&self) -> u64 {
        ceil_secs(self.retry_after).max(1)
    }
}

/// Whole seconds, rounded up: a caller told to wait less than it must would be refused again.
pub(crate) fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

type Instant = <DefaultClock as Clock>::Instant;

/// Turns governor's outcome (with `StateInformationMiddleware`) into a [`Decision`]. `now` is
/// read only when refused, to measure the wait from.
pub(super) fn decide(
    policy: &'static str,
    rate: Rate,
    outcome: Result<StateSnapshot, NotUntil<Instant>>,
    now: impl FnOnce() -> Instant,
) -> Decision {
    let quota = rate.quota();
    let interval = quota.replenish_interval();
    let burst = quota.burst_size().get();
    match outcome {
        Ok(snapshot) => {
            let remaining = snapshot.remaining_burst_capacity();
            // The snapshot hides the exact theoretical arrival time; `remaining` pins it within
            // one interval, and this is the later end, so "full by then" always holds.
            let reset = interval * (burst - remaining.min(burst));
            Decision::Allowed(Quota {
                policy,
                limit: rate.count.get(),
                window: rate.period,
                remaining,
                reset,
            })
        }
        Err(not_until) => {
            // Zero only if the wait ran out between the check and now; it is still a refusal.
            let retry_after = not_until.wait_time_from(now()).max(Duration::from_nanos(1));
            // One cell becomes free after `retry_after`, the other burst - 1 one interval apart.
            let reset = retry_after + interval * (burst - 1);
            let quota = Quota {
                policy,
                limit: rate.count.get(),
                window: rate.period,
                remaining: 0,
                reset,
            };
            Decision::Limited(Limited {
                policy,
                quota,
                retry_after,
            })
        }
    }
}
