//! One results session: a connection, a channel consuming `vos.results` (and publishing to its
//! dead-letter queue, with confirms), taking deliveries in batches.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use lapin::{
    Acker, BasicProperties, Channel, Connection, ConnectionProperties,
    message::Delivery,
    options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
        BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions,
    },
    types::FieldTable,
};
use tokio::{task::JoinError, time::timeout};
use tokio_util::{sync::CancellationToken, task::JoinQueue};

use super::{Consumer, record};
use crate::store::StoreError;

/// How long a batch waits for more results once it has one: results arrive a few at a time
/// under load, and each batch is one Postgres statement and commit.
const LINGER: Duration = Duration::from_millis(5);
/// Batches written at once: the next batch's statement runs while the previous one commits.
/// Each holds a pool connection, so two leave the notify path the rest of the pool.
const IN_FLIGHT: usize = 2;

pub(super) struct Session {
    connection: Connection,
    channel: Channel,
    consumer: lapin::Consumer,
}

/// Connects, declares both queues (durable: results survive a broker restart), and starts
/// consuming with the configured prefetch.
pub(super) async fn open(consumer: &Consumer) -> Result<Session, lapin::Error> {
    let properties =
        ConnectionProperties::default().with_connection_name("vos-gateway-results".into());
    let connection = Connection::connect(&consumer.amqp.url, properties).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let results = consumer.amqp.results_queue.as_str();
    for queue in [results, &dead_letters(results)] {
        channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions::durable(),
                FieldTable::default(),
            )
            .await?;
    }
    channel
        .basic_qos(consumer.settings.prefetch, BasicQosOptions::default())
        .await?;
    let stream = channel
        .basic_consume(
            results.into(),
            "vos-gateway-results".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(Session {
        connection,
        channel,
        consumer: stream,
    })
}

/// A batch whose results are written (or failed to be): what is left is to settle it with
/// the broker, in the order the batches were taken.
struct Written {
    /// The readable results' deliveries, to acknowledge or hand back.
    ackers: Vec<(u64, Acker)>,
    recorded: Result<(), StoreError>,
}

impl Session {
    /// Takes batches until `shutdown` (`Ok`) or a failure (`Err`, then the caller reconnects).
    /// Whatever is unacknowledged when the session ends goes back to the queue.
    ///
    /// Up to [`IN_FLIGHT`] batches are written at once, each in its own task, so the next
    /// batch's statement runs while the previous one commits; they are settled in the order
    /// they were taken, which keeps every `multiple` acknowledgement covering its own batch.
    pub(super) async fn serve(
        self,
        consumer: &Arc<Consumer>,
        shutdown: &CancellationToken,
    ) -> Result<(), String> {
        let Session {
            connection,
            channel,
            consumer: mut deliveries,
        } = self;
        let mut events = connection.events_listener();
        let mut writing = JoinQueue::with_capacity(IN_FLIGHT);
        let ended = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                Some(written) = writing.join_next() => {
                    if let Err(reason) = settle(consumer, written).await {
                        break Err(reason);
                    }
                }
                next = deliveries.next(), if writing.len() < IN_FLIGHT => {
                    let mut batch = match next {
                        Some(Ok(delivery)) => vec![delivery],
                        Some(Err(error)) => break Err(error.to_string()),
                        // lapin ends the stream when the broker cancels the consumer.
                        None => break Err("the broker cancelled the results consumer".into()),
                    };
                    gather(&mut deliveries, &mut batch, consumer.settings.batch_size).await;
                    writing.spawn(write(channel.clone(), Arc::clone(consumer), batch));
                }
                Some(event) = events.next() => {
                    if let lapin::Event::Error(error) = event
                        && !error.is_amqp_soft_error()
                    {
                        break Err(error.to_string());
                    }
                }
            }
        };
        if ended.is_ok() {
            // Shutting down: what is being written is finished and acknowledged (each step has
            // a deadline), so that it does not come back to the next process as duplicates.
            while let Some(written) = writing.join_next().await {
                if settle(consumer, written).await.is_err() {
                    break;
                }
            }
        }
        // After a failure, batches still being written are aborted unsettled: the broker
        // hands them back, and one recorded all the same comes back as a duplicate, which
        // changes nothing.
        drop(writing);
        let tag = deliveries.tag();
        let _ = timeout(
            Duration::from_secs(1),
            channel.basic_cancel(tag, BasicCancelOptions::default()),
        )
        .await;
        let _ = timeout(
            Duration::from_secs(1),
            connection.close(200, "vos-gateway closing".into()),
        )
        .await;
        ended
    }
}

