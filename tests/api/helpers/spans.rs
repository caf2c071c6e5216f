//! The spans an OTLP receiver got, and their attributes rendered as text for assertions.

use std::collections::HashMap;

use opentelemetry_proto::tonic::{
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::Span,
};

/// One exported span and the resource it was sent with.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub span: Span,
    pub resource: Vec<KeyValue>,
}

impl ReceivedSpan {
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    pub fn parent_span_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }

    /// The span's links, as `(trace_id, span_id, tracestate)`.
    pub fn links(&self) -> Vec<(String, String, String)> {
        self.span
            .links
            .iter()
            .map(|link| {
                (
                    hex(&link.trace_id),
                    hex(&link.span_id),
                    link.trace_state.clone(),
                )
            })
            .collect()
    }

    /// A resource attribute, rendered as text.
    pub fn resource_attribute(&self, key: &str) -> Option<String> {
        lookup(&self.resource, key)
    }
}

/// The one span called `name` among `spans`.
pub fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    let matching: Vec<_> = spans.iter().filter(|span| span.span.name == name).collect();
    assert_eq!(
        matching.len(),
        1,
        "exactly one span named {name:?} among {:?}",
        spans.iter().map(|span| &span.span.name).collect::<Vec<_>>()
    );
    matching[0]
}

fn lookup(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.as_ref())
        .and_then(render)
}

fn render(value: &AnyValue) -> Option<String> {
    Some(match value.value.as_ref()? {
        Value::StringValue(text) => text.clone(),
        Value::BoolValue(flag) => flag.to_string(),
        Value::IntValue(number) => number.to_string(),
        Value::DoubleValue(number) => number.to_string(),
        other => format!("{other:?}"),
    })
}

/// Attributes as a map, for readable assertion messages.
pub fn attributes(attributes: &[KeyValue]) -> HashMap<String, String> {
    attributes
        .iter()
        .filter_map(|attribute| Some((attribute.key.clone(), render(attribute.value.as_ref()?)?)))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
