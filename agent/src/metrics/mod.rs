//! The agent's metrics, recorded twice from one call: into a prometheus-client registry
//! (served by [`server`] on `GET /metrics`) and into OpenTelemetry instruments from the global
//! meter provider (exported over OTLP when [`crate::telemetry`] installed one; a no-op
//! otherwise). Names follow the OTel conventions mapped to Prometheus, as in the gateway's
//! `docs/metrics.md`: unit suffix, counters end in `_total`, every label set bounded.

mod families;
mod labels;
mod otel;
pub(crate) mod server;

use std::{sync::Arc, time::Duration};

use opentelemetry::KeyValue;
use prometheus_client::registry::Registry;

use families::Families;
use labels::{
    AgentLabels, ModelLabels, OutcomeLabels, TokenLabels, ToolLabels, ToolStatusLabels, TypeLabels,
};
pub use labels::{LabelCap, OVERFLOW};

/// Distinct notification types, tools and models reported before values become `_other`.
const MAX_LABEL_VALUES: usize = 50;

/// Every metric of one agent. Cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    families: Families,
    otel: otel::Instruments,
    agent_id: Arc<str>,
    types: LabelCap,
    tools: LabelCap,
    models: LabelCap,
}

impl Metrics {
    pub(crate) fn new(agent_id: &str) -> Self {
        let mut registry = Registry::default();
        let families = Families::new();
        families.register(&mut registry);
        let metrics = Self(Arc::new(Inner {
            registry,
            families,
            otel: otel::Instruments::new(),
            agent_id: Arc::from(agent_id),
            types: LabelCap::new(MAX_LABEL_VALUES),
            tools: LabelCap::new(MAX_LABEL_VALUES),
            models: LabelCap::new(MAX_LABEL_VALUES),
        }));
        // Exist at 0 from the start, so dashboards show 0 rather than "No data".
        let agent = metrics.agent();
        let f = &metrics.0.families;
        f.duplicates.get_or_create(&agent).inc_by(0);
        f.dead_lettered.get_or_create(&agent).inc_by(0);
        f.in_use.get_or_create(&agent).set(0);
        f.connected.get_or_create(&agent).set(0);
        metrics
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.0.registry)
            .expect("writing to a String cannot fail");
        text
    }

    fn agent(&self) -> AgentLabels {
        AgentLabels {
            agent_id: self.0.agent_id.clone(),
        }
    }

    fn attrs(&self, more: &[(&'static str, &str)]) -> Vec<KeyValue> {
        let mut attributes = vec![KeyValue::new("agent_id", self.0.agent_id.to_string())];
        attributes.extend(
            more.iter()
                .map(|(key, value)| KeyValue::new(*key, value.to_string())),
        );
        attributes
    }

    fn type_labels(&self, notification_type: &str) -> TypeLabels {
        TypeLabels {
            agent_id: self.0.agent_id.clone(),
            notification_type: self.0.types.label(notification_type),
        }
    }

    pub(crate) fn set_capacity(&self, capacity: u16) {
        self.0
            .families
            .capacity
            .get_or_create(&self.agent())
            .set(capacity.into());
        self.0
            .otel
            .capacity
            .record(capacity.into(), &self.attrs(&[]));
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        let value = i64::from(connected);
        self.0
            .families
            .connected
            .get_or_create(&self.agent())
            .set(value);
        self.0.otel.connected.record(value, &self.attrs(&[]));
    }

    /// One more handler running; the gauge goes down when the guard drops.
    pub(crate) fn in_use(&self) -> InUse {
        self.0.families.in_use.get_or_create(&self.agent()).inc();
        self.0.otel.in_use.add(1, &self.attrs(&[]));
        InUse(self.clone())
    }

    pub(crate) fn received(&self, notification_type: &str) {
        let labels = self.type_labels(notification_type);
        self.0.families.received.get_or_create(&labels).inc();
        let attrs = self.attrs(&[("notification_type", &labels.notification_type)]);
        self.0.otel.received.add(1, &attrs);
    }

    /// A notification settled: a result was sent (and the delivery acknowledged).
    pub(crate) fn processed(&self, notification_type: &str, outcome: &'static str, took: Duration) {
        let typed = self.type_labels(notification_type);
        let labels = OutcomeLabels {
            agent_id: typed.agent_id.clone(),
            notification_type: typed.notification_type.clone(),
            outcome,
        };
        let f = &self.0.families;
        f.processed.get_or_create(&labels).inc();
        f.duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        let attrs = self.attrs(&[
            ("notification_type", &typed.notification_type),
            ("outcome", outcome),
        ]);
        self.0.otel.processed.add(1, &attrs);
        self.0.otel.duration.record(took.as_secs_f64(), &attrs);
        if outcome == "failed" {
            f.failed.get_or_create(&typed).inc();
            let attrs = self.attrs(&[("notification_type", &typed.notification_type)]);
            self.0.otel.failed.add(1, &attrs);
        }
    }

    pub(crate) fn tool_executed(&self, tool: &str, status: &'static str, took: Duration) {
        let tool = self.0.tools.label(tool);
        let f = &self.0.families;
        f.tool_executions
            .get_or_create(&ToolStatusLabels {
                agent_id: self.0.agent_id.clone(),
                tool: tool.clone(),
                status,
            })
            .inc();
        f.tool_duration
            .get_or_create(&ToolLabels {
                agent_id: self.0.agent_id.clone(),
                tool: tool.clone(),
            })
            .observe(took.as_secs_f64());
        self.0
            .otel
            .tool_executions
            .add(1, &self.attrs(&[("tool", &tool), ("status", status)]));
        self.0
            .otel
            .tool_duration
            .record(took.as_secs_f64(), &self.attrs(&[("tool", &tool)]));
    }

    pub(crate) fn llm_called(&self, model: &str, input_tokens: u64, output_tokens: u64) {
        let model = self.0.models.label(model);
        let f = &self.0.families;
        let agent_id = self.0.agent_id.clone();
        f.llm_calls
            .get_or_create(&ModelLabels {
                agent_id: agent_id.clone(),
                model: model.clone(),
            })
            .inc();
        for (direction, tokens) in [("input", input_tokens), ("output", output_tokens)] {
            f.llm_tokens
                .get_or_create(&TokenLabels {
                    agent_id: agent_id.clone(),
                    model: model.clone(),
                    direction,
                })
                .inc_by(tokens);
            self.0.otel.llm_tokens.add(
                tokens,
                &self.attrs(&[("model", &model), ("direction", direction)]),
            );
        }
        self.0
            .otel
            .llm_calls
            .add(1, &self.attrs(&[("model", &model)]));
    }

    pub(crate) fn duplicate_dropped(&self) {
        self.0
            .families
            .duplicates
            .get_or_create(&self.agent())
            .inc();
        self.0.otel.duplicates.add(1, &self.attrs(&[]));
    }

    pub(crate) fn dead_lettered(&self) {
        self.0
            .families
            .dead_lettered
            .get_or_create(&self.agent())
            .inc();
        self.0.otel.dead_lettered.add(1, &self.attrs(&[]));
    }
}

/// Holds one unit of `vos_agent_capacity_in_use` while a handler runs.
pub(crate) struct InUse(Metrics);

impl Drop for InUse {
    fn drop(&mut self) {
        let metrics = &self.0;
        metrics
            .0
            .families
            .in_use
            .get_or_create(&metrics.agent())
            .dec();
        metrics.0.otel.in_use.add(-1, &metrics.attrs(&[]));
    }
}
