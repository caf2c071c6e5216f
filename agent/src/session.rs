//! One AMQP session: a connection, a consuming channel (manual ack, prefetch = capacity) and a
//! confirm-mode publishing channel, with a task per delivery.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use lapin::{
    Channel, Connection, ConnectionProperties,
    options::{
        BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions,
        QueueDeclareOptions,
    },
    types::FieldTable,
};
use tokio::{task::JoinSet, time::timeout};
use tokio_util::sync::CancellationToken;
use vos_protocol::RESULTS_QUEUE;

use crate::{config::Settings, delivery::Worker, error::SessionError, publish::Publisher};

/// Why a session ended.
pub(crate) enum End {
    /// Shutdown was asked for and in-flight work drained (or hit the drain deadline).
    Shutdown,
    Failed(SessionError),
}

pub(crate) struct Session {
    connection: Connection,
    consume: Channel,
    consumer: lapin::Consumer,
    publisher: Arc<Publisher>,
}

/// Runs one broker step within the network deadline.
async fn bounded<T>(
    settings: &Settings,
    step: &'static str,
    future: impl Future<Output = Result<T, lapin::Error>>,
) -> Result<T, SessionError> {
    match timeout(settings.network_timeout, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(SessionError::Amqp { step, source }),
        Err(_) => Err(SessionError::Timeout(step)),
    }
}

impl Session {
    /// Connects, makes sure the queues exist, and starts consuming.
    pub(crate) async fn open(settings: &Settings) -> Result<Self, SessionError> {
        let name = format!("vos-agent-{}", settings.agent_id);
        let properties = ConnectionProperties::default().with_connection_name(name.clone().into());
        let connection = bounded(
            settings,
            "connect",
            Connection::connect(&settings.amqp_url, properties),
        )
        .await?;
        ensure_queue(&connection, settings, &settings.queue, true).await?;
        for queue in [&settings.dead_letters, RESULTS_QUEUE] {
            ensure_queue(&connection, settings, queue, false).await?;
        }
        let consume = bounded(settings, "open channel", connection.create_channel()).await?;
        // Per-consumer prefetch (global: false) = capacity: the broker never hands this
        // process more unacknowledged messages than it runs handlers for, so nothing waits
        // in a local buffer where another consumer could have taken it.
        bounded(
            settings,
            "basic.qos",
            consume.basic_qos(settings.capacity, BasicQosOptions { global: false }),
        )
        .await?;
        let publish = bounded(settings, "open channel", connection.create_channel()).await?;
        bounded(
            settings,
            "confirm.select",
            publish.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        let tag = format!("{}-{}", name, uuid::Uuid::new_v4().simple());
        // Manual acknowledgement (no_ack: false): a message is acked only once its result is
        // confirmed, so a crash at any point leaves it on the queue.
        let consumer = bounded(
            settings,
            "basic.consume",
            consume.basic_consume(
                settings.queue.as_str().into(),
                tag.into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        Ok(Self {
            connection,
            consume,
            consumer,
            publisher: Arc::new(Publisher::new(publish, settings.network_timeout)),
        })
    }

    /// Consumes until shutdown (then drains) or until the connection, channel or consumer
    /// fails. lapin ends the consumer stream, or yields an error, when the channel dies;
    /// both end the session so the supervisor reconnects.
    pub(crate) async fn serve(self, worker: &Arc<Worker>, shutdown: &CancellationToken) -> End {
        let settings = worker.settings.clone();
        let mut consumer = self.consumer.clone();
        let mut events = self.connection.events_listener();
        let mut tasks = JoinSet::new();
        let failure = loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break None,
                _ = self.publisher.queue_lost().cancelled() => {
                    break Some(SessionError::Lost("a declared queue was deleted".into()));
                }
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(error) = joined && error.is_panic() {
                        tracing::error!("a delivery task panicked");
                    }
                }
                next = consumer.next() => match next {
                    Some(Ok(delivery)) => {
                        tasks.spawn(worker.clone().process(self.publisher.clone(), delivery));
                    }
                    Some(Err(error)) => break Some(SessionError::Amqp { step: "consuming", source: error }),
                    None => break Some(SessionError::Lost("the consumer was cancelled or its channel closed".into())),
                },
                Some(event) = events.next() => {
                    if let lapin::Event::Error(error) = event && !error.is_amqp_soft_error() {
                        break Some(SessionError::Amqp { step: "connection", source: error });
                    }
                }
            }
        };
        if let Some(error) = failure {
            // The channel is gone: nothing in flight can be acknowledged any more, and the
            // broker hands it out again. Stop the handlers rather than waste their work twice.
            tasks.abort_all();
            self.close(Duration::from_secs(1)).await;
            return End::Failed(error);
        }
        // Stop new deliveries first; what was prefetched but not started goes back on close.
        let tag = self.consumer.tag();
        if let Err(error) = bounded(
            &settings,
            "basic.cancel",
            self.consume
                .basic_cancel(tag, BasicCancelOptions::default()),
        )
        .await
        {
            tracing::warn!(error = %error, "cancelling the consumer failed");
        }
        let in_flight = tasks.len();
        tracing::info!(in_flight, "draining in-flight notifications");
        let drained = timeout(settings.drain_timeout, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = tasks.len(),
                "drain deadline reached; unfinished notifications go back to the queue"
            );
            tasks.abort_all();
        }
        self.close(settings.network_timeout).await;
        End::Shutdown
    }

    /// Closes channels and connection; unacknowledged deliveries return to the queue.
    async fn close(&self, deadline: Duration) {
        let _ = timeout(
            deadline,
            self.consume.close(200, "vos-agent closing".into()),
        )
        .await;
        let _ = timeout(
            deadline,
            self.publisher
                .channel()
                .close(200, "vos-agent closing".into()),
        )
        .await;
        let _ = timeout(
            deadline,
            self.connection.close(200, "vos-agent closing".into()),
        )
        .await;
    }
}

