//! Reading results (what is unreadable is dead-lettered) and recording them: the row, the
//! CONSUMER span that continues the agent's trace, the metrics, and the waiters.

use lapin::{message::Delivery, types::AMQPValue};
use opentelemetry::{Context, trace::TraceContextExt};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;
use vos_protocol::{AgentResult, Outcome};

use super::Consumer;
use crate::{
    metrics::Metrics,
    store::{
        StoreError, bounded,
        results::{self, NewResult},
    },
    trace_context::TraceParent,
};

/// Most tool calls or LLM usages one result may list; more is not a result we can trust.
const MAX_ENTRIES: usize = 256;
/// Longest name of a tool or a model, and longest error text, in characters.
const MAX_NAME: usize = 128;
const MAX_ERROR: usize = 4096;

/// A result that parsed and passed the checks, with the delivery it came in.
pub(super) struct Readable<'a> {
    pub delivery: &'a Delivery,
    result: AgentResult,
}

/// Splits a batch into readable results and unreadable deliveries (counted as `malformed`).
pub(super) fn read<'a>(
    batch: &'a [Delivery],
    metrics: &Metrics,
) -> (Vec<Readable<'a>>, Vec<&'a Delivery>) {
    let mut readable = Vec::with_capacity(batch.len());
    let mut unreadable = Vec::new();
    for delivery in batch {
        match serde_json::from_slice::<AgentResult>(&delivery.data) {
            Ok(result) if is_sound(&result) => readable.push(Readable { delivery, result }),
            _ => {
                metrics.result_dropped("malformed");
                tracing::warn!(
                    bytes = delivery.data.len(),
                    "an unreadable result goes to the dead-letter queue"
                );
                unreadable.push(delivery);
            }
        }
    }
    (readable, unreadable)
}

/// The checks beyond the schema: bounded sizes, an object as result.
fn is_sound(result: &AgentResult) -> bool {
    result.tools.len() <= MAX_ENTRIES
        && result.llm.len() <= MAX_ENTRIES
        && result
            .tools
            .iter()
            .all(|t| t.name.chars().count() <= MAX_NAME)
        && result
            .llm
            .iter()
            .all(|l| l.model.chars().count() <= MAX_NAME)
        && result
            .error
            .as_ref()
            .is_none_or(|e| e.chars().count() <= MAX_ERROR)
        && result
            .result
            .as_ref()
            .is_none_or(|r| r.get().starts_with('{'))
}

/// Records the readable results in one statement, then metrics and waiters. Each result's
/// span starts before the write, so its duration includes the commit it waited for.
pub(super) async fn record(
    consumer: &Consumer,
    readable: Vec<Readable<'_>>,
) -> Result<(), StoreError> {
    let spans: Vec<tracing::Span> = readable.iter().map(consumer_span).collect();
    let span_of = |id: Uuid| {
        let index = readable.iter().position(|r| r.result.notification_id == id);
        index.map(|index| (&readable[index], &spans[index]))
    };
    let rows: Vec<NewResult> = readable.iter().map(|r| new_result(&r.result)).collect();
    let batch = match bounded(consumer.deadline, results::record(&consumer.pool, &rows)).await {
        Ok(batch) => batch,
        Err(error) => {
            for span in &spans {
                span.record("otel.status_code", "error");
            }
            return Err(error);
        }
    };
    let metrics = &consumer.metrics;
    // Drops are counted before any waiter is woken, so whoever a recorded result wakes sees
    // the whole batch in the metrics.
    for (reason, ids) in [
        ("duplicate", &batch.duplicates),
        ("unknown", &batch.unknown),
    ] {
        for id in ids {
            metrics.result_dropped(reason);
            if let Some((_, span)) = span_of(*id) {
                span.record("vos.result.dropped", reason);
                span.in_scope(|| {
                    tracing::info!(reason, "a result that changes nothing was dropped")
                });
            }
        }
    }
    for recorded in &batch.recorded {
        let Some((readable, span)) = span_of(recorded.notification_id) else {
            continue;
        };
        let result = &readable.result;
        let labels = metrics.journey_labels(
            &recorded.agent_id,
            &recorded.notification_type,
            result.status.as_str(),
        );
        let end_to_end = (recorded.result_recorded_at - recorded.accepted_at)
            .to_std()
            .unwrap_or_default();
        let processing = (result.finished_at - result.started_at)
            .to_std()
            .unwrap_or_default();
        metrics.result_recorded(&labels, end_to_end, processing);
        for tool in &result.tools {
            metrics.tool_executed(&recorded.agent_id, &tool.name, &tool.status);
        }
        for usage in &result.llm {
            metrics.llm_used(&usage.model, usage.input_tokens, usage.output_tokens);
        }
        span.record("vos.outcome", result.status.as_str());
        consumer.waiters.announce(recorded.notification_id);
    }
    Ok(())
}

fn new_result(result: &AgentResult) -> NewResult {
    NewResult {
        notification_id: result.notification_id,
        agent_id: result.agent_id.clone(),
        outcome: result.status.as_str(),
        result: result.result.as_ref().map(|r| r.get().to_owned()),
        error: result.error.clone(),
        tools: serde_json::to_string(&result.tools).expect("tool calls serialise"),
        llm: serde_json::to_string(&result.llm).expect("usage serialises"),
        started_at: result.started_at,
        completed_at: result.finished_at,
    }
}

/// `process vos.results`, a CONSUMER span continuing the agent's trace (agents are internal:
/// their context is trusted), with a link to the agent's span as the conventions ask.
fn consumer_span(readable: &Readable<'_>) -> tracing::Span {
    let properties = &readable.delivery.properties;
    let message_id = properties.message_id().as_ref().map(|id| id.to_string());
    let correlation_id = properties
        .correlation_id()
        .as_ref()
        .map(|id| id.to_string());
    // Published to the default exchange, so the routing key is the queue: `vos.results`
    // unless `[amqp] results_queue` says otherwise.
    let queue = readable.delivery.routing_key.as_str();
    let span = tracing::info_span!(
        "process",
        otel.name = format!("process {queue}"),
        otel.kind = "consumer",
        messaging.system = "rabbitmq",
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = queue,
        messaging.message.id = message_id.as_deref(),
        messaging.message.conversation_id = correlation_id.as_deref(),
        messaging.rabbitmq.message.delivery_tag = readable.delivery.delivery_tag,
        messaging.message.body.size = readable.delivery.data.len(),
        vos.notification_id = %readable.result.notification_id,
        vos.outcome = tracing::field::Empty,
        vos.result.dropped = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        correlation_id = correlation_id.as_deref(),
    );
    if let Some(parent) = traceparent(properties) {
        let context = parent.to_span_context(None);
        let _ = span.set_parent(Context::new().with_remote_span_context(context.clone()));
        span.add_link(context);
    }
    if readable.result.status == Outcome::Failed {
        span.record("otel.status_code", "error");
    }
    span
}

/// The `traceparent` header, as a string or as bytes (both are seen in the wild).
fn traceparent(properties: &lapin::BasicProperties) -> Option<TraceParent> {
    let headers = properties.headers().as_ref()?;
    let value = headers.inner().get("traceparent")?;
    let text = match value {
        AMQPValue::LongString(text) => String::from_utf8_lossy(text.as_bytes()).into_owned(),
        AMQPValue::ShortString(text) => text.to_string(),
        AMQPValue::ByteArray(bytes) => String::from_utf8_lossy(bytes.as_slice()).into_owned(),
        _ => return None,
    };
    TraceParent::parse(&text)
}
