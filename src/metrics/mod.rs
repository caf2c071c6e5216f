//! Prometheus metrics: one registry, handles for every stage, and the `/metrics` encoding.
//!
//! Names follow the OpenTelemetry semantic conventions mapped to Prometheus
//! (`docs/metrics.md` lists them all). Every label set is bounded.

mod families;
mod labels;
mod process;

use std::{sync::Arc, time::Instant};

use prometheus_client::{
    encoding::{prometheus_text, text},
    registry::Registry,
};

pub use families::Families;
pub use labels::{
    AUTH_FAILURE_REASONS, AgentLabel, DeliveryLabels, Dependency, DependencyLabels, FailureLabels,
    HttpLabels, HttpRouteLabels, JourneyLabels, LabelCap, LimitLabels, ModelLabels, OutcomeLabels,
    Overload, PUBLISH_FAILURE_REASONS, PoolStateLabels, QueueLabels, RATE_LIMITS,
    RESULT_DROP_REASONS, ReasonLabels, RuleLabels, StageLabels, StatementLabels, StatusLabels,
    TokenLabels, ToolLabels, TraceExemplar, TraceIdLabel,
};

use crate::privacy;

/// `vos_outbox_batch_rows{statement}`: the outbox's batched statements.
pub const OUTBOX_STATEMENTS: [&str; 2] = ["insert", "mark"];

/// More than the router will ever have.
const MAX_ROUTES: usize = 64;

/// Every metric the gateway exports. Cheap to clone (one `Arc`): it is extracted as
/// `State<Metrics>` on every request, and cloning each handle would cost dozens of atomic
/// reference-count updates per request.
#[derive(Clone)]
pub struct Metrics(Arc<MetricsInner>);

impl std::ops::Deref for Metrics {
    type Target = MetricsInner;

    fn deref(&self) -> &MetricsInner {
        &self.0
    }
}

/// The registry, the label caps, and (through `Deref`) the [`Families`].
pub struct MetricsInner {
    registry: Registry,
    started: Instant,
    /// Caps the distinct agent ids and notification types used as label values.
    pub agents: LabelCap,
    pub types: LabelCap,
    /// Interns route templates (a fixed set; the cap only guards against a mistake).
    pub routes: LabelCap,
    /// Caps the tool names and model names agents report.
    pub tools: LabelCap,
    pub models: LabelCap,
    families: Families,
    process: process::ProcessMetrics,
}

impl std::ops::Deref for MetricsInner {
    type Target = Families;

    fn deref(&self) -> &Families {
        &self.families
    }
}

impl Metrics {
    pub fn new(max_agent_labels: usize) -> Self {
        let mut registry = Registry::default();
        let families = Families::new();
        families.register(&mut registry);
        let build = prometheus_client::metrics::info::Info::new(vec![
            ("version", env!("CARGO_PKG_VERSION")),
            ("commit", env!("VOS_GIT_COMMIT")),
        ]);
        registry.register("vos_build", "Build of the running gateway", build);
        let process = process::ProcessMetrics::default();
        process.register(&mut registry);
        let metrics = Self(Arc::new(MetricsInner {
            registry,
            started: Instant::now(),
            agents: LabelCap::new(max_agent_labels),
            types: LabelCap::new(max_agent_labels),
            routes: LabelCap::new(MAX_ROUTES),
            tools: LabelCap::new(max_agent_labels),
            models: LabelCap::new(max_agent_labels),
            families,
            process,
        }));
        metrics.initialise_closed_sets();
        metrics
    }

    /// Counters whose label values are a known, closed set exist from the start at 0, so a
    /// fresh gateway's dashboards show 0 rather than "No data" and `rate()` sees the first
    /// event (Prometheus: "avoid missing metrics").
    fn initialise_closed_sets(&self) {
        for reason in PUBLISH_FAILURE_REASONS {
            self.publish_failures
                .get_or_create(&FailureLabels { reason })
                .inc_by(0);
        }
        for stage in Overload::ALL {
            self.overload_rejections
                .get_or_create(&StageLabels {
                    stage: stage.label(),
                })
                .inc_by(0);
        }
        for statement in OUTBOX_STATEMENTS {
            let _ = self.batch_rows(statement);
        }
        for reason in AUTH_FAILURE_REASONS {
            self.auth_failures
                .get_or_create(&ReasonLabels { reason })
                .inc_by(0);
        }
        for limit in RATE_LIMITS {
            self.rate_limited
                .get_or_create(&LimitLabels { limit })
                .inc_by(0);
        }
        for reason in RESULT_DROP_REASONS {
            self.results_dropped
                .get_or_create(&ReasonLabels { reason })
                .inc_by(0);
        }
        for outcome in ["completed", "failed"] {
            self.results
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(0);
        }
        for status in ["published", "failed"] {
            self.retention_deleted
                .get_or_create(&StatusLabels { status })
                .inc_by(0);
        }
        self.pool_connections(0, 0);
    }

