//! Rate limits: GCRA buckets (governor's) per API key, per agent and per client address, and
//! the IETF `RateLimit-Policy` / `RateLimit` fields that tell a caller where it stands.
//!
//! Limits exist to keep one caller from starving the others and to slow key guessing. They are
//! checked in memory on every request, so everything here is allocation-free on the hot path
//! except the two header values. A keyed map of addresses is the one thing that could grow
//! without bound; [`ClientLimiter`] caps it and sweeps it (see `clients.rs`).
//!
//! Rates are written `N/s`, `N/m` or `N/h`; the burst is always N. We use governor directly:
//! tower_governor's `per_second(n)` means one request every n seconds, and has shipped limits
//! that were orders of magnitude wrong.

mod capped;
pub mod clients;
mod decision;
mod headers;
mod limiter;
mod rate;
pub mod serde_rate;

pub use clients::ClientLimiter;
pub(crate) use decision::ceil_secs;
pub use decision::{Decision, Limited, Quota};
pub use headers::{policy_header, ratelimit_header};
pub use limiter::Limiter;
pub use rate::Rate;
