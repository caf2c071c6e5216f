//! Delivery, from a committed row to a confirmed message: the hand-off from the batch writer
//! to the publisher (the fast path), the recorder that settles fast-path outcomes, and the
//! relay that publishes whatever is still pending after an outage or a crash.

mod recorder;
mod relay;
mod settle;

use std::sync::Arc;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::{
    background::Stages,
    broker::{PublishJob, Publisher, Reply},
    config::Settings,
    metrics::Metrics,
    registry::Registry,
    store::{OnCommitted, Schema, Writer},
};

/// The delivery stages of one gateway.
pub struct Delivery;

impl Delivery {
    /// Starts the writer, the recorder and the relay around `publisher`; returns the writer
    /// handlers commit through, and the stages in shutdown order (the relay stops first; the
    /// writer, then the recorder, end once what feeds them has let go).
    pub fn spawn(
        pool: PgPool,
        publisher: Publisher,
        metrics: Metrics,
        schema: Schema,
        registry: Registry,
        settings: &Settings,
        shutdown: CancellationToken,
    ) -> (Writer, Stages) {
        let db_deadline = settings.database.deadline();
        let (recorder, recorder_stage) = recorder::spawn(
            pool.clone(),
            metrics.clone(),
            settings.relay.max_attempts,
            db_deadline,
            settings.publisher.queue_capacity,
        );
        let (writer, writer_stage) = Writer::spawn(
            pool.clone(),
            &settings.writer,
            db_deadline,
            settings.relay.grace,
            fast_path(publisher.clone(), registry.clone(), recorder),
            metrics.batch_rows("insert"),
        );
        let relay = relay::Relay {
            pool,
            publisher,
            metrics,
            settings: settings.relay.clone(),
            confirm_timeout: settings.amqp.confirm_timeout,
            db_deadline,
            schema,
            registry,
        };
        let mut stages = Stages::default();
        stages
            .push(relay.spawn(shutdown))
            .push(writer_stage)
            .push(recorder_stage);
        (writer, stages)
    }
}

/// The fast path: each committed notification goes straight to the publisher, its outcome to
/// the recorder. A full publisher queue is not an error: the row is pending and the relay has
/// it after its grace period.
fn fast_path(
    publisher: Publisher,
    registry: Registry,
    recorder: recorder::Recorder,
) -> OnCommitted {
    Arc::new(move |notification, span| {
        let queue = registry.queue_type(notification.agent_id.as_str());
        let job = PublishJob {
            notification,
            queue,
            span,
            reply: Reply::Record(recorder.clone()),
        };
        if !publisher.offer(job) {
            tracing::debug!("publisher queue full; the relay will publish this notification");
        }
    })
}
