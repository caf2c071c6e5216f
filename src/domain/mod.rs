//! The gateway's values, validated on the way in ("parse, don't validate"), so that every
//! later stage handles only well-formed ones: notifications, agent ids, idempotency keys, API
//! keys and what they grant. Pure; no I/O.

mod agent;
mod api_key;
mod grant;
mod idempotency;
mod notification;
mod payload;
mod queue;
mod validation;

pub use agent::AgentId;
pub use api_key::{ApiKey, KEY_LEN, KeyFormatError, KeyHasher};
pub use grant::{AgentPattern, Grant, Scope};
pub use idempotency::IdempotencyKey;
pub use notification::{DeliveryState, NewNotification, Notification, NotifyRequest};
pub use payload::Payload;
pub use queue::QueueType;
pub use validation::{MAX_LABEL_CHARS, ValidationError};
