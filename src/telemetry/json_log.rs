//! JSON log lines with `trace_id`, `span_id` and `correlation_id` at the top level, as the
//! OpenTelemetry "trace context in non-OTLP log formats" spec asks, so that logs join traces.

use std::{io::Write, sync::OnceLock};

use opentelemetry::trace::TraceContextExt;
use tracing::{
    Dispatch, Event, Subscriber,
    dispatcher::WeakDispatch,
    field::{Field, Visit},
    span,
};
use tracing_subscriber::{Layer, fmt::MakeWriter, layer::Context, registry::LookupSpan};

use crate::privacy;

/// The correlation id recorded on a span, kept for the log lines inside it.
struct CorrelationId(String);

pub struct JsonLogLayer<W> {
    writer: W,
    dispatch: OnceLock<WeakDispatch>,
}

impl<W> JsonLogLayer<W> {
    pub fn new(writer: W) -> Self {
        Self {
            writer,
            dispatch: OnceLock::new(),
        }
    }
}

impl<S, W> Layer<S> for JsonLogLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut visitor = CorrelationVisitor(None);
        attrs.record(&mut visitor);
        if let (Some(value), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(CorrelationId(value));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // The line is written straight into one buffer (no intermediate `Map` of `Value`s):
        // this runs for every request.
        let meta = event.metadata();
        let mut line = Line(Vec::with_capacity(512));
        line.0.push(b'{');
        let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        line.str("timestamp", &timestamp);
        line.str("level", meta.level().as_str());
        line.str("target", meta.target());
        let mut fields = JsonVisitor {
            line: &mut line,
            has_correlation_id: false,
        };
        event.record(&mut fields);
        let has_correlation_id = fields.has_correlation_id;

        if let Some(scope) = ctx.event_scope(event) {
            let mut leaf = None;
            for span in scope {
                if leaf.is_none() {
                    line.str("span", span.name());
                    leaf = Some(span.id());
                }
                if let Some(id) = span.extensions().get::<CorrelationId>() {
                    if !has_correlation_id {
                        line.str("correlation_id", &id.0);
                    }
                    break;
                }
            }
            let dispatch = self.dispatch.get().and_then(WeakDispatch::upgrade);
            if let (Some(leaf), Some(dispatch)) = (leaf, dispatch)
                && let Some(cx) = tracing_opentelemetry::get_otel_context(&leaf, &dispatch)
            {
                let span = cx.span();
                let sc = span.span_context();
                if sc.is_valid() {
                    line.key("trace_id");
                    let _ = write!(line.0, "\"{}\"", sc.trace_id());
                    line.key("span_id");
                    let _ = write!(line.0, "\"{}\"", sc.span_id());
                    line.key("trace_flags");
                    let _ = write!(line.0, "\"{:02x}\"", sc.trace_flags().to_u8());
                }
            }
        }

        line.0.extend_from_slice(b"}\n");
        // One write per line, so concurrent lines never interleave.
        let _ = self.writer.make_writer().write_all(&line.0);
    }
}

/// Keys the layer writes itself; an event field of the same name is written as
/// `field.<name>` so that every line stays a JSON object with unique keys.
const RESERVED: [&str; 7] = [
    "timestamp",
    "level",
    "target",
    "span",
    "trace_id",
    "span_id",
    "trace_flags",
];

/// A JSON object being written: `{` is already there, members are added with a leading comma.
struct Line(Vec<u8>);

impl Line {
    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(b',');
        }
        self.string(key);
        self.0.push(b':');
    }

    fn field_key(&mut self, field: &Field) {
        let name = field.name();
        if RESERVED.contains(&name) {
            self.key(&format!("field.{name}"));
        } else {
            self.key(name);
        }
    }

    fn string(&mut self, value: &str) {
        let _ = serde_json::to_writer(&mut self.0, value);
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        self.string(value);
    }

    fn value(&mut self, field: &Field, value: impl serde::Serialize) {
        self.field_key(field);
        let _ = serde_json::to_writer(&mut self.0, &value);
    }
}

struct CorrelationVisitor(Option<String>);

impl Visit for CorrelationVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "correlation_id" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "correlation_id" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

struct JsonVisitor<'a> {
    line: &'a mut Line,
    has_correlation_id: bool,
}

impl JsonVisitor<'_> {
    fn number(&mut self, field: &Field, value: impl serde::Serialize) {
        if privacy::policy().is_sensitive_key(field.name()) {
            self.line.value(field, "[REDACTED]");
        } else {
            self.line.value(field, value);
        }
    }

    fn seen(&mut self, field: &Field) {
        if field.name() == "correlation_id" {
            self.has_correlation_id = true;
        }
    }
}

/// Every value goes through the redaction policy: a sensitive field name masks the value,
/// whatever its type; text is checked against the value rules.
impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.seen(field);
        self.line
            .value(field, privacy::policy().field(field.name(), value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field, value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number(field, value);
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        // Non-finite numbers become null, as serde_json writes them.
        self.number(field, value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.number(field, value);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The whole chain: the outer message alone rarely says what went wrong.
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        self.line
            .value(field, privacy::policy().field(field.name(), &text));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.seen(field);
        let text = format!("{value:?}");
        self.line
            .value(field, privacy::policy().field(field.name(), &text));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn lines_are_json_objects_with_unique_keys_and_the_span_correlation_id() {
        let out = Captured::default();
        let subscriber = tracing_subscriber::registry().with(JsonLogLayer::new(out.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", correlation_id = "cid-1");
            span.in_scope(|| {
                tracing::info!(
                    text = "quote \" and \n newline",
                    n = 7u64,
                    ratio = f64::NAN,
                    level = "shadowed",
                    "done"
                );
            });
            tracing::warn!(correlation_id = "own", "outside");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect();
        assert_eq!(lines.len(), 2);
        let first = &lines[0];
        assert_eq!(first["message"], "done");
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["field.level"], "shadowed");
        assert_eq!(first["text"], "quote \" and \n newline");
        assert_eq!(first["n"], 7);
        assert!(first["ratio"].is_null());
        assert_eq!(first["span"], "request");
        assert_eq!(first["correlation_id"], "cid-1");
        assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["correlation_id"], "own");
        assert_eq!(lines[1]["level"], "WARN");
    }
}
