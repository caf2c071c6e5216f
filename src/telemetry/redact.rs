//! The span side of the redaction policy: every span is redacted on its way to the exporter
//! (on the batch processor's thread, off the request path): its name, attribute values (whole,
//! for sensitive keys), events, links and status message.

use opentelemetry::{KeyValue, Value, trace::Status};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter},
};

use crate::privacy::{self, Policy};

/// An exporter that hands on redacted spans.
#[derive(Debug)]
pub struct Redacting<E>(pub E);

impl<E: SpanExporter> SpanExporter for Redacting<E> {
    fn export(
        &self,
        mut batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let policy = privacy::policy();
        for span in &mut batch {
            redact_span(policy, span);
        }
        self.0.export(batch)
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

fn redact_span(policy: &Policy, span: &mut SpanData) {
    if let std::borrow::Cow::Owned(name) = policy.text(&span.name) {
        span.name = name.into();
    }
    redact_attributes(policy, &mut span.attributes);
    for event in &mut span.events.events {
        if let std::borrow::Cow::Owned(name) = policy.text(&event.name) {
            event.name = name.into();
        }
        redact_attributes(policy, &mut event.attributes);
    }
    for link in &mut span.links.links {
        redact_attributes(policy, &mut link.attributes);
    }
    if let Status::Error { description } = &mut span.status
        && let std::borrow::Cow::Owned(masked) = policy.text(description)
    {
        *description = masked.into();
    }
}

fn redact_attributes(policy: &Policy, attributes: &mut [KeyValue]) {
    for attribute in attributes {
        if policy.is_sensitive_key(attribute.key.as_str()) {
            attribute.value = Value::from("[REDACTED]");
            continue;
        }
        if let Value::String(text) = &attribute.value
            && let std::borrow::Cow::Owned(masked) = policy.text(text.as_str())
        {
            attribute.value = Value::from(masked);
        }
    }
}

/// The pretty log format's writer: each formatted line (one write per event) goes through the
/// policy's `name=value` rules and value rules before it is written.
#[derive(Clone)]
pub struct RedactingWriter<M>(pub M);

impl<'a, M: tracing_subscriber::fmt::MakeWriter<'a>> tracing_subscriber::fmt::MakeWriter<'a>
    for RedactingWriter<M>
{
    type Writer = Redacted<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Redacted(self.0.make_writer())
    }
}

pub struct Redacted<W>(W);

impl<W: std::io::Write> std::io::Write for Redacted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let masked = privacy::policy().key_values(&text);
        self.0.write_all(masked.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
