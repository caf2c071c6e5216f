//! Every metric family, declared once: its handle, how it is built, its exported name and
//! help. Names follow the OpenTelemetry semantic conventions mapped to Prometheus
//! (`docs/metrics.md`); prometheus-client appends `_total` to counters.

use prometheus_client::{
    metrics::{
        counter::Counter,
        exemplar::HistogramWithExemplars,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use super::labels::{
    AgentLabel, DeliveryLabels, DependencyLabels, FailureLabels, HttpLabels, HttpRouteLabels,
    JourneyLabels, LimitLabels, ModelLabels, OutcomeLabels, PoolStateLabels, QueueLabels,
    ReasonLabels, RuleLabels, StageLabels, StatementLabels, StatusLabels, TokenLabels, ToolLabels,
    TraceExemplar,
};

/// OTel's advised buckets for `http.server.request.duration`.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

type ExemplarHistograms<L> =
    Family<L, HistogramWithExemplars<TraceExemplar>, fn() -> HistogramWithExemplars<TraceExemplar>>;
type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;
type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

fn duration_histogram() -> HistogramWithExemplars<TraceExemplar> {
    HistogramWithExemplars::new(DURATION_BUCKETS.into_iter())
}

/// 5 ms … ~82 s, doubling: a journey through an agent (and its tools and model calls) takes
/// far longer than a request.
fn journey_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

fn size_histogram() -> Histogram {
    // 64 B … 1 MiB: notification bodies are small, the body limit is 64 KiB by default.
    Histogram::new(exponential_buckets(64.0, 4.0, 8))
}

/// 1 … 512 rows, doubling: the writer's batches are at most `writer.max_batch` (256), the
/// recorder's at most 512.
fn rows_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 10))
}

/// Declares the [`Families`] struct and registers each field under its name.
macro_rules! families {
    ($( $field:ident: $ty:ty = $init:expr => $name:literal, $help:literal; )*) => {
        /// The metric handles; reached through `Metrics`.
        pub struct Families {
            $( pub $field: $ty, )*
        }

        impl Families {
            pub(super) fn new() -> Self {
                Self { $( $field: $init, )* }
            }

            pub(super) fn register(&self, registry: &mut Registry) {
                $( registry.register($name, $help, self.$field.clone()); )*
            }
        }
    };
}

