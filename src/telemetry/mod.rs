//! Traces, logs and the link between them.
//!
//! One `tracing` subscriber feeds two layers: OpenTelemetry (always on, because trace and
//! span ids are part of the API even when nothing is exported) and the log output. They
//! have separate filters, so `RUST_LOG=warn` quiets the logs without breaking trace context.

mod json_log;
mod log_writer;
mod redact;
mod spans;

use std::{io::IsTerminal, time::Duration};

use opentelemetry::{KeyValue, trace::TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
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
use log_writer::LogFlushGuard;
pub use spans::{Remote, UNMATCHED, producer_span, republish_span, request_span, span_context};

/// Deadline for one OTLP export; a slow collector must not hold spans in memory for long.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Keeps the tracer provider (and the log writer thread) alive; `shutdown` flushes both.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
    log_writer: Option<LogFlushGuard>,
}

impl TelemetryGuard {
    /// Flushes and stops span export, then writes the log lines still queued. Call once,
    /// after the last request.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown_with_timeout(EXPORT_TIMEOUT) {
            eprintln!("vos-gateway: flushing traces failed: {error}");
        }
        drop(self.log_writer);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid configuration: `telemetry.log_level`: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("invalid configuration: `{key}`: {source}")]
    Exporter {
        key: &'static str,
        source: opentelemetry_otlp::ExporterBuildError,
    },
    #[error("cannot start the log writer thread: {0}")]
    LogWriter(std::io::Error),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled(#[from] tracing::subscriber::SetGlobalDefaultError),
}

impl TelemetryError {
    /// Whether the settings are at fault (exit status 2) rather than the environment.
    pub fn is_configuration(&self) -> bool {
        matches!(self, Self::Filter(_) | Self::Exporter { .. })
    }
}

/// [`init`] with the logs on standard output, buffered and written in batches (see
/// [`log_writer`]).
pub fn init_stdout(settings: &TelemetrySettings) -> Result<TelemetryGuard, TelemetryError> {
    let (writer, log_writer) = log_writer::buffered_stdout().map_err(TelemetryError::LogWriter)?;
    let mut guard = init(settings, writer)?;
    guard.log_writer = Some(log_writer);
    Ok(guard)
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
            .with_writer(redact::RedactingWriter(writer))
            .with_ansi(colours())
            .with_filter(filter)
            .boxed(),
    };
    let subscriber = Registry::default().with(otel).with(logs);
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(TelemetryGuard {
        provider,
        log_writer: None,
    })
}

/// Colours in pretty logs only on a terminal, and never with `NO_COLOR` set: logs that are
/// piped or collected stay plain text.
fn colours() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
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
    let Some((key, endpoint)) = export_endpoint(settings) else {
        return Ok(builder.build());
    };
    let exporter = match settings.otlp_protocol {
        OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .with_timeout(EXPORT_TIMEOUT)
            .build(),
        // The protocol is set explicitly: left unset, the exporter would read
        // `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` itself and could contradict our settings.
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_timeout(EXPORT_TIMEOUT)
            .build(),
    }
    .map_err(|source| TelemetryError::Exporter { key, source })?;
    // The batch processor exports from its own thread; a span end never waits on the network,
    // and redaction runs there too.
    Ok(builder
        .with_batch_exporter(redact::Redacting(exporter))
        .build())
}

/// Where traces go, and the key that said so; `None` when export is off. As in the OTel spec,
/// the traces endpoint is used as it is and wins; the base endpoint gets `/v1/traces` over HTTP.
fn export_endpoint(settings: &TelemetrySettings) -> Option<(&'static str, String)> {
    let traces = settings.otlp_traces_endpoint.trim();
    let base = settings.otlp_endpoint.trim();
    if !traces.is_empty() {
        Some(("telemetry.otlp_traces_endpoint", traces.to_owned()))
    } else if base.is_empty() {
        None
    } else if settings.otlp_protocol == OtlpProtocol::HttpProtobuf {
        Some(("telemetry.otlp_endpoint", http_traces_endpoint(base)))
    } else {
        Some(("telemetry.otlp_endpoint", base.to_owned()))
    }
}

/// `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL; the HTTP exporter wants the traces path.
fn http_traces_endpoint(base: &str) -> String {
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{}/v1/traces", base.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn telemetry(base: &str, traces: &str, protocol: OtlpProtocol) -> TelemetrySettings {
        TelemetrySettings {
            service_name: "vos-gateway".into(),
            environment: "test".into(),
            log_format: LogFormat::Json,
            log_level: "info".into(),
            otlp_endpoint: base.into(),
            otlp_traces_endpoint: traces.into(),
            otlp_protocol: protocol,
            sample_ratio: 1.0,
        }
    }

    #[test]
    fn no_endpoint_means_no_export() {
        assert_eq!(
            export_endpoint(&telemetry(" ", "", OtlpProtocol::Grpc)),
            None
        );
    }

    #[test]
    fn the_base_endpoint_gets_the_traces_path_over_http_only() {
        let grpc = telemetry("http://collector:4317", "", OtlpProtocol::Grpc);
        let http = telemetry("http://collector:4318/", "", OtlpProtocol::HttpProtobuf);
        let prefixed = telemetry("http://proxy/otlp", "", OtlpProtocol::HttpProtobuf);

        assert_eq!(
            export_endpoint(&grpc),
            Some(("telemetry.otlp_endpoint", "http://collector:4317".into()))
        );
        assert_eq!(
            export_endpoint(&http),
            Some((
                "telemetry.otlp_endpoint",
                "http://collector:4318/v1/traces".into()
            ))
        );
        assert_eq!(
            export_endpoint(&prefixed),
            Some((
                "telemetry.otlp_endpoint",
                "http://proxy/otlp/v1/traces".into()
            ))
        );
    }

    #[test]
    fn the_traces_endpoint_is_used_as_it_is_and_wins() {
        let settings = telemetry(
            "http://collector:4318",
            "http://other:4318/custom",
            OtlpProtocol::HttpProtobuf,
        );

        assert_eq!(
            export_endpoint(&settings),
            Some((
                "telemetry.otlp_traces_endpoint",
                "http://other:4318/custom".into()
            ))
        );
    }
}
