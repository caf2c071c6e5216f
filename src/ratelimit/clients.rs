//! [`ClientLimiter`]: a GCRA bucket per client address for requests that fail authentication,
//! so guessing keys from one address is slow. Requests with a valid key are limited per key
//! and per agent instead (see [`Limiter`](super::Limiter)).
//!
//! Memory stays bounded however many addresses turn up: at most `max_clients` entries (the
//! rest share one overflow bucket, see `capped.rs`), and a sweeper stage drops the entries
//! whose bucket is full again, which are no different from having none.

use std::{net::IpAddr, sync::Arc, time::Duration};

use governor::{
    RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::{Decision, Rate, capped::CappedStore, decision::decide};
use crate::background::Stage;

/// The policy name in the header fields.
const POLICY: &str = "client";

type Keyed = RateLimiter<IpAddr, CappedStore, DefaultClock, StateInformationMiddleware>;

/// Per client address (IpAddr) limiter for requests that FAIL authentication (slows key
/// guessing). governor's keyed limiter over a DashMap, capped at `max_clients` entries and
/// swept by [`spawn_sweeper`](Self::spawn_sweeper). Clones share the same buckets.
#[derive(Clone)]
pub struct ClientLimiter(Arc<Inner>);

struct Inner {
    rate: Rate,
    buckets: Keyed,
}

impl ClientLimiter {
    /// Full buckets for `rate`, one per address for up to `max_clients` addresses; past that, a
    /// new address shares one overflow bucket (with `max_clients` 0, every address does).
    pub fn new(rate: Rate, max_clients: usize) -> Self {
        let buckets = RateLimiter::new(
            rate.quota(),
            CappedStore::new(max_clients),
            DefaultClock::default(),
        );
        Self(Arc::new(Inner { rate, buckets }))
    }

    /// Takes one request from `client`'s bucket (or the overflow bucket), under policy
    /// `"client"`.
    pub fn check(&self, client: IpAddr) -> Decision {
        let buckets = &self.0.buckets;
        decide(
            POLICY,
            self.0.rate,
            buckets.check_key(&network(client)),
            || buckets.clock().now(),
        )
    }

    /// Addresses with their own bucket, for a gauge; never more than `max_clients`.
    pub fn tracked(&self) -> usize {
        self.0.buckets.len()
    }

    /// Sweeps every `every` until `shutdown`: drops the buckets that are full again and
    /// gives their memory back.
    ///
    /// # Panics
    ///
    /// If `every` is zero.
    pub fn spawn_sweeper(&self, every: Duration, shutdown: CancellationToken) -> Stage {
        assert!(!every.is_zero(), "the sweep interval must be positive");
        let limiter = self.clone();
        Stage::spawn("client rate limit sweeper", async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => limiter.sweep(),
                }
            }
        })
    }

    /// One sweep. `retain_recent` alone keeps the emptied table's capacity, so shrink too;
    /// the table regrows if the addresses come back.
    fn sweep(&self) {
        self.0.buckets.retain_recent();
        self.0.buckets.shrink_to_fit();
        tracing::debug!(tracked = self.tracked(), "swept client rate limits");
    }
}

/// The bucket an address counts against: an IPv4 address (mapped or not) is one client; an
/// IPv6 client usually holds a whole /64 and could otherwise step through 2^64 fresh buckets.
fn network(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

#[cfg(test)]
mod tests;
