//! Access control: API keys, what each may do, and the in-memory keyring the request path
//! checks them against.

mod grant;
mod key;

pub use grant::{AgentPattern, Grant, Scope};
pub use key::{ApiKey, KEY_LEN, KeyFormatError, KeyHasher, PREFIX};
