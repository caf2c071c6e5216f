//! Access control, as issue 10 asks for it: secure by default, API keys (HTTP and CLI),
//! revocation across replicas, registered agents, rate limits, the trust boundary for trace
//! context, the admin listener, telemetry without secrets, and the authorization matrix.

mod admin_listener;
mod agent_status;
mod agents;
mod agents_cli;
mod bootstrap;
mod defaults;
mod key_requests;
mod keys;
mod keys_cli;
mod matrix;
mod openapi;
mod ratelimit;
mod ratelimit_buckets;
mod revocation;
mod secrets;
mod trust;
mod unregistered;
