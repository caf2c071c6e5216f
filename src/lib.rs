//! vos-gateway: the API gateway and telemetry backbone of VOS.
//!
//! A request flows `routes` → `store::Writer` (batched commit) → `broker::Publisher`
//! (confirmed publish) → `outbox` (recording outcomes; the relay republishes what is left
//! pending). `startup` wires it all together; `main` only calls `cli::run`. The layering,
//! module by module, is in `docs/architecture.md`.

pub mod analytics;
pub mod auth;
pub mod background;
pub mod broker;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod middleware;
pub mod outbox;
pub mod privacy;
pub mod ratelimit;
pub mod registry;
pub mod results;
pub mod routes;
pub mod server;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod trace_context;
