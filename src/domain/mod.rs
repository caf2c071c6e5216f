//! Notifications as the gateway understands them: validated on the way in ("parse, don't
//! validate"), so that every later stage handles only well-formed values. Pure; no I/O.

mod agent;
mod idempotency;
mod notification;
mod validation;

pub use agent::AgentId;
pub use idempotency::IdempotencyKey;
pub use notification::{DeliveryState, NewNotification, Notification, NotifyRequest};
pub use validation::{MAX_LABEL_CHARS, ValidationError};
