//! One results session: a connection, a channel consuming `vos.results` (and publishing to its
//! dead-letter queue, with confirms), taking deliveries in batches.

use std::time::Duration;

use futures::StreamExt;
use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties,
    message::Delivery,
    options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
        BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions,
    },
    types::FieldTable,
};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::{Consumer, record};

/// How long a batch waits for more results once it has one: results arrive a few at a time
/// under load, and each batch is one Postgres statement and commit.
const LINGER: Duration = Duration::from_millis(5);

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

impl Session {
    /// Takes batches until `shutdown` (`Ok`) or a failure (`Err`, then the caller reconnects).
    /// Whatever is unacknowledged when the session ends goes back to the queue.
    pub(super) async fn serve(
        mut self,
        consumer: &Consumer,
        shutdown: &CancellationToken,
    ) -> Result<(), String> {
        let mut events = self.connection.events_listener();
        let ended = loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                next = self.consumer.next() => next,
                Some(event) = events.next() => {
                    if let lapin::Event::Error(error) = event
                        && !error.is_amqp_soft_error()
                    {
                        break Err(error.to_string());
                    }
                    continue;
                }
            };
            let mut batch = match first {
                Some(Ok(delivery)) => vec![delivery],
                Some(Err(error)) => break Err(error.to_string()),
                // lapin ends the stream when the broker cancels the consumer.
                None => break Err("the broker cancelled the results consumer".into()),
            };
            self.gather(&mut batch, consumer.settings.batch_size).await;
            if let Err(reason) = self.settle(consumer, batch).await {
                break Err(reason);
            }
        };
        let tag = self.consumer.tag();
        let _ = timeout(
            Duration::from_secs(1),
            self.channel
                .basic_cancel(tag, BasicCancelOptions::default()),
        )
        .await;
        let _ = timeout(
            Duration::from_secs(1),
            self.connection.close(200, "vos-gateway closing".into()),
        )
        .await;
        ended
    }

    /// Adds what arrives within [`LINGER`], up to `max` in all.
    async fn gather(&mut self, batch: &mut Vec<Delivery>, max: usize) {
        let _ = timeout(LINGER, async {
            while batch.len() < max {
                match self.consumer.next().await {
                    Some(Ok(delivery)) => batch.push(delivery),
                    _ => return,
                }
            }
        })
        .await;
    }

    /// Records the batch, dead-letters what cannot be read, then acknowledges. If Postgres
    /// cannot take it, the results are handed back to the queue, to be tried again.
    async fn settle(&self, consumer: &Consumer, batch: Vec<Delivery>) -> Result<(), String> {
        let (readable, unreadable) = record::read(&batch, &consumer.metrics);
        for delivery in unreadable {
            self.dead_letter(delivery, &consumer.amqp).await?;
        }
        if readable.is_empty() {
            return Ok(());
        }
        let deliveries: Vec<&Delivery> = readable.iter().map(|r| r.delivery).collect();
        match record::record(consumer, readable).await {
            Ok(()) => {
                // One ack for the batch: `multiple` acknowledges every delivery up to the
                // highest tag, and every lower tag on this channel is already settled (earlier
                // batches in full, this batch's unreadable ones just now), so it covers
                // exactly this batch with one frame instead of one per result.
                let last = deliveries
                    .iter()
                    .max_by_key(|delivery| delivery.delivery_tag);
                if let Some(last) = last {
                    let all_up_to_here = BasicAckOptions { multiple: true };
                    bounded(&consumer.amqp, last.acker.ack(all_up_to_here)).await?;
                }
                Ok(())
            }
            Err(error) => {
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    results = deliveries.len(),
                    "could not record results; they go back to the queue"
                );
                let requeue = BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                };
                for delivery in deliveries {
                    bounded(&consumer.amqp, delivery.acker.nack(requeue)).await?;
                }
                // Postgres is down or slow: leave it a moment before the same results return.
                tokio::time::sleep(Duration::from_millis(500)).await;
                Ok(())
            }
        }
    }

    /// Moves an unreadable result to `vos.results.dlq` (persistent, confirmed), then
    /// acknowledges it: it must not block the queue, and must not be lost either.
    async fn dead_letter(
        &self,
        delivery: &Delivery,
        amqp: &crate::config::AmqpSettings,
    ) -> Result<(), String> {
        let properties: BasicProperties = delivery.properties.clone().with_delivery_mode(2);
        let confirm = bounded(
            amqp,
            self.channel.basic_publish(
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
