//! One AMQP session: a connection, its confirm-mode channel, and the publishes in flight on it.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use futures::{StreamExt, future::BoxFuture, stream::FuturesUnordered};
use lapin::{
    Channel, Confirmation, Connection, ConnectionProperties,
    options::{BasicPublishOptions, ConfirmSelectOptions},
};
use tokio::{sync::mpsc, time::timeout};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{PublishJob, PublishResult, message, queues::Queues};
use crate::{
    config::AmqpSettings,
    metrics::{FailureLabels, Metrics, TraceExemplar},
};

type ConfirmFuture = BoxFuture<
    'static,
    (
        u64,
        Result<Result<Confirmation, lapin::Error>, tokio::time::error::Elapsed>,
    ),
>;

/// Why a session ended.
pub(super) enum End {
    /// Every job handle is gone and everything in flight was answered.
    Drained,
    /// The connection or channel failed.
    Failed(String),
}

pub(super) struct Session {
    connection: Connection,
    /// Confirm-mode channel, used by this task alone (channels must not be shared for publishing).
    publish: Channel,
    queues: Queues,
    unconfirmed: HashMap<u64, (PublishJob, Instant)>,
    next_key: u64,
}

impl Session {
    pub(super) async fn open(settings: &AmqpSettings) -> Result<Self, lapin::Error> {
        let properties = ConnectionProperties::default().with_connection_name("vos-gateway".into());
        let connection = Connection::connect(&settings.url, properties).await?;
        let publish = connection.create_channel().await?;
        publish
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let queues = Queues::open(&connection).await?;
        Ok(Self {
            connection,
            publish,
            queues,
            unconfirmed: HashMap::new(),
            next_key: 0,
        })
    }

