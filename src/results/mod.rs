//! The response hop: agents answer on `vos.results`; this stage consumes that queue, records
//! each answer on its notification (once), continues the trace with a CONSUMER span
//! `process vos.results`, counts outcomes, durations, tools and tokens, and wakes whoever waits
//! for the outcome (`GET /api/v1/notifications/{id}?wait=`).
//!
//! Its own AMQP connection, supervised like the publisher's: on any failure the session ends,
//! unacknowledged results go back to the queue (the broker redelivers them), and it
//! reconnects with jittered backoff. A result is acknowledged only once it is recorded (or
//! found to be a duplicate, for no known notification, or unreadable and dead-lettered), so
//! nothing is lost and nothing blocks the queue. Two batches are written at once and settled
//! in the order they arrived (`session.rs`).

mod record;
mod session;
mod waiters;

use std::{sync::Arc, time::Duration};

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub use waiters::Waiters;

use crate::{
    background::Stage,
    config::{AmqpSettings, ResultsSettings},
    metrics::Metrics,
    store::Schema,
};

/// What the session needs, shared by its reconnections.
struct Consumer {
    pool: PgPool,
    metrics: Metrics,
    amqp: AmqpSettings,
    settings: ResultsSettings,
    deadline: Duration,
    waiters: Waiters,
}

/// Starts consuming `vos.results` once the schema is ready; runs until `shutdown`.
pub fn spawn(
    pool: PgPool,
    metrics: Metrics,
    waiters: Waiters,
    schema: Schema,
    (amqp, settings, deadline): (&AmqpSettings, &ResultsSettings, Duration),
    shutdown: CancellationToken,
) -> Stage {
    let consumer = Consumer {
        pool,
        metrics,
        amqp: amqp.clone(),
        settings: settings.clone(),
        deadline,
        waiters,
    };
    Stage::spawn("results", Arc::new(consumer).supervise(schema, shutdown))
}

impl Consumer {
    async fn supervise(self: Arc<Self>, schema: Schema, shutdown: CancellationToken) {
        while !schema.is_ready() {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        let mut backoff = self.amqp.reconnect_min;
        loop {
            let opened = tokio::time::timeout(self.amqp.connect_timeout, session::open(&self));
            match opened.await {
                Ok(Ok(session)) => {
                    backoff = self.amqp.reconnect_min;
                    tracing::info!("consuming agents' results");
                    match session.serve(&self, &shutdown).await {
                        Ok(()) => return,
                        Err(reason) => {
                            tracing::warn!(%reason, "results session ended; reconnecting")
                        }
                    }
                }
                Ok(Err(error)) => {
                    tracing::warn!(error = %error, "cannot open the results session")
                }
                Err(_) => tracing::warn!("opening the results session timed out"),
            }
            let pause = backoff.mul_f64(0.5 + rand::random::<f64>() * 0.5);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
            backoff = (backoff * 2).min(self.amqp.reconnect_max);
        }
    }
}
