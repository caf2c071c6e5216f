//! The test's side of the broker: it plays the gateway (publishes notifications) and reads
//! results from a results queue of its own.

use std::time::{Duration, Instant};

use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties,
    message::Delivery,
    options::{
        BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
        QueueDeclareOptions, QueueDeleteOptions,
    },
    types::{AMQPValue, FieldTable},
};
use serde_json::{Value, json};
use tokio::time::timeout;
use uuid::Uuid;
use vos_protocol::AgentResult;

use super::{DEADLINE, PARENT_SPAN_ID, TRACE_ID, amqp_url, traceparent};

/// A test's own view of the broker.
pub struct Broker {
    _connection: Connection,
    channel: Channel,
    pub agent_id: String,
    pub results: String,
}

impl Broker {
    /// Connects (retrying while RabbitMQ is briefly away) and declares the agent's queue
    /// (classic, as the gateway declares it by default) and a results queue for this test.
    pub async fn new(agent_id: &str) -> Self {
        Self::connect(agent_id, FieldTable::default()).await
    }

    /// The same with the agent's queue declared as a quorum queue, as the gateway does for
    /// agents registered with that type.
    pub async fn quorum(agent_id: &str) -> Self {
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        Self::connect(agent_id, arguments).await
    }

    async fn connect(agent_id: &str, queue_arguments: FieldTable) -> Self {
        super::exporter();
        let started = Instant::now();
        let connection = loop {
            match timeout(
                Duration::from_secs(5),
                Connection::connect(&amqp_url(), ConnectionProperties::default()),
            )
            .await
            {
                Ok(Ok(connection)) => break connection,
                _ if started.elapsed() < DEADLINE => {
                    tokio::time::sleep(Duration::from_millis(500)).await
                }
                other => panic!("cannot connect to RabbitMQ: {other:?}"),
            }
        };
        let channel = connection.create_channel().await.expect("channel");
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirms");
        let broker = Self {
            _connection: connection,
            channel,
            agent_id: agent_id.to_owned(),
            results: format!("{agent_id}.results"),
        };
        broker
            .channel
            .queue_declare(
                vos_protocol::agent_queue(agent_id).as_str().into(),
                QueueDeclareOptions::durable(),
                queue_arguments,
            )
            .await
            .expect("declare the agent's queue");
        broker.declare(&broker.results.clone()).await;
        broker
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    pub fn queue(&self) -> String {
        vos_protocol::agent_queue(&self.agent_id)
    }

    pub fn dead_letters(&self) -> String {
        vos_protocol::dead_letter_queue(&self.agent_id)
    }

    pub async fn declare(&self, queue: &str) {
        self.channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions::durable(),
                FieldTable::default(),
            )
            .await
            .expect("declare");
    }

    /// A notification body as the gateway writes it, and its id.
    pub fn notification(&self, notification_type: &str, payload: Value) -> (Uuid, Vec<u8>) {
        let id = Uuid::new_v4();
        let body = json!({
            "notification_id": id,
            "agent_id": self.agent_id,
            "notification_type": notification_type,
            "source": "tests",
            "payload": payload,
            "trace_id": TRACE_ID,
            "span_id": PARENT_SPAN_ID,
            "correlation_id": format!("corr-{id}"),
            "timestamp": "2026-11-30T12:00:00Z",
        });
        (id, serde_json::to_vec(&body).unwrap())
    }

    /// Properties as the gateway sets them, answering to this test's results queue.
    pub fn properties(&self, message_id: &str, traceparent: AMQPValue) -> BasicProperties {
        let mut headers = FieldTable::default();
        headers.insert("traceparent".into(), traceparent);
        BasicProperties::default()
            .with_message_id(message_id.into())
            .with_correlation_id(format!("corr-{message_id}").into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_reply_to(self.results.as_str().into())
            .with_headers(headers)
    }

    /// Publishes a notification of `notification_type` (confirmed); returns its id.
    pub async fn notify(&self, notification_type: &str, payload: Value) -> Uuid {
        let (id, body) = self.notification(notification_type, payload);
        let properties =
            self.properties(&id.to_string(), AMQPValue::LongString(traceparent().into()));
        self.publish(&body, properties).await;
        id
    }

    pub async fn publish(&self, body: &[u8], properties: BasicProperties) {
        let confirm = timeout(
            DEADLINE,
            self.channel.basic_publish(
                "".into(),
                self.queue().as_str().into(),
                BasicPublishOptions::default(),
                body,
                properties,
            ),
        )
        .await
        .expect("publish in time")
        .expect("publish");
        let confirmation = timeout(DEADLINE, confirm)
            .await
            .expect("confirm in time")
            .expect("confirm");
        assert!(confirmation.is_ack(), "the broker took the notification");
    }

    /// The next message on `queue`, acknowledged; `None` if none arrives within `wait`.
    pub async fn next(&self, queue: &str, wait: Duration) -> Option<Delivery> {
        let started = Instant::now();
        loop {
            let got = timeout(
                DEADLINE,
                self.channel
                    .basic_get(queue.into(), BasicGetOptions::default()),
            )
            .await
            .expect("basic.get in time")
            .expect("basic.get");
            if let Some(message) = got {
                message
                    .delivery
                    .acker
                    .ack(BasicAckOptions::default())
                    .await
                    .expect("ack");
                return Some(message.delivery);
            }
            if started.elapsed() >= wait {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The next result for this test, with its message.
    pub async fn result(&self) -> (AgentResult, Delivery) {
        let delivery = self
            .next(&self.results.clone(), DEADLINE)
            .await
            .expect("a result within the deadline");
        let result = serde_json::from_slice(&delivery.data).expect("a result document");
        (result, delivery)
    }

    /// Ready messages and consumers of `queue` (passive declare).
    pub async fn depth(&self, queue: &str) -> (u32, u32) {
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let queue = timeout(
            DEADLINE,
            self.channel
                .queue_declare(queue.into(), passive, FieldTable::default()),
        )
        .await
        .expect("declare in time")
        .expect("the queue exists");
        (queue.message_count(), queue.consumer_count())
    }

    /// Deletes every queue of this test.
    pub async fn cleanup(self) {
        for queue in [self.queue(), self.dead_letters(), self.results.clone()] {
            let _ = timeout(
                DEADLINE,
                self.channel
                    .queue_delete(queue.as_str().into(), QueueDeleteOptions::default()),
            )
            .await;
        }
    }
}
