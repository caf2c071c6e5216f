//! Process-wide telemetry for an agent binary: JSON log lines on stdout, and OTLP export of
//! spans (batch processor) and metrics (periodic reader) when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or a signal-specific endpoint) is set. Call [`init`] before building the agent, so its
//! metric instruments come from the exporting meter provider.

use std::time::Duration;

use opentelemetry::{KeyValue, global, trace::TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{Resource, metrics::SdkMeterProvider, trace::SdkTracerProvider};
use tracing::Level;
use tracing_subscriber::{EnvFilter, Layer, filter::filter_fn, layer::SubscriberExt};

/// Deadline for one OTLP export: a slow collector must not hold data in memory for long.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often metrics are pushed to the collector.
const METRICS_INTERVAL: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid RUST_LOG: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("invalid OTLP exporter configuration: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled(#[from] tracing::subscriber::SetGlobalDefaultError),
}

/// Flushes spans and metrics on [`TelemetryGuard::shutdown`].
pub struct TelemetryGuard {
    tracer: SdkTracerProvider,
    meter: Option<SdkMeterProvider>,
}

impl TelemetryGuard {
    /// Exports what is still buffered; call once, after the agent stopped.
    pub fn shutdown(self) {
        if let Err(error) = self.tracer.shutdown_with_timeout(EXPORT_TIMEOUT) {
            eprintln!("vos-agent: flushing traces failed: {error}");
        }
        if let Some(meter) = self.meter
            && let Err(error) = meter.shutdown_with_timeout(EXPORT_TIMEOUT)
        {
            eprintln!("vos-agent: flushing metrics failed: {error}");
        }
    }
}

/// Installs the global subscriber and, when configured, the OTLP exporters. The service
/// name is `OTEL_SERVICE_NAME`, else `vos-agent-{agent_id}`. Call outside an async context:
/// the HTTP exporter's blocking client must not be built on a runtime thread.
pub fn init(agent_id: &str) -> Result<TelemetryGuard, TelemetryError> {
    // In this workspace reqwest (the OTLP/HTTP client) is built without a default rustls
    // provider, as the gateway wants; install ring, which lapin uses too. A second call (a
    // provider already installed) changes nothing.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let service = env("OTEL_SERVICE_NAME").unwrap_or_else(|| format!("vos-agent-{agent_id}"));
    let resource = Resource::builder()
        .with_service_name(service)
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("service.instance.id", uuid::Uuid::new_v4().to_string()),
        ])
        .build();
    let grpc = env("OTEL_EXPORTER_OTLP_PROTOCOL").is_some_and(|p| p == "grpc");
    let mut tracer = SdkTracerProvider::builder().with_resource(resource.clone());
    if let Some(endpoint) = endpoint("TRACES", "/v1/traces", grpc) {
        let exporter = if grpc {
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_timeout(EXPORT_TIMEOUT)
                .build()?
        } else {
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(endpoint)
                .with_timeout(EXPORT_TIMEOUT)
                .build()?
        };
        // The batch processor exports from its own thread: a span end never waits on I/O.
        tracer = tracer.with_batch_exporter(exporter);
    }
    let tracer = tracer.build();
    let meter = match endpoint("METRICS", "/v1/metrics", grpc) {
        Some(endpoint) => {
            let exporter = if grpc {
                opentelemetry_otlp::MetricExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint)
                    .with_timeout(EXPORT_TIMEOUT)
                    .build()?
            } else {
                opentelemetry_otlp::MetricExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary)
                    .with_endpoint(endpoint)
                    .with_timeout(EXPORT_TIMEOUT)
                    .build()?
            };
            let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(exporter)
                .with_interval(METRICS_INTERVAL)
                .build();
            let provider = SdkMeterProvider::builder()
                .with_reader(reader)
                .with_resource(resource)
                .build();
            global::set_meter_provider(provider.clone());
            Some(provider)
        }
        None => None,
    };
    let filter = EnvFilter::try_new(env("RUST_LOG").unwrap_or_else(|| "info".into()))?;
    // Only this crate's spans become OTel spans (library internals would flood traces), and
    // events only from WARN up: INFO lines repeat what the spans hold.
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer.tracer("vos-agent"))
        .with_location(false)
        .with_threads(false)
        .with_filter(filter_fn(|meta| {
            meta.target().starts_with("vos_agent")
                && if meta.is_span() {
                    *meta.level() <= Level::INFO
                } else {
                    *meta.level() <= Level::WARN
                }
        }));
    // JSON lines: the event's own fields and the current span's (ids and types, never
    // payloads or results, which are not recorded on spans).
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_filter(filter);
    let subscriber = tracing_subscriber::registry().with(otel).with(logs);
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(TelemetryGuard { tracer, meter })
}

fn env(key: &str) -> Option<String> {
    std::env::var(key)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// The signal's endpoint (used as it is) or the base endpoint (with the signal's path over
/// HTTP), per the OTLP exporter specification; `None` when export is off.
fn endpoint(signal: &str, path: &str, grpc: bool) -> Option<String> {
    if let Some(own) = env(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")) {
        return Some(own);
    }
    let base = env("OTEL_EXPORTER_OTLP_ENDPOINT")?;
    if grpc || base.ends_with(path) {
        Some(base)
    } else {
        Some(format!("{}{path}", base.trim_end_matches('/')))
    }
}
