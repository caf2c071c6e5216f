//! Label sets, and the cap that keeps client-chosen values from exploding cardinality.

use std::{fmt::Write as _, sync::Arc};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

pub use vos_labels::LabelCap;

/// Per request, so nothing here is allocated: the method is one of a fixed set and the route
/// an interned template (see `MetricsInner::routes`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub http_request_method: &'static str,
    pub http_route: Arc<str>,
    pub http_response_status_code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpRouteLabels {
    pub http_request_method: &'static str,
    pub http_route: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub agent_id: Arc<str>,
    pub notification_type: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgentLabel {
    pub agent_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DependencyLabels {
    pub dependency: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    pub stage: &'static str,
}

/// `vos_outbox_batch_rows{statement}`: the outbox's batched statements.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatementLabels {
    /// `insert` (the batch writer) or `mark` (rows marked published after their confirm).
    pub statement: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolStateLabels {
    pub state: &'static str,
}

/// Exemplar labels: the trace that produced an observation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TraceExemplar {
    pub trace_id: TraceIdLabel,
}

impl TraceExemplar {
    pub fn new(trace_id: [u8; 16]) -> Self {
        Self {
            trace_id: TraceIdLabel(u128::from_be_bytes(trace_id)),
        }
    }
}

/// `vos_publish_failures_total{reason}`: every way a publish can fail.
pub const PUBLISH_FAILURE_REASONS: [&str; 4] = ["nack", "returned", "timeout", "unavailable"];

/// `vos_auth_failures_total{reason}`: why a request was not authenticated.
pub const AUTH_FAILURE_REASONS: [&str; 5] =
    ["missing", "malformed", "checksum", "unknown", "revoked"];

/// `vos_rate_limited_total{limit}`: the policies a request can be limited by.
pub const RATE_LIMITS: [&str; 3] = ["key", "agent", "client"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

/// A notification's journey: whose, what kind, how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JourneyLabels {
    pub agent_id: Arc<str>,
    pub notification_type: Arc<str>,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolLabels {
    pub agent_id: Arc<str>,
    pub tool: Arc<str>,
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub model: Arc<str>,
    /// `input` or `output`.
    pub direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub model: Arc<str>,
}

/// `vos_results_dropped_total{reason}`: results that changed nothing.
pub const RESULT_DROP_REASONS: [&str; 3] = ["duplicate", "unknown", "malformed"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    pub limit: &'static str,
}

/// The dependencies `vos_dependency_up` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dependency {
    Postgres,
    RabbitMq,
}

impl Dependency {
    pub fn label(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::RabbitMq => "rabbitmq",
        }
    }
}

/// The bounded queues whose overflow `vos_overload_rejections_total{stage}` counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overload {
    /// The batch writer's queue: notify answers 503.
    Writer,
}

impl Overload {
    pub const ALL: [Self; 1] = [Self::Writer];

    pub fn label(self) -> &'static str {
        match self {
            Self::Writer => "writer",
        }
    }
}

/// A trace id, written as 32 lowercase hex digits only when scraped: exemplars are replaced
/// on every observation and most are never read.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct TraceIdLabel(pub u128);

impl EncodeLabelValue for TraceIdLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        write!(encoder, "{:032x}", self.0)
    }
}
