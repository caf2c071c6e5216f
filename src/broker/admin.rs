//! Queue administration for agent registration: declare, inspect, delete. Off the hot path,
//! on a connection of its own (opened on first use, reopened after a loss), so that it never
//! waits behind the publisher's confirm window. Every step has the configured deadline.

use std::{sync::Arc, time::Duration};

use lapin::{
    Channel, Connection, ConnectionProperties,
    options::{QueueDeclareOptions, QueueDeleteOptions},
    protocol::{AMQPErrorKind, AMQPHardError},
    types::FieldTable,
};
use tokio::{sync::Mutex, time::timeout};

use super::queues::{arguments, timed_out};
use crate::{config::AmqpSettings, domain::QueueType};

/// A queue's live figures, from a passive declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStatus {
    pub messages: u32,
    pub consumers: u32,
}

/// What queue administration can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the broker is unavailable")]
    Unavailable(#[source] lapin::Error),
    #[error("the queue does not exist")]
    NotFound,
    #[error("the queue still holds messages")]
    NotEmpty,
    /// RabbitMQ cannot delete a quorum queue only if it is empty (`if-empty` is not
    /// implemented for quorum queues), and a check followed by a plain delete could destroy
    /// a message confirmed in between: such a queue is left to the operator.
    #[error("the broker cannot delete this queue only if it is empty (a quorum queue)")]
    IfEmptyUnsupported,
}

fn not_implemented(error: &lapin::Error) -> bool {
    matches!(error.kind(), lapin::ErrorKind::ProtocolError(amqp)
        if *amqp.kind() == AMQPErrorKind::Hard(AMQPHardError::NOTIMPLEMENTED))
}

/// A cheap handle; operations are serialised on one connection and one channel.
#[derive(Clone)]
pub struct QueueAdmin {
    settings: Arc<AmqpSettings>,
    open: Arc<Mutex<Option<(Connection, Channel)>>>,
}

impl QueueAdmin {
    pub fn new(settings: &AmqpSettings) -> Self {
        Self {
            settings: Arc::new(settings.clone()),
            open: Arc::default(),
        }
    }

    /// The type of a queue whose registration names none: `[amqp] queue_type`.
    pub fn default_type(&self) -> QueueType {
        self.settings.queue_type
    }

    /// Declares the queue durable with the type's arguments. A queue that exists with other
    /// arguments (the agent declared it itself) is used as it is.
    pub async fn declare(&self, queue: &str, queue_type: QueueType) -> Result<(), AdminError> {
        let channel = self.channel().await?;
        let declared = self
            .bounded(channel.queue_declare(
                queue.into(),
                QueueDeclareOptions::durable(),
                arguments(queue_type),
            ))
            .await;
        match declared {
            Ok(_) => Ok(()),
            Err(AdminError::Unavailable(error)) if error.is_amqp_soft_error() => {
                self.inspect(queue).await.map(|_| ())
            }
            Err(error) => Err(error),
        }
    }

    /// Depth and consumers; `NotFound` when the queue does not exist.
    pub async fn inspect(&self, queue: &str) -> Result<QueueStatus, AdminError> {
        let channel = self.channel().await?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        match self
            .bounded(channel.queue_declare(queue.into(), passive, FieldTable::default()))
            .await
        {
            Ok(found) => Ok(QueueStatus {
                messages: found.message_count(),
                consumers: found.consumer_count(),
            }),
            Err(AdminError::Unavailable(error)) if error.is_amqp_soft_error() => {
                Err(AdminError::NotFound)
            }
            Err(error) => Err(error),
        }
    }

    /// Deletes the queue only if it is empty; a missing queue is already deleted.
    pub async fn delete_if_empty(&self, queue: &str) -> Result<(), AdminError> {
        let channel = self.channel().await?;
        let options = QueueDeleteOptions {
            if_empty: true,
            ..Default::default()
        };
        match self
            .bounded(channel.queue_delete(queue.into(), options))
            .await
        {
            Ok(_) => Ok(()),
            // 540 NOT_IMPLEMENTED closes the connection; the next call opens another.
            Err(AdminError::Unavailable(error)) if not_implemented(&error) => {
                Err(AdminError::IfEmptyUnsupported)
            }
            // 406 PRECONDITION_FAILED: not empty; 404: already gone.
            Err(AdminError::Unavailable(error)) if error.is_amqp_soft_error() => {
                match self.inspect(queue).await {
                    Err(AdminError::NotFound) => Ok(()),
                    Ok(_) => Err(AdminError::NotEmpty),
                    Err(error) => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// The open channel; a new one when the last was closed (a failed declare closes the
    /// channel it ran on), and a new connection first when that was lost.
    async fn channel(&self) -> Result<Channel, AdminError> {
        let mut open = self.open.lock().await;
        if let Some((_, channel)) = open.as_ref()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let connection = match open.take() {
            Some((connection, _)) if connection.status().connected() => connection,
            _ => {
                let properties = ConnectionProperties::default()
                    .with_connection_name("vos-gateway-admin".into());
                timeout(
                    self.settings.connect_timeout,
                    Connection::connect(&self.settings.url, properties),
                )
                .await
                .map_err(timed_out)
                .and_then(|opened| opened)
                .map_err(AdminError::Unavailable)?
            }
        };
        let channel = self.bounded(connection.create_channel()).await?;
        *open = Some((connection, channel.clone()));
        Ok(channel)
    }

    async fn bounded<T>(
        &self,
        step: impl Future<Output = Result<T, lapin::Error>>,
    ) -> Result<T, AdminError> {
        let deadline: Duration = self.settings.confirm_timeout;
        timeout(deadline, step)
            .await
            .map_err(timed_out)
            .and_then(|done| done)
            .map_err(AdminError::Unavailable)
    }
}
