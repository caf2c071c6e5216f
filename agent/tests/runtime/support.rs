//! Test support: a broker connection for publishing notifications and reading results, a
//! running agent that can be stopped, and the spans the agents export (in memory).

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties,
    message::Delivery,
    options::{
        BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
        QueueDeclareOptions, QueueDeleteOptions,
    },
    types::{AMQPValue, FieldTable},
};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{Value, json};
use tokio::{sync::oneshot, task::JoinHandle, time::timeout};
use tracing_subscriber::layer::SubscriberExt;
use uuid::Uuid;
use vos_agent::{Agent, AgentBuilder};
use vos_protocol::AgentResult;

/// Every wait in these tests ends by this deadline at the latest.
pub const DEADLINE: Duration = Duration::from_secs(20);
pub const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

pub fn amqp_url() -> String {
    std::env::var("AMQP_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| vos_agent::DEFAULT_AMQP_URL.to_owned())
}

pub fn traceparent() -> String {
    format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01")
}

/// The spans finished in this test binary (all tests: filter by trace or attributes).
pub fn spans() -> Vec<SpanData> {
    exporter().get_finished_spans().expect("in-memory spans")
}

fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("tests"));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        exporter
    })
}

/// An agent id (and so queue names) of this test alone.
pub fn unique(name: &str) -> String {
    format!("test-{name}-{}", Uuid::new_v4().simple())
}

/// A test's own view of the broker: it plays the gateway (publishes notifications) and reads
/// results from a results queue of its own.
pub struct Broker {
    _connection: Connection,
    channel: Channel,
    pub agent_id: String,
    pub results: String,
}

impl Broker {
    /// Connects (retrying while RabbitMQ is briefly away) and declares the agent's queue and a
    /// results queue for this test.
    pub async fn new(agent_id: &str) -> Self {
        exporter();
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
        broker.declare(&vos_protocol::agent_queue(agent_id)).await;
        broker.declare(&broker.results.clone()).await;
        broker
    }

    pub fn queue(&self) -> String {
        vos_protocol::agent_queue(&self.agent_id)
    }

    pub fn dead_letters(&self) -> String {
        vos_protocol::dead_letter_queue(&self.agent_id)
    }

    async fn declare(&self, queue: &str) {
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

/// A builder for a test agent: fast retries, a short drain.
pub fn agent(agent_id: &str) -> AgentBuilder {
    Agent::builder(agent_id)
        .amqp_url(amqp_url())
        .retry_backoff(Duration::from_millis(10))
        .network_timeout(Duration::from_secs(5))
        .drain_timeout(Duration::from_secs(10))
}

/// An agent running in a task until [`Running::stop`].
pub struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), vos_agent::AgentError>>,
}

impl Running {
    pub fn start(agent: Agent) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(agent.run(async move {
            let _ = stopped.await;
        }));
        Self { stop, task }
    }

    /// Asks for shutdown and waits until the agent has drained and closed.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        timeout(DEADLINE, self.task)
            .await
            .expect("the agent stops within the deadline")
            .expect("the agent task")
            .expect("the agent ran");
    }
}

/// A header's text, whatever string type it was sent as.
pub fn header(delivery: &Delivery, name: &str) -> Option<String> {
    let headers = delivery.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(text) => Some(String::from_utf8_lossy(text.as_bytes()).into_owned()),
        AMQPValue::ShortString(text) => Some(text.as_str().to_owned()),
        AMQPValue::LongLongInt(n) => Some(n.to_string()),
        AMQPValue::LongInt(n) => Some(n.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// Waits until `check` holds for the finished spans, or the deadline.
pub async fn span_where(check: impl Fn(&SpanData) -> bool) -> SpanData {
    let started = Instant::now();
    loop {
        if let Some(span) = spans().into_iter().find(&check) {
            return span;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no such span within the deadline"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The value of a span attribute, as a string.
pub fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}
