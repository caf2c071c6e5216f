//! Where spans go: the OTLP exporter (gRPC or HTTP/protobuf, over TLS for `https://`
//! endpoints, with an extra CA when configured), behind the batch processor and redaction.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_otlp::{
    Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig,
    tonic_types::transport::{Certificate, ClientTlsConfig},
};
use opentelemetry_sdk::{
    Resource,
    trace::{Sampler, SdkTracerProvider},
};

use super::{TelemetryError, redact};
use crate::config::{OtlpProtocol, TelemetrySettings};

/// Deadline for one OTLP export; a slow collector must not hold spans in memory for long.
pub(super) const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn tracer_provider(
    settings: &TelemetrySettings,
) -> Result<SdkTracerProvider, TelemetryError> {
    // rustls is built with ring alone; the HTTPS clients (exporter, Postgres) take it from
    // here. Already installed is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
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
    let ca = extra_ca(settings)?;
    let tls = endpoint.starts_with("https://");
    let exporter = match settings.otlp_protocol {
        OtlpProtocol::Grpc => {
            let mut exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_timeout(EXPORT_TIMEOUT);
            if tls {
                exporter = exporter.with_tls_config(grpc_tls(ca.as_deref()));
            }
            exporter.build()
        }
        // The protocol is set explicitly: left unset, the exporter would read
        // `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` itself and could contradict our settings.
        OtlpProtocol::HttpProtobuf => {
            let mut exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(endpoint)
                .with_timeout(EXPORT_TIMEOUT);
            if tls {
                exporter = exporter.with_http_client(https_client(ca)?);
            }
            exporter.build()
        }
    }
    .map_err(|source| TelemetryError::Exporter { key, source })?;
    // The batch processor exports from its own thread; a span end never waits on the network,
    // and redaction runs there too.
    Ok(builder
        .with_batch_exporter(redact::Redacting(exporter))
        .build())
}

/// The PEM of `telemetry.otlp_certificate`, if set: a CA trusted for the collector in addition
/// to the system's.
fn extra_ca(settings: &TelemetrySettings) -> Result<Option<Vec<u8>>, TelemetryError> {
    let path = settings.otlp_certificate.trim();
    if path.is_empty() {
        return Ok(None);
    }
    std::fs::read(path)
        .map(Some)
        .map_err(|error| TelemetryError::Certificate(format!("{path}: {error}")))
}

fn grpc_tls(ca: Option<&[u8]>) -> ClientTlsConfig {
    let tls = ClientTlsConfig::new().with_native_roots();
    match ca {
        Some(pem) => tls.ca_certificate(Certificate::from_pem(pem)),
        None => tls,
    }
}

/// The HTTP exporter's client for `https://`, with the extra CA. A blocking client owns a
/// runtime of its own, which must not be built (nor dropped) on an async thread: hence the
/// thread.
fn https_client(ca: Option<Vec<u8>>) -> Result<reqwest::blocking::Client, TelemetryError> {
    std::thread::spawn(move || {
        let mut builder = reqwest::blocking::Client::builder().timeout(EXPORT_TIMEOUT);
        if let Some(pem) = ca {
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|error| TelemetryError::Certificate(error.to_string()))?;
            builder = builder.tls_certs_merge(certificates);
        }
        builder
            .build()
            .map_err(|error| TelemetryError::Certificate(error.to_string()))
    })
    .join()
    .map_err(|_| TelemetryError::Certificate("building the HTTPS client panicked".into()))?
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
    use crate::config::LogFormat;

    fn telemetry(base: &str, traces: &str, protocol: OtlpProtocol) -> TelemetrySettings {
        TelemetrySettings {
            service_name: "vos-gateway".into(),
            environment: "test".into(),
            log_format: LogFormat::Json,
            log_level: "info".into(),
            otlp_endpoint: base.into(),
            otlp_traces_endpoint: traces.into(),
            otlp_protocol: protocol,
            otlp_certificate: String::new(),
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
