//! Traces, logs and the link between them.
//!
//! One `tracing` subscriber feeds two layers: OpenTelemetry (always on, because trace and
//! span ids are part of the API even when nothing is exported) and the log output. They
//! have separate filters, so `RUST_LOG=warn` quiets the logs without breaking trace context.

mod export;
mod json_log;
mod log_writer;
mod redact;
mod spans;

use std::io::IsTerminal;

use export::{EXPORT_TIMEOUT, tracer_provider};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::{
    EnvFilter, Layer, filter::filter_fn, fmt::MakeWriter, layer::SubscriberExt, registry::Registry,
};

use crate::config::{LogFormat, TelemetrySettings};
pub use json_log::JsonLogLayer;
use log_writer::LogFlushGuard;
pub use spans::{Remote, UNMATCHED, producer_span, republish_span, request_span, span_context};

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
    #[error("invalid configuration: `telemetry.otlp_certificate`: {0}")]
    Certificate(String),
    #[error("cannot start the log writer thread: {0}")]
    LogWriter(std::io::Error),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled(#[from] tracing::subscriber::SetGlobalDefaultError),
}

impl TelemetryError {
    /// Whether the settings are at fault (exit status 2) rather than the environment.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::Filter(_) | Self::Exporter { .. } | Self::Certificate(_)
        )
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
