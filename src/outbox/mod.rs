//! The outbox side of delivery: recording what the broker said about fast-path publishes,
//! and the relay that publishes whatever is still pending after an outage or a crash.

mod recorder;
mod relay;

pub use recorder::spawn_recorder;
pub use relay::Relay;
