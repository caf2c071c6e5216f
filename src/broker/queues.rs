//! Agent queues: declared on first use in each session (registered agents only), and
//! watched for depth and consumers.

use std::{collections::HashSet, time::Duration};

use lapin::{
    Channel, Connection,
    options::QueueDeclareOptions,
    types::{AMQPValue, FieldTable},
};
use tokio::time::timeout;

use crate::{
    domain::QueueType,
    metrics::{AgentLabel, Metrics, QueueLabels},
};

/// The arguments a queue of this type is declared with. A classic queue gets none, which is
/// what agents built from the seed declare, so either side may declare first.
pub(super) fn arguments(queue_type: QueueType) -> FieldTable {
    let mut arguments = FieldTable::default();
    if queue_type == QueueType::Quorum {
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
    }
    arguments
}

/// The queues this session has declared, and the channel it declares them on. Declares get
/// their own channel because a failed declare closes the channel it was sent on.
pub(super) struct Queues {
    channel: Channel,
    declared: HashSet<String>,
}

impl Queues {
    pub(super) async fn open(connection: &Connection) -> Result<Self, lapin::Error> {
        Ok(Self {
            channel: connection.create_channel().await?,
            declared: HashSet::new(),
        })
    }

    /// Declares a registered agent's queue on first use in this session: durable, of its
    /// registered type. If it exists with other arguments (declared by the agent: a length
    /// limit, another type), the broker answers PRECONDITION_FAILED and closes the channel;
    /// then a passive declare confirms the queue exists and we use it as it is.
    pub(super) async fn ensure(
        &mut self,
        connection: &Connection,
        queue: &str,
        queue_type: QueueType,
        deadline: Duration,
    ) -> Result<(), lapin::Error> {
        if self.declared.contains(queue) {
            return Ok(());
        }
        let durable = QueueDeclareOptions::durable();
        let declared = timeout(
            deadline,
            self.channel
                .queue_declare(queue.into(), durable, arguments(queue_type)),
        )
        .await
        .map_err(timed_out)?;
        if let Err(error) = declared {
            if !error.is_amqp_soft_error() {
                return Err(error);
            }
            self.reopen(connection, deadline).await?;
            self.passive(queue, deadline).await?;
        }
        self.declared.insert(queue.to_owned());
        Ok(())
    }

    /// Forgets a queue (it was deleted): the next publish declares it again.
    pub(super) fn forget(&mut self, queue: &str) {
        self.declared.remove(queue);
    }

    /// Refreshes depth and consumer gauges with a passive declare of each known queue
    /// (no management plugin needed). Only agents that have a label of their own are
    /// watched, so the number of series stays bounded by `metrics.max_agent_labels`.
    pub(super) async fn poll(
        &mut self,
        connection: &Connection,
        metrics: &Metrics,
        deadline: Duration,
    ) -> Result<(), lapin::Error> {
        let queues: Vec<String> = self.declared.iter().cloned().collect();
        for queue in queues {
            let agent = queue.trim_end_matches("_queue");
            if &*metrics.agents.label(agent) != agent {
                continue;
            }
            let labels = QueueLabels {
                queue: queue.clone(),
            };
            match self.passive(&queue, deadline).await {
                Ok((messages, consumers)) => {
                    metrics
                        .queue_messages
                        .get_or_create(&labels)
                        .set(messages.into());
                    metrics
                        .queue_consumers
                        .get_or_create(&labels)
                        .set(consumers.into());
                    let up = AgentLabel {
                        agent_id: agent.to_owned(),
                    };
                    metrics
                        .agent_up
                        .get_or_create(&up)
                        .set(i64::from(consumers > 0));
                }
                Err(error) if error.is_amqp_soft_error() => {
                    // Deleted since we declared it: stop reporting it until it is used again.
                    metrics.queue_messages.remove(&labels);
                    metrics.queue_consumers.remove(&labels);
                    metrics.agent_up.remove(&AgentLabel {
                        agent_id: agent.to_owned(),
                    });
                    self.declared.remove(&queue);
                    self.reopen(connection, deadline).await?;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    async fn passive(&self, queue: &str, deadline: Duration) -> Result<(u32, u32), lapin::Error> {
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let found = timeout(
            deadline,
            self.channel
                .queue_declare(queue.into(), passive, FieldTable::default()),
        )
        .await
        .map_err(timed_out)??;
        Ok((found.message_count(), found.consumer_count()))
    }

    async fn reopen(
        &mut self,
        connection: &Connection,
        deadline: Duration,
    ) -> Result<(), lapin::Error> {
        self.channel = timeout(deadline, connection.create_channel())
            .await
            .map_err(timed_out)??;
        Ok(())
    }
}

pub(super) fn timed_out(_: tokio::time::error::Elapsed) -> lapin::Error {
    lapin::Error::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "broker did not answer in time",
    ))
}
