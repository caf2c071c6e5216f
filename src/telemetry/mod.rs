//! Traces, logs and the link between them.
//!
//! One `tracing` subscriber feeds two layers: OpenTelemetry (always on, because trace and
//! span ids are part of the API even when nothing is exported) and the log output. They
//! have separate filters, so `RUST_LOG=warn` quiets the logs without breaking trace context.

mod json_log;
mod spans;

use std::time::Duration;

use opentelemetry::{KeyValue, trace::TracerProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig as _};
use opentelemetry_sdk::{
    Resource,
    trace::{Sampler, SdkTracerProvider},
};
use tracing::Level;
use tracing_subscriber::{
    EnvFilter, Layer, filter::filter_fn, fmt::MakeWriter, layer::SubscriberExt, registry::Registry,
};

use crate::config::{LogFormat, OtlpProtocol, TelemetrySettings};
pub use json_log::JsonLogLayer;
pub use spans::{TraceIds, ids_of, producer_span, republish_span, request_span};

/// Deadline for one OTLP export; a slow collector must not hold spans in memory for long.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Keeps the tracer provider alive; `shutdown` flushes what is still buffered.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl TelemetryGuard {
    /// Flushes and stops span export. Call once, after the last request.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown_with_timeout(EXPORT_TIMEOUT) {
            eprintln!("vos-gateway: flushing traces failed: {error}");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid configuration: `telemetry.log_level`: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("invalid configuration: `telemetry.otlp_endpoint`: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled(#[from] tracing::subscriber::SetGlobalDefaultError),
}

/// Installs the global subscriber: JSON (or pretty) logs on `writer`, spans to OTLP if configured.
pub fn init<W>(settings: &TelemetrySettings, writer: W) -> Result<TelemetryGuard, TelemetryError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&settings.log_level)?;
    let provider = tracer_provider(settings)?;
    let tracer = provider.tracer("vos-gateway");
    // Only our own spans become OTel spans: library internals would flood traces. Events
    // become span events only from WARN up: the INFO lines (one "request completed" per
    // request) repeat what the span already holds, and would double what is exported.
    // No context activation on span entry: nothing here reads `Context::current()` (ids
    // come from `OpenTelemetrySpanExt::context`), and activation costs every poll.
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_filter(filter_fn(|meta| {
            meta.target().starts_with("vos_gateway")
                && if meta.is_span() {
                    *meta.level() <= Level::INFO
                } else {
                    *meta.level() <= Level::WARN
                }
        }));
    let logs = match settings.log_format {
        LogFormat::Json => JsonLogLayer::new(writer).with_filter(filter).boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
    };
    let subscriber = Registry::default().with(otel).with(logs);
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(TelemetryGuard { provider })
}

fn tracer_provider(settings: &TelemetrySettings) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("service.instance.id", uuid::Uuid::new_v4().to_string()),
            KeyValue::new("deployment.environment.name", settings.environment.clone()),
        ])
        .build();
    // Parent-based: a caller's sampling decision is kept; new traces are sampled by ratio.
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.sample_ratio)));
    let builder = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_resource(resource);
    let endpoint = settings.otlp_endpoint.trim();
    if endpoint.is_empty() {
        return Ok(builder.build());
    }
    let exporter = match settings.otlp_protocol {
        OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .with_timeout(EXPORT_TIMEOUT)
            .build()?,
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(http_traces_endpoint(endpoint))
            .with_timeout(EXPORT_TIMEOUT)
            .with_headers(Default::default())
            .build()?,
    };
    // The batch processor exports from its own thread; a span end never waits on the network.
    Ok(builder.with_batch_exporter(exporter).build())
}

/// `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL; the HTTP exporter wants the traces path.
fn http_traces_endpoint(base: &str) -> String {
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{}/v1/traces", base.trim_end_matches('/'))
    }
}
