//! What a handler sees of its delivery, and how it reports tool and model calls.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Instant,
};

use tracing::{Instrument, field::Empty};
use uuid::Uuid;
use vos_protocol::{LlmUsage, ToolCall};

use crate::metrics::Metrics;

/// Tool and model calls made while handling one delivery, across all its attempts: they
/// happened, and cost time and tokens, whether or not the attempt succeeded.
#[derive(Debug, Default)]
pub(crate) struct Calls {
    pub tools: Vec<ToolCall>,
    pub llm: Vec<LlmUsage>,
}

/// A handler's view of one attempt. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    agent_id: String,
    notification_id: Uuid,
    correlation_id: String,
    attempt: u32,
    calls: Arc<Mutex<Calls>>,
    metrics: Metrics,
}

impl Context {
    pub(crate) fn new(
        agent_id: &str,
        notification_id: Uuid,
        correlation_id: &str,
        attempt: u32,
        calls: Arc<Mutex<Calls>>,
        metrics: Metrics,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                agent_id: agent_id.to_owned(),
                notification_id,
                correlation_id: correlation_id.to_owned(),
                attempt,
                calls,
                metrics,
            }),
        }
    }

    pub fn agent_id(&self) -> &str {
        &self.inner.agent_id
    }

    pub fn notification_id(&self) -> Uuid {
        self.inner.notification_id
    }

    pub fn correlation_id(&self) -> &str {
        &self.inner.correlation_id
    }

    /// 1 for the first attempt, counting attempts made on earlier deliveries too.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// Runs a tool call inside an `execute_tool {name}` span (OpenTelemetry GenAI
    /// conventions) and records its name, duration and `ok`/`error` status in the result
    /// and the tool metrics. The tool's output is never recorded.
    pub async fn tool<T, E, F>(&self, name: &str, call: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let span = tracing::info_span!(
            "execute_tool",
            otel.name = %format_args!("execute_tool {name}"),
            otel.kind = "internal",
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = name,
            otel.status_code = Empty,
            "error.type" = Empty,
        );
        let started = Instant::now();
        let outcome = call.instrument(span.clone()).await;
        let elapsed = started.elapsed();
        let status = if outcome.is_ok() { "ok" } else { "error" };
        if outcome.is_err() {
            span.record("otel.status_code", "error");
            span.record("error.type", "tool_error");
        }
        self.inner.metrics.tool_executed(name, status, elapsed);
        self.calls().tools.push(ToolCall {
            name: name.to_owned(),
            duration_ms: elapsed.as_secs_f64() * 1000.0,
            status: status.to_owned(),
        });
        outcome
    }

    /// Records one language-model call: its model and token counts.
    pub fn llm_usage(&self, model: &str, input_tokens: u64, output_tokens: u64) {
        self.inner
            .metrics
            .llm_called(model, input_tokens, output_tokens);
        self.calls().llm.push(LlmUsage {
            model: model.to_owned(),
            input_tokens,
            output_tokens,
        });
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, Calls> {
        // A handler that panicked while holding the lock leaves valid data behind.
        self.inner
            .calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
