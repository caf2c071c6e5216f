//! Trace context on the way in and on the way out: strict parsing of W3C Trace Context headers
//! (<https://www.w3.org/TR/trace-context/>) and of inbound correlation ids, and the
//! [`TraceStamp`] a notification carries. Every input comes from untrusted clients, so nothing
//! here may panic: all indexing is on bytes after explicit length checks, and invalid input
//! yields `None`/`false`. Pure; no I/O.

mod stamp;
mod traceparent;
mod tracestate;

pub use stamp::TraceStamp;
pub use traceparent::{TRACEPARENT_LEN, TraceParent, encode_traceparent};
pub use tracestate::sanitize_tracestate;

/// The spec's OWS is space and horizontal tab only (RFC 7230 §3.2.3), not all Unicode whitespace.
const OWS: [char; 2] = [' ', '\t'];

/// Whether an inbound X-Correlation-ID / X-Request-ID is "short and plain" enough to reuse:
/// 1..=128 bytes of ASCII alphanumerics or `-_.:`. Otherwise the gateway generates its own,
/// so clients cannot inject log-forging or oversized values into logs and responses.
pub fn is_acceptable_correlation_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

#[cfg(test)]
mod tests;
