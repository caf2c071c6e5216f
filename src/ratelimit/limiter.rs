//! [`Limiter`]: one GCRA bucket, e.g. for one API key or one agent.

use std::fmt;

use governor::{
    RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::{InMemoryState, NotKeyed},
};

use super::{Decision, Rate, decision::decide, headers::check_policy_name};

type Direct = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// One GCRA bucket (governor's direct limiter with state information), e.g. one API key or one
/// agent. A check is one atomic compare-and-swap; share it by reference or in an `Arc`.
pub struct Limiter {
    policy: &'static str,
    rate: Rate,
    bucket: Direct,
}

impl Limiter {
    /// A full bucket for `rate`, reported under `policy` in the header fields.
    ///
    /// # Panics
    ///
    /// If `policy` is empty or has characters a quoted header string cannot hold as they are
    /// (`"`, `\`, control or non-ASCII characters): names come from code, not from callers.
    pub fn new(policy: &'static str, rate: Rate) -> Self {
        check_policy_name(policy);
        Self {
            policy,
            rate,
            bucket: RateLimiter::direct(rate.quota()).with_middleware(),
        }
    }

    /// The rate this bucket was made for, to tell whether settings changed.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Takes one request from the bucket, or says how long until one is available.
    pub fn check(&self) -> Decision {
        decide(self.policy, self.rate, self.bucket.check(), || {
            self.bucket.clock().now()
        })
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("policy", &self.policy)
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limiter(rate: &str) -> Limiter {
        Limiter::new("key", rate.parse().unwrap())
    }

    #[test]
    fn a_limiter_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<Limiter>();
    }

    #[test]
    fn five_per_second_allows_exactly_five_at_once_and_limits_the_sixth() {
        let limiter = limiter("5/s");
        let remaining: Vec<u32> = (0..5)
            .map(|_| match limiter.check() {
                Decision::Allowed(quota) => quota.remaining,
                Decision::Limited(limited) => panic!("limited too early: {limited:?}"),
            })
            .collect();
        assert_eq!(remaining, [4, 3, 2, 1, 0]);
        let Decision::Limited(limited) = limiter.check() else {
            panic!("the sixth request was allowed");
        };
        // One request frees up every 200 ms; a little of that has passed since the first check.
        assert!(
            limited.retry_after <= Duration::from_millis(200)
                && limited.retry_after > Duration::from_millis(100),
            "{limited:?}"
        );
        assert_eq!(limited.retry_after_secs(), 1);
        assert_eq!((limited.policy, limited.quota.remaining), ("key", 0));
        assert_eq!(
            (limited.quota.limit, limited.quota.window),
            (5, Duration::from_secs(1))
        );
    }

    #[test]
    fn reset_is_the_time_until_the_bucket_is_full_again() {
        // 5/h: one request every 12 minutes, slow enough that the test's own time is noise.
        let limiter = limiter("5/h");
        let interval = Duration::from_secs(720);
        for spent in 1..=5 {
            let Decision::Allowed(quota) = limiter.check() else {
                panic!("request {spent} was limited");
            };
            assert_eq!(quota.reset, interval * spent);
        }
        let Decision::Limited(limited) = limiter.check() else {
            panic!("the sixth request was allowed");
        };
        let waited = interval - limited.retry_after;
        assert!(waited < Duration::from_secs(1), "{limited:?}");
        assert_eq!(limited.quota.reset, limited.retry_after + interval * 4);
        assert_eq!(limited.retry_after_secs(), 720);
    }

    #[test]
    #[should_panic(expected = "policy name")]
    fn a_policy_name_that_would_break_the_header_is_refused() {
        Limiter::new("my \"key\"", "1/s".parse().unwrap());
    }
}