/// Adds what arrives within [`LINGER`], up to `max` in all.
async fn gather(deliveries: &mut lapin::Consumer, batch: &mut Vec<Delivery>, max: usize) {
    let _ = timeout(LINGER, async {
        while batch.len() < max {
            match deliveries.next().await {
                Some(Ok(delivery)) => batch.push(delivery),
                _ => return,
            }
        }
    })
    .await;
}

/// Dead-letters what cannot be read, then writes the rest in one statement.
async fn write(
    channel: Channel,
    consumer: Arc<Consumer>,
    batch: Vec<Delivery>,
) -> Result<Written, String> {
    let (readable, unreadable) = record::read(&batch, &consumer.metrics);
    for delivery in unreadable {
        dead_letter(&channel, delivery, &consumer.amqp).await?;
    }
    let ackers = readable
        .iter()
        .map(|r| (r.delivery.delivery_tag, r.delivery.acker.clone()))
        .collect();
    let recorded = if readable.is_empty() {
        Ok(())
    } else {
        record::record(&consumer, readable).await
    };
    Ok(Written { ackers, recorded })
}

/// Acknowledges a written batch, or, if Postgres could not take it, hands its results back
/// to the queue, to be tried again.
async fn settle(
    consumer: &Consumer,
    written: Result<Result<Written, String>, JoinError>,
) -> Result<(), String> {
    let Written { ackers, recorded } =
        written.map_err(|failed| format!("writing a batch of results failed: {failed}"))??;
    match recorded {
        Ok(()) => {
            // One ack for the batch: `multiple` acknowledges every delivery up to the highest
            // tag, and every lower tag on this channel is already settled (earlier batches
            // in full, since they settle in order, and this batch's unreadable ones), so it
            // covers exactly this batch with one frame instead of one per result.
            if let Some((_, last)) = ackers.iter().max_by_key(|(tag, _)| *tag) {
                let all_up_to_here = BasicAckOptions { multiple: true };
                bounded(&consumer.amqp, last.ack(all_up_to_here)).await?;
            }
            Ok(())
        }
        Err(error) => {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                results = ackers.len(),
                "could not record results; they go back to the queue"
            );
            let requeue = BasicNackOptions {
                requeue: true,
                ..Default::default()
            };
            for (_, acker) in ackers {
                bounded(&consumer.amqp, acker.nack(requeue)).await?;
            }
            // Postgres is down or slow: leave it a moment before the same results return.
            tokio::time::sleep(Duration::from_millis(500)).await;
            Ok(())
        }
    }
}

/// Moves an unreadable result to `vos.results.dlq` (persistent, confirmed), then acknowledges
/// it: it must not block the queue, and must not be lost either.
async fn dead_letter(
    channel: &Channel,
    delivery: &Delivery,
    amqp: &crate::config::AmqpSettings,
) -> Result<(), String> {
    let properties: BasicProperties = delivery.properties.clone().with_delivery_mode(2);
    let confirm = bounded(
        amqp,
        channel.basic_publish(
            "".into(),
            dead_letters(&amqp.results_queue).as_str().into(),
            BasicPublishOptions::default(),
            &delivery.data,
            properties,
        ),
    )
    .await?;
    bounded(amqp, async { confirm.await.map(|_| true) }).await?;
    bounded(amqp, delivery.acker.ack(BasicAckOptions::default())).await?;
    Ok(())
}

/// Where unreadable results go: `vos.results.dlq` for the default queue.
fn dead_letters(results_queue: &str) -> String {
    format!("{results_queue}.dlq")
}

/// One broker step within `confirm_timeout`; a failure or a timeout ends the session.
async fn bounded<T>(
    amqp: &crate::config::AmqpSettings,
    step: impl Future<Output = Result<T, lapin::Error>>,
) -> Result<T, String> {
    match timeout(amqp.confirm_timeout, step).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("the broker did not answer in time".into()),
    }
}
