//! A RabbitMQ client that plays the agent: what reached a queue, message by message.

use std::time::Duration;

use lapin::{
    Connection, ConnectionProperties,
    message::BasicGetMessage,
    options::{BasicGetOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
};
use serde_json::Value;

use super::amqp_url;

pub struct Broker {
    channel: lapin::Channel,
    /// `basic.get` on a queue that does not exist yet closes its channel: use a fresh one.
    polling: tokio::sync::Mutex<lapin::Channel>,
    connection: Connection,
}

impl Broker {
    pub async fn connect() -> Self {
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("amqp");
        let channel = connection.create_channel().await.expect("channel");
        let polling = tokio::sync::Mutex::new(connection.create_channel().await.expect("channel"));
        Self {
            channel,
            polling,
            connection,
        }
    }

    /// The next message on `queue`, waiting up to `within`.
    pub async fn next_message(&self, queue: &str, within: Duration) -> Option<BasicGetMessage> {
        let deadline = tokio::time::Instant::now() + within;
        let mut polling = self.polling.lock().await;
        while tokio::time::Instant::now() < deadline {
            match polling
                .basic_get(queue.into(), BasicGetOptions { no_ack: true })
                .await
            {
                Ok(Some(message)) => return Some(message),
                Ok(None) => {}
                Err(_) => *polling = self.connection.create_channel().await.expect("channel"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Everything currently on `queue`, as JSON bodies.
    pub async fn drain(&self, queue: &str, expected: usize, within: Duration) -> Vec<Value> {
        let mut bodies = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        while bodies.len() < expected && tokio::time::Instant::now() < deadline {
            match self.next_message(queue, Duration::from_millis(200)).await {
                Some(message) => {
                    bodies.push(serde_json::from_slice(&message.delivery.data).expect("JSON body"))
                }
                None => continue,
            }
        }
        // Anything beyond what was expected is a duplicate: take it too, briefly.
        while let Some(message) = self.next_message(queue, Duration::from_millis(300)).await {
            bodies.push(serde_json::from_slice(&message.delivery.data).expect("JSON body"));
        }
        bodies
    }

    pub fn channel(&self) -> &lapin::Channel {
        &self.channel
    }

    /// A new channel, for an operation that may fail (a failed declare closes its channel).
    pub async fn fresh_channel(&self) -> lapin::Channel {
        self.connection.create_channel().await.expect("channel")
    }

    /// `(messages ready, consumers)` of `queue` from a passive declare; `None` when the queue
    /// does not exist. Each call uses a channel of its own: a failed passive declare closes it.
    pub async fn queue_state(&self, queue: &str) -> Option<(u32, u32)> {
        let channel = self.fresh_channel().await;
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let found = channel
            .queue_declare(queue.into(), passive, FieldTable::default())
            .await
            .ok()?;
        let _ = channel.close(200, "inspected".into()).await;
        Some((found.message_count(), found.consumer_count()))
    }

    /// Deletes `queue` (if it exists).
    pub async fn delete_queue(&self, queue: &str) {
        let channel = self.fresh_channel().await;
        let _ = channel
            .queue_delete(queue.into(), lapin::options::QueueDeleteOptions::default())
            .await;
        let _ = channel.close(200, "deleted".into()).await;
    }

    /// Messages ready in `queue`; 0 when it does not exist.
    pub async fn queue_depth(&self, queue: &str) -> u32 {
        self.queue_state(queue)
            .await
            .map_or(0, |(messages, _)| messages)
    }
}

/// A message header as text (the gateway writes `traceparent` as a string).
pub fn header_str(headers: &FieldTable, key: &str) -> Option<String> {
    match headers.inner().get(key)? {
        AMQPValue::LongString(value) => Some(value.to_string()),
        AMQPValue::ShortString(value) => Some(value.to_string()),
        _ => None,
    }
}
