//! Label sets, and the cap that keeps handler-chosen values (tool and model names,
//! notification types) from exploding cardinality.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;

pub use vos_labels::{LabelCap, OVERFLOW};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgentLabels {
    pub agent_id: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabels {
    pub agent_id: Arc<str>,
    pub notification_type: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub agent_id: Arc<str>,
    pub notification_type: Arc<str>,
    /// `completed` or `failed`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolStatusLabels {
    pub agent_id: Arc<str>,
    pub tool: Arc<str>,
    /// `ok` or `error`.
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolLabels {
    pub agent_id: Arc<str>,
    pub tool: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub agent_id: Arc<str>,
    pub model: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub agent_id: Arc<str>,
    pub model: Arc<str>,
    /// `input` or `output`.
    pub direction: &'static str,
}
