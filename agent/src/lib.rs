//! `vos-agent`: the runtime for VOS agents written in Rust.
//!
//! An [`Agent`] consumes `{agent_id}_queue` (prefetch and concurrency = capacity, manual
//! ack), runs its handler per notification inside a `process {queue}` CONSUMER span that
//! continues the gateway's trace, retries failed attempts with backoff, dead-letters what
//! fails every attempt to `{agent_id}_queue.dlq`, drops duplicates by `message_id`, answers
//! with an [`vos_protocol::AgentResult`] on the message's `reply_to` (`vos.results`) with
//! publisher confirms, and only then acknowledges. See `agent/README.md`.
//!
//! ```no_run
//! # async fn example() -> Result<(), vos_agent::AgentError> {
//! let agent = vos_agent::Agent::builder("weather")
//!     .capacity(8)
//!     .max_attempts(3)
//!     .handler(|ctx: vos_agent::Context, n: vos_protocol::Notification| async move {
//!         let forecast = ctx
//!             .tool("get_weather", async { Ok::<_, std::io::Error>(21) })
//!             .await?;
//!         ctx.llm_usage("demo-llm", 120, 30);
//!         Ok(serde_json::json!({ "type": n.notification_type, "temp": forecast }))
//!     })
//!     .build()?;
//! agent.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

mod agent;
mod config;
mod context;
mod dedup;
mod delivery;
pub mod demo;
mod error;
mod handler;
pub mod metrics;
mod publish;
mod session;
pub mod telemetry;
mod trace;

pub use agent::Agent;
pub use config::{AgentBuilder, DEFAULT_AMQP_URL};
pub use context::Context;
pub use error::{AgentError, HandlerError};
pub use handler::{Handler, HandlerResult};
pub use metrics::Metrics;
