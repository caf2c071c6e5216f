//! Confirmed publishes: results to the reply queue, failed notifications to the dead-letter
//! queue. Each waits for the broker's confirm within the network deadline; a nack or a timeout
//! is a failure, and the delivery is then not acknowledged.

use std::time::Duration;

use lapin::{
    BasicProperties, Channel, Confirmation,
    options::BasicPublishOptions,
    types::{AMQPValue, FieldTable, LongString},
};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use crate::error::PublishError;

/// AMQP delivery mode 2: written to disk by the broker (with a durable queue).
const PERSISTENT: u8 = 2;
/// Longest error text put on a dead-lettered message or a failed result.
pub(crate) const MAX_ERROR_LEN: usize = 1024;

/// Where a confirmed publish went.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Routed {
    Queued,
    /// The broker confirmed it but no queue took it (`mandatory` came back).
    Unroutable,
}

/// A confirm-mode channel of its own: publishes from concurrent handlers share it, and
/// lapin matches each confirm to its publish.
pub(crate) struct Publisher {
    channel: Channel,
    deadline: Duration,
    /// Cancelled when a queue this session declared has gone: the session ends, and the next
    /// one declares it again.
    queue_lost: CancellationToken,
}

impl Publisher {
    pub(crate) fn new(channel: Channel, deadline: Duration) -> Self {
        Self {
            channel,
            deadline,
            queue_lost: CancellationToken::new(),
        }
    }

    pub(crate) fn queue_lost(&self) -> &CancellationToken {
        &self.queue_lost
    }

    pub(crate) fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Publishes through the default exchange to `queue` and waits for the confirm.
    pub(crate) async fn publish(
        &self,
        queue: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<Routed, PublishError> {
        // mandatory: a message no queue takes comes back instead of vanishing silently.
        let options = BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        };
        let confirmed = timeout(self.deadline, async {
            let confirm = self
                .channel
                .basic_publish("".into(), queue.into(), options, body, properties)
                .await?;
            Ok::<_, PublishError>(confirm.await?)
        })
        .await
        .map_err(|_| PublishError::Timeout)??;
        match confirmed {
            Confirmation::Ack(None) => Ok(Routed::Queued),
            Confirmation::Ack(Some(_)) => Ok(Routed::Unroutable),
            Confirmation::Nack(_) => Err(PublishError::Nacked),
            Confirmation::NotRequested => Err(PublishError::NotConfirmed),
        }
    }
}

/// Properties of a result: persistent JSON, the notification's correlation id, a message id
/// of its own, and the consumer span's `traceparent`.
pub(crate) fn result_properties(
    correlation_id: Option<&str>,
    traceparent: &str,
    agent_id: &str,
) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(
        "traceparent".into(),
        AMQPValue::LongString(traceparent.into()),
    );
    let mut properties = BasicProperties::default()
        .with_message_id(uuid::Uuid::new_v4().to_string().into())
        .with_content_type("application/json".into())
        .with_delivery_mode(PERSISTENT)
        .with_timestamp(chrono::Utc::now().timestamp().max(0) as u64)
        .with_app_id(format!("vos-agent/{agent_id}").into())
        .with_headers(headers);
    if let Some(correlation_id) = correlation_id {
        properties = properties.with_correlation_id(correlation_id.into());
    }
    properties
}

/// The original message's properties and headers, persistent, plus why and after how many
/// attempts it was given up on.
pub(crate) fn dead_letter_properties(
    original: &BasicProperties,
    error: &str,
    attempts: u32,
) -> BasicProperties {
    let mut headers = original.headers().clone().unwrap_or_default();
    headers.insert(
        "x-vos-error".into(),
        AMQPValue::LongString(LongString::from(truncate(error, MAX_ERROR_LEN))),
    );
    headers.insert(
        "x-vos-attempts".into(),
        AMQPValue::LongLongInt(i64::from(attempts)),
    );
    headers.insert(
        "x-vos-dead-lettered-at".into(),
        AMQPValue::LongString(chrono::Utc::now().to_rfc3339().into()),
    );
    original
        .clone()
        .with_delivery_mode(PERSISTENT)
        .with_headers(headers)
}

/// At most `max` bytes of `text`, cut at a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
