//! What request handlers share.

use std::{sync::Arc, time::Instant};

use sqlx::PgPool;

use crate::{
    broker::Publisher,
    metrics::Metrics,
    store::{Schema, Writer},
};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub writer: Writer,
    pub publisher: Publisher,
    pub metrics: Metrics,
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
