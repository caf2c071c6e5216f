//! Cross-cutting request handling: correlation ids, the server span, HTTP metrics, the
//! completion log line and problem rendering. They run as one middleware (`observe`) so
//! that each request pays for one layer and every step sees the same span.

mod correlation;
mod limits;
mod observe;
mod problem;

pub use correlation::{CorrelationId, correlation_id};
pub use limits::{HeaderLimits, limit_headers};
pub use observe::observe;
