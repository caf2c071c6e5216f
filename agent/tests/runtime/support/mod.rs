//! Test support: a broker connection for publishing notifications and reading results, a
//! running agent that can be stopped, and the spans the agents export (in memory).

mod broker;

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use lapin::{message::Delivery, types::AMQPValue};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tokio::{sync::oneshot, task::JoinHandle, time::timeout};
use tracing_subscriber::layer::SubscriberExt;
use uuid::Uuid;
use vos_agent::{Agent, AgentBuilder};

pub use broker::Broker;

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

pub(crate) fn exporter() -> &'static InMemorySpanExporter {
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
