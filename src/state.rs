//! What request handlers share.

use std::{sync::Arc, time::Instant};

use sqlx::PgPool;

use crate::{
    analytics::Analytics,
    auth::Keyring,
    broker::{Publisher, QueueAdmin},
    metrics::Metrics,
    registry::Registry,
    results::Waiters,
    store::{Schema, Writer},
};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub writer: Writer,
    pub publisher: Publisher,
    pub metrics: Metrics,
    /// Every key, in memory; the keys API issues through its hasher and reloads it.
    pub keyring: Keyring,
    /// Registered agents, in memory.
    pub registry: Registry,
    /// Runs the analyses and reports, within their guardrails.
    pub analytics: Analytics,
    /// Requests waiting for an agent's outcome.
    pub waiters: Waiters,
    /// Declares, inspects and deletes agents' queues (registration and agent status).
    pub queues: QueueAdmin,
    /// `host:port` of the broker, for the health check's reachability probe.
    pub broker_addr: Arc<str>,
    /// Until the migrations have run, the gateway is not ready.
    pub schema: Schema,
    pub started: Instant,
}

impl axum::extract::FromRef<AppState> for Metrics {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}