    /// Label values for a journey, with the agent id and type capped.
    pub fn journey_labels(
        &self,
        agent_id: &str,
        notification_type: &str,
        outcome: &'static str,
    ) -> JourneyLabels {
        JourneyLabels {
            agent_id: self.agents.label(agent_id),
            notification_type: self.types.label(notification_type),
            outcome,
        }
    }

    /// One result recorded: its outcome, end-to-end and processing time.
    pub fn result_recorded(
        &self,
        labels: &JourneyLabels,
        end_to_end: std::time::Duration,
        processing: std::time::Duration,
    ) {
        self.results
            .get_or_create(&OutcomeLabels {
                outcome: labels.outcome,
            })
            .inc();
        self.end_to_end_duration
            .get_or_create(labels)
            .observe(end_to_end.as_secs_f64());
        self.processing_duration
            .get_or_create(labels)
            .observe(processing.as_secs_f64());
    }

    /// One result that changed nothing (`duplicate`, `unknown`, `malformed`).
    pub fn result_dropped(&self, reason: &'static str) {
        self.results_dropped
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// One tool call an agent reported; `status` other than `ok` counts as `error`.
    pub fn tool_executed(&self, agent_id: &str, tool: &str, status: &str) {
        let labels = ToolLabels {
            agent_id: self.agents.label(agent_id),
            tool: self.tools.label(tool),
            status: if status == "ok" { "ok" } else { "error" },
        };
        self.tool_executions.get_or_create(&labels).inc();
    }

    /// One language-model call an agent reported.
    pub fn llm_used(&self, model: &str, input_tokens: u64, output_tokens: u64) {
        let model = self.models.label(model);
        self.llm_calls
            .get_or_create(&ModelLabels {
                model: model.clone(),
            })
            .inc();
        for (direction, tokens) in [("input", input_tokens), ("output", output_tokens)] {
            self.llm_tokens
                .get_or_create(&TokenLabels {
                    model: model.clone(),
                    direction,
                })
                .inc_by(tokens);
        }
    }

    /// Counts notifications retention deleted.
    pub fn count_retention(&self, status: &'static str, count: u64) {
        self.retention_deleted
            .get_or_create(&StatusLabels { status })
            .inc_by(count);
    }

    /// Counts one unauthenticated request to a protected route.
    pub fn auth_failed(&self, reason: &'static str) {
        self.auth_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Counts one request answered 429 by `limit` (`key`, `agent`, `client`).
    pub fn limited(&self, limit: &'static str) {
        self.rate_limited
            .get_or_create(&LimitLabels { limit })
            .inc();
    }

    /// The exposition, in OpenMetrics (with exemplars) or the classic text format.
    pub fn render(&self, openmetrics: bool) -> String {
        self.uptime.set(self.started.elapsed().as_secs_f64());
        self.process.refresh();
        self.refresh_redactions();
        let mut out = String::with_capacity(16 * 1024);
        let encoded = if openmetrics {
            text::encode(&mut out, &self.registry)
        } else {
            prometheus_text::encode(&mut out, &self.registry)
        };
        encoded.expect("writing to a String cannot fail");
        out
    }

    /// The redaction policy counts process-wide (it masks log lines before any registry
    /// exists); bring the counters up to its totals. A counter only moves forward, and every
    /// rule exists from the start.
    fn refresh_redactions(&self) {
        for (rule, total) in privacy::counts() {
            let counter = self.redactions.get_or_create(&RuleLabels { rule });
            let seen = counter.get();
            if total > seen {
                counter.inc_by(total - seen);
            }
        }
    }

    /// Label values for a notification, with the agent id capped.
    pub fn delivery_labels(&self, agent_id: &str, notification_type: &str) -> DeliveryLabels {
        DeliveryLabels {
            agent_id: self.agents.label(agent_id),
            notification_type: self.types.label(notification_type),
        }
    }

    /// The rows-per-statement histogram of one outbox statement (`insert` or `mark`): a
    /// handle to keep, so that observing it takes no lock.
    pub fn batch_rows(
        &self,
        statement: &'static str,
    ) -> prometheus_client::metrics::histogram::Histogram {
        self.outbox_batch_rows
            .get_or_create(&StatementLabels { statement })
            .clone()
    }

    /// `vos_dependency_up`, written by the health probes and the relay alike.
    pub fn mark_dependency(&self, dependency: Dependency, up: bool) {
        self.dependency_up
            .get_or_create(&DependencyLabels {
                dependency: dependency.label(),
            })
            .set(i64::from(up));
    }

    /// Counts one request shed because `stage`'s queue was full.
    pub fn overloaded(&self, stage: Overload) {
        self.overload_rejections
            .get_or_create(&StageLabels {
                stage: stage.label(),
            })
            .inc();
    }

    /// `vos_db_pool_connections` by state.
    pub fn pool_connections(&self, idle: i64, in_use: i64) {
        for (state, value) in [("idle", idle), ("in_use", in_use)] {
            self.db_pool_connections
                .get_or_create(&PoolStateLabels { state })
                .set(value);
        }
    }
}

/// The content types `/metrics` can answer with.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const PROMETHEUS_CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;