families! {
    request_duration: ExemplarHistograms<HttpLabels> = Family::new_with_constructor(duration_histogram)
        => "http_server_request_duration_seconds", "Duration of HTTP server requests";
    active_requests: Family<HttpRouteLabels, Gauge> = Family::default()
        => "http_server_active_requests", "Number of active HTTP server requests";
    request_body_size: Histograms<HttpLabels> = Family::new_with_constructor(size_histogram)
        => "http_server_request_body_size_bytes", "Size of HTTP server request bodies";
    response_body_size: Histograms<HttpLabels> = Family::new_with_constructor(size_histogram)
        => "http_server_response_body_size_bytes", "Size of HTTP server response bodies";
    accepted: Family<DeliveryLabels, Counter> = Family::default()
        => "vos_notifications_accepted", "Notifications committed and answered 202";
    published: Family<DeliveryLabels, Counter> = Family::default()
        => "vos_notifications_published", "Notifications confirmed by the broker";
    returned: Family<DeliveryLabels, Counter> = Family::default()
        => "vos_notifications_returned", "Publishes returned by the broker as unroutable";
    failed: Family<DeliveryLabels, Counter> = Family::default()
        => "vos_notifications_failed", "Notifications that reached the failed state";
    publish_failures: Family<FailureLabels, Counter> = Family::default()
        => "vos_publish_failures", "Publish attempts that did not succeed, by reason";
    confirm_duration: HistogramWithExemplars<TraceExemplar> = duration_histogram()
        => "vos_publish_confirm_duration_seconds", "Time from publish to broker confirm";
    outbox_batch_rows: Histograms<StatementLabels> = Family::new_with_constructor(rows_histogram)
        => "vos_outbox_batch_rows", "Rows per batched outbox statement (each one round trip and one commit)";
    outbox_backlog: Gauge = Gauge::default()
        => "vos_outbox_backlog", "Notifications still pending in the outbox";
    outbox_oldest_age: FloatGauge = Gauge::default()
        => "vos_outbox_oldest_pending_age_seconds", "Age of the oldest pending notification";
    relay_republished: Counter = Counter::default()
        => "vos_relay_republished", "Pending notifications published by the relay";
    queue_messages: Family<QueueLabels, Gauge> = Family::default()
        => "vos_queue_messages", "Ready messages in an agent queue";
    queue_consumers: Family<QueueLabels, Gauge> = Family::default()
        => "vos_queue_consumers", "Consumers of an agent queue";
    agent_up: Family<AgentLabel, Gauge> = Family::default()
        => "vos_agent_up", "1 when the agent's queue has a consumer";
    dependency_up: Family<DependencyLabels, Gauge> = Family::default()
        => "vos_dependency_up", "1 when the last probe of the dependency passed";
    amqp_connected: Gauge = Gauge::default()
        => "vos_amqp_connected", "1 while the publisher holds an AMQP connection";
    amqp_reconnects: Counter = Counter::default()
        => "vos_amqp_reconnects", "AMQP connections re-established after a loss";
    overload_rejections: Family<StageLabels, Counter> = Family::default()
        => "vos_overload_rejections", "Requests answered 503 because a bounded queue was full";
    db_pool_connections: Family<PoolStateLabels, Gauge> = Family::default()
        => "vos_db_pool_connections", "Postgres pool connections by state";
    http_open_connections: Gauge = Gauge::default()
        => "vos_http_open_connections", "Open client TCP connections";
    auth_failures: Family<ReasonLabels, Counter> = Family::default()
        => "vos_auth_failures", "Requests to protected routes refused as unauthenticated, by reason";
    rate_limited: Family<LimitLabels, Counter> = Family::default()
        => "vos_rate_limited", "Requests answered 429, by the limit that refused them";
    ratelimit_tracked_clients: Gauge = Gauge::default()
        => "vos_ratelimit_tracked_clients", "Client addresses the failed-authentication limiter tracks";
    results: Family<OutcomeLabels, Counter> = Family::default()
        => "vos_results", "Agents' results recorded, by outcome";
    results_dropped: Family<ReasonLabels, Counter> = Family::default()
        => "vos_results_dropped", "Results that changed nothing: duplicates, for no known notification, unreadable";
    end_to_end_duration: Histograms<JourneyLabels> = Family::new_with_constructor(journey_histogram)
        => "vos_notification_end_to_end_duration_seconds", "From acceptance to the agent's result recorded";
    processing_duration: Histograms<JourneyLabels> = Family::new_with_constructor(journey_histogram)
        => "vos_notification_processing_duration_seconds", "The agent's own processing time, as it reported it";
    tool_executions: Family<ToolLabels, Counter> = Family::default()
        => "vos_tool_executions", "Tool calls agents reported, by agent, tool and status";
    llm_calls: Family<ModelLabels, Counter> = Family::default()
        => "vos_llm_calls", "Language-model calls agents reported, by model";
    llm_tokens: Family<TokenLabels, Counter> = Family::default()
        => "vos_llm_tokens", "Language-model tokens agents reported, by model and direction";
    retention_deleted: Family<StatusLabels, Counter> = Family::default()
        => "vos_retention_deleted", "Notifications deleted by retention, by the state they were in";
    redactions: Family<RuleLabels, Counter> = Family::default()
        => "vos_redactions", "Values masked by the redaction policy before logging or export, by rule";
    uptime: FloatGauge = Gauge::default()
        => "vos_uptime_seconds", "Seconds since the process started";
}