    pub(super) async fn serve(
        mut self,
        jobs: &mut mpsc::Receiver<PublishJob>,
        settings: &AmqpSettings,
        metrics: &Metrics,
        poll_queues_every: Duration,
    ) -> End {
        let mut confirms: FuturesUnordered<ConfirmFuture> = FuturesUnordered::new();
        let mut events = self.connection.events_listener();
        let mut poll = tokio::time::interval(poll_queues_every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut closing = false;
        let end = loop {
            if closing && confirms.is_empty() {
                break End::Drained;
            }
            tokio::select! {
                // Confirms first: they free room in the window.
                biased;
                Some((key, result)) = confirms.next(), if !confirms.is_empty() => {
                    if let Err(reason) = self.settle(key, result, metrics) {
                        break End::Failed(reason);
                    }
                }
                job = jobs.recv(), if !closing && self.unconfirmed.len() < settings.confirm_window => match job {
                    Some(job) => match self.publish(job, settings).await {
                        Ok(confirm) => confirms.push(confirm),
                        Err(reason) => break End::Failed(reason),
                    },
                    None => closing = true,
                },
                _ = poll.tick(), if !closing => {
                    if let Err(error) = self.queues.poll(&self.connection, metrics, settings.confirm_timeout).await {
                        break End::Failed(format!("watching queues: {error}"));
                    }
                }
                Some(event) = events.next() => {
                    // Channel-level (soft) errors are handled where they happen; anything
                    // else means the connection is gone.
                    if let lapin::Event::Error(error) = event
                        && !error.is_amqp_soft_error()
                    {
                        break End::Failed(error.to_string());
                    }
                }
            }
        };
        // Whatever is still unconfirmed has an unknown fate: report it, the relay retries it.
        for (_, (job, _)) in self.unconfirmed.drain() {
            job.answer(PublishResult::Unavailable);
        }
        let _ = timeout(
            Duration::from_secs(1),
            self.connection.close(200, "vos-gateway closing".into()),
        )
        .await;
        end
    }

    /// Queues one message; returns a future that sends it and then waits for its confirm.
    ///
    /// Publishes are pipelined: the future pushes its frames to lapin's I/O loop on first
    /// poll, and the session goes on to the next job without waiting for the write. (lapin's
    /// `basic_publish` resolves only once its I/O thread has written the frames; awaiting it
    /// here made every message a round trip between two threads.) The delivery tag and the
    /// frames are assigned together in that first poll, so confirms still match messages.
    /// The deadline covers the send and the confirm; a send error or a timeout ends the
    /// session in `settle`, as before.
    async fn publish(
        &mut self,
        job: PublishJob,
        settings: &AmqpSettings,
    ) -> Result<ConfirmFuture, String> {
        let queue = job.notification.agent_id.queue_name();
        let deadline = settings.confirm_timeout;
        // An agent unregistered since acceptance gets no queue declared for it: if its queue
        // is gone, the mandatory publish comes back and counts as a rejection.
        if let Some(queue_type) = job.queue
            && let Err(error) = self
                .queues
                .ensure(&self.connection, &queue, queue_type, deadline)
                .await
        {
            job.answer(PublishResult::Unavailable);
            return Err(format!("declaring {queue}: {error}"));
        }
        let outbound = message::encode(&job.notification, &settings.results_queue);
        job.span
            .record("messaging.message.body.size", outbound.body.len());
        // mandatory: an unroutable message comes back as basic.return instead of vanishing.
        let options = BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        };
        let channel = self.publish.clone();
        let span = job.span.clone();
        let key = self.next_key;
        self.next_key += 1;
        self.unconfirmed.insert(key, (job, Instant::now()));
        Ok(Box::pin(async move {
            let sent_and_confirmed = timeout(deadline, async move {
                let confirm = channel
                    .basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        options,
                        &outbound.body,
                        outbound.properties,
                    )
                    .instrument(span)
                    .await?;
                confirm.await
            });
            (key, sent_and_confirmed.await)
        }))
    }

    /// Reports one confirm. An `Err` means the channel is no longer trustworthy.
    fn settle(
        &mut self,
        key: u64,
        result: Result<Result<Confirmation, lapin::Error>, tokio::time::error::Elapsed>,
        metrics: &Metrics,
    ) -> Result<(), String> {
        let Some((job, started)) = self.unconfirmed.remove(&key) else {
            return Ok(());
        };
        let (outcome, failure) = match result {
            Ok(Ok(Confirmation::Ack(None))) => (PublishResult::Confirmed, None),
            Ok(Ok(Confirmation::Ack(Some(_)))) => {
                // The queue is gone (deleted by someone): declare it again next time.
                self.queues.forget(&job.notification.agent_id.queue_name());
                (PublishResult::Returned, None)
            }
            Ok(Ok(Confirmation::Nack(_))) => (PublishResult::Nacked, None),
            Ok(Ok(Confirmation::NotRequested)) => (
                PublishResult::Unavailable,
                Some("channel is not in confirm mode".to_owned()),
            ),
            Ok(Err(error)) => (PublishResult::Unavailable, Some(error.to_string())),
            Err(_) => (
                PublishResult::TimedOut,
                Some("no confirm within the deadline".to_owned()),
            ),
        };
        record(&job, outcome, started.elapsed(), metrics);
        job.answer(outcome);
        failure.map_or(Ok(()), Err)
    }
}

/// Metrics and span status for one settled publish.
fn record(job: &PublishJob, outcome: PublishResult, elapsed: Duration, metrics: &Metrics) {
    let exemplar = TraceExemplar::new(job.notification.trace.trace_id.to_bytes());
    let labels = metrics.delivery_labels(
        job.notification.agent_id.as_str(),
        &job.notification.notification_type,
    );
    match outcome {
        PublishResult::Confirmed => {
            metrics
                .confirm_duration
                .observe(elapsed.as_secs_f64(), Some(exemplar), None);
            metrics.published.get_or_create(&labels).inc();
            job.span.set_status(opentelemetry::trace::Status::Ok);
        }
        failed => {
            if failed == PublishResult::Returned {
                metrics.returned.get_or_create(&labels).inc();
            }
            metrics
                .publish_failures
                .get_or_create(&FailureLabels {
                    reason: failed.reason(),
                })
                .inc();
            job.span.record("error.type", failed.reason());
            job.span
                .set_status(opentelemetry::trace::Status::error(failed.reason()));
        }
    }
}