/// Makes sure `queue` exists without contradicting whoever declared it. Declaring is a durable
/// classic queue with no arguments, the same declaration the gateway makes for a classic
/// queue, so either side may come first; a queue declared otherwise (the gateway's quorum
/// queues) answers it with an error that closes the channel, and then a passive declare says
/// whether it exists. The agent's own queue is more often the gateway's, so it is looked up
/// passively first; the dead-letter and results queues are declared first (each failed
/// attempt is a channel error the broker logs, so the likely one goes first).
async fn ensure_queue(
    connection: &Connection,
    settings: &Settings,
    queue: &str,
    passive_first: bool,
) -> Result<(), SessionError> {
    let (first, second) = if passive_first {
        (true, false)
    } else {
        (false, true)
    };
    match declare(connection, settings, queue, first).await {
        Ok(()) => Ok(()),
        // NOT_FOUND (passive) or PRECONDITION_FAILED (other arguments): channel-level errors.
        Err(SessionError::Amqp { source, .. }) if source.is_amqp_soft_error() => {
            declare(connection, settings, queue, second).await
        }
        Err(error) => Err(error),
    }
}

/// One `queue.declare` on a channel of its own (a failed declare closes its channel).
async fn declare(
    connection: &Connection,
    settings: &Settings,
    queue: &str,
    passive: bool,
) -> Result<(), SessionError> {
    let channel = bounded(settings, "open channel", connection.create_channel()).await?;
    let options = QueueDeclareOptions {
        passive,
        ..QueueDeclareOptions::durable()
    };
    let step = if passive {
        "queue.declare (passive)"
    } else {
        "queue.declare"
    };
    bounded(
        settings,
        step,
        channel.queue_declare(queue.into(), options, FieldTable::default()),
    )
    .await?;
    let _ = timeout(settings.network_timeout, channel.close(200, "".into())).await;
    Ok(())
}
