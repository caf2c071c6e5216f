//! What request handlers share.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use sqlx::PgPool;

use crate::{broker::Publisher, metrics::Metrics, store::Writer};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub writer: Writer,
    pub publisher: Publisher,
    pub metrics: Metrics,
    /// `host:port` of the broker, for the health check's reachability probe.
    pub broker_addr: Arc<str>,
    /// Set once the migrations have run; until then the gateway is not ready.
    pub schema_ready: Arc<AtomicBool>,
    pub started: Instant,
}

impl AppState {
    pub fn schema_ready(&self) -> bool {
        self.schema_ready.load(Ordering::Acquire)
    }
}

impl axum::extract::FromRef<AppState> for Metrics {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}
