//! Prometheus metrics: one registry, handles for every stage, and the `/metrics` encoding.
//!
//! Names follow the OpenTelemetry semantic conventions mapped to Prometheus
//! (`docs/metrics.md` lists them all). Every label set is bounded.

mod labels;
mod process;

use std::{sync::Arc, time::Instant};

use prometheus_client::{
    encoding::{prometheus_text, text},
    metrics::{
        counter::Counter,
        exemplar::HistogramWithExemplars,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

pub use labels::{
    AgentLabel, DeliveryLabels, DependencyLabels, FailureLabels, HttpLabels, HttpRouteLabels,
    LabelCap, PoolStateLabels, QueueLabels, StageLabels, TraceExemplar, TraceIdLabel,
};

/// More than the router will ever have.
const MAX_ROUTES: usize = 64;

/// OTel's advised buckets for `http.server.request.duration`.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

type ExemplarHistograms<L> =
    Family<L, HistogramWithExemplars<TraceExemplar>, fn() -> HistogramWithExemplars<TraceExemplar>>;
type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric the gateway exports. Cheap to clone (one `Arc`): it is extracted as
/// `State<Metrics>` on every request, and cloning each handle would cost dozens of atomic
/// reference-count updates per request.
#[derive(Clone)]
pub struct Metrics(Arc<MetricsInner>);

impl std::ops::Deref for Metrics {
    type Target = MetricsInner;

    fn deref(&self) -> &MetricsInner {
        &self.0
    }
}

/// The handles of [`Metrics`]; reached through its `Deref`.
pub struct MetricsInner {
    registry: Registry,
    started: Instant,
    /// Caps the distinct agent ids and notification types used as label values.
    pub agents: LabelCap,
    pub types: LabelCap,
    /// Interns route templates (a fixed set; the cap only guards against a mistake).
    pub routes: LabelCap,
    pub request_duration: ExemplarHistograms<HttpLabels>,
    pub active_requests: Family<HttpRouteLabels, Gauge>,
    pub request_body_size: Histograms<HttpLabels>,
    pub response_body_size: Histograms<HttpLabels>,
    pub accepted: Family<DeliveryLabels, Counter>,
    pub published: Family<DeliveryLabels, Counter>,
    pub returned: Family<DeliveryLabels, Counter>,
    pub failed: Family<DeliveryLabels, Counter>,
    pub publish_failures: Family<FailureLabels, Counter>,
    pub confirm_duration: HistogramWithExemplars<TraceExemplar>,
    pub outbox_backlog: Gauge,
    pub outbox_oldest_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub relay_republished: Counter,
    pub queue_messages: Family<QueueLabels, Gauge>,
    pub queue_consumers: Family<QueueLabels, Gauge>,
    pub agent_up: Family<AgentLabel, Gauge>,
    pub dependency_up: Family<DependencyLabels, Gauge>,
    pub amqp_connected: Gauge,
    pub amqp_reconnects: Counter,
    pub overload_rejections: Family<StageLabels, Counter>,
    pub db_pool_connections: Family<PoolStateLabels, Gauge>,
    pub http_open_connections: Gauge,
    uptime: Gauge<f64, std::sync::atomic::AtomicU64>,
    process: process::ProcessMetrics,
}

fn duration_histogram() -> HistogramWithExemplars<TraceExemplar> {
    HistogramWithExemplars::new(DURATION_BUCKETS.into_iter())
}

fn size_histogram() -> Histogram {
    // 64 B … 1 MiB: notification bodies are small, the body limit is 64 KiB by default.
    Histogram::new(exponential_buckets(64.0, 4.0, 8))
}

impl Metrics {
    pub fn new(max_agent_labels: usize) -> Self {
        let mut registry = Registry::default();
        let m = MetricsInner {
            registry: Registry::default(),
            started: Instant::now(),
            agents: LabelCap::new(max_agent_labels),
            types: LabelCap::new(max_agent_labels),
            routes: LabelCap::new(MAX_ROUTES),
            request_duration: Family::new_with_constructor(duration_histogram),
            active_requests: Family::default(),
            request_body_size: Family::new_with_constructor(size_histogram),
            response_body_size: Family::new_with_constructor(size_histogram),
            accepted: Family::default(),
            published: Family::default(),
            returned: Family::default(),
            failed: Family::default(),
            publish_failures: Family::default(),
            confirm_duration: duration_histogram(),
            outbox_backlog: Gauge::default(),
            outbox_oldest_age: Gauge::default(),
            relay_republished: Counter::default(),
            queue_messages: Family::default(),
            queue_consumers: Family::default(),
            agent_up: Family::default(),
            dependency_up: Family::default(),
            amqp_connected: Gauge::default(),
            amqp_reconnects: Counter::default(),
            overload_rejections: Family::default(),
            db_pool_connections: Family::default(),
            http_open_connections: Gauge::default(),
            uptime: Gauge::default(),
            process: process::ProcessMetrics::default(),
        };
        let r = &mut registry;
        r.register(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests",
            m.request_duration.clone(),
        );
        r.register(
            "http_server_active_requests",
            "Number of active HTTP server requests",
            m.active_requests.clone(),
        );
        r.register(
            "http_server_request_body_size_bytes",
            "Size of HTTP server request bodies",
            m.request_body_size.clone(),
        );
        r.register(
            "http_server_response_body_size_bytes",
            "Size of HTTP server response bodies",
            m.response_body_size.clone(),
        );
        r.register(
            "vos_notifications_accepted",
            "Notifications committed and answered 202",
            m.accepted.clone(),
        );
        r.register(
            "vos_notifications_published",
            "Notifications confirmed by the broker",
            m.published.clone(),
        );
        r.register(
            "vos_notifications_returned",
            "Publishes returned by the broker as unroutable",
            m.returned.clone(),
        );
        r.register(
            "vos_notifications_failed",
            "Notifications that reached the failed state",
            m.failed.clone(),
        );
        r.register(
            "vos_publish_failures",
            "Publish attempts that did not succeed, by reason",
            m.publish_failures.clone(),
        );
        r.register(
            "vos_publish_confirm_duration_seconds",
            "Time from publish to broker confirm",
            m.confirm_duration.clone(),
        );
        r.register(
            "vos_outbox_backlog",
            "Notifications still pending in the outbox",
            m.outbox_backlog.clone(),
        );
        r.register(
            "vos_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending notification",
            m.outbox_oldest_age.clone(),
        );
        r.register(
            "vos_relay_republished",
            "Pending notifications published by the relay",
            m.relay_republished.clone(),
        );
        r.register(
            "vos_queue_messages",
            "Ready messages in an agent queue",
            m.queue_messages.clone(),
        );
        r.register(
            "vos_queue_consumers",
            "Consumers of an agent queue",
            m.queue_consumers.clone(),
        );
        r.register(
            "vos_agent_up",
            "1 when the agent's queue has a consumer",
            m.agent_up.clone(),
        );
        r.register(
            "vos_dependency_up",
            "1 when the last probe of the dependency passed",
            m.dependency_up.clone(),
        );
        r.register(
            "vos_amqp_connected",
            "1 while the publisher holds an AMQP connection",
            m.amqp_connected.clone(),
        );
        r.register(
            "vos_amqp_reconnects",
            "AMQP connections re-established after a loss",
            m.amqp_reconnects.clone(),
        );
        r.register(
            "vos_overload_rejections",
            "Requests answered 503 because a bounded queue was full",
            m.overload_rejections.clone(),
        );
        r.register(
            "vos_db_pool_connections",
            "Postgres pool connections by state",
            m.db_pool_connections.clone(),
        );
        r.register(
            "vos_http_open_connections",
            "Open client TCP connections",
            m.http_open_connections.clone(),
        );
        r.register(
            "vos_uptime_seconds",
            "Seconds since the process started",
            m.uptime.clone(),
        );
        let build = prometheus_client::metrics::info::Info::new(vec![
            ("version", env!("CARGO_PKG_VERSION")),
            ("commit", env!("VOS_GIT_COMMIT")),
        ]);
        r.register("vos_build", "Build of the running gateway", build);
        m.process.register(r);
        Self(Arc::new(MetricsInner { registry, ..m }))
    }

    /// The exposition, in OpenMetrics (with exemplars) or the classic text format.
    pub fn render(&self, openmetrics: bool) -> String {
        self.uptime.set(self.started.elapsed().as_secs_f64());
        self.process.refresh();
        let mut out = String::with_capacity(16 * 1024);
        let encoded = if openmetrics {
            text::encode(&mut out, &self.registry)
        } else {
            prometheus_text::encode(&mut out, &self.registry)
        };
        encoded.expect("writing to a String cannot fail");
        out
    }

    /// Label values for a notification, with the agent id capped.
    pub fn delivery_labels(&self, agent_id: &str, notification_type: &str) -> DeliveryLabels {
        DeliveryLabels {
            agent_id: self.agents.label(agent_id),
            notification_type: self.types.label(notification_type),
        }
    }
}

/// The content types `/metrics` can answer with.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const PROMETHEUS_CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;
