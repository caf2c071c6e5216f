//! Label sets, and the cap that keeps handler-chosen values (tool and model names,
//! notification types) from exploding cardinality.

use std::{
    collections::HashSet,
    sync::{Arc, RwLock},
};

use prometheus_client::encoding::EncodeLabelSet;

/// Label value for everything beyond a cap.
pub const OVERFLOW: &str = "_other";

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

/// Admits the first `max` distinct values; later ones become [`OVERFLOW`].
#[derive(Clone, Debug)]
pub struct LabelCap {
    max: usize,
    seen: Arc<RwLock<HashSet<Arc<str>>>>,
    overflow: Arc<str>,
}

impl LabelCap {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            seen: Arc::default(),
            overflow: Arc::from(OVERFLOW),
        }
    }

    pub fn label(&self, value: &str) -> Arc<str> {
        // Read lock first: after warm-up nearly every value is already known.
        if let Some(known) = self.seen.read().expect("label cap lock").get(value) {
            return known.clone();
        }
        let mut seen = self.seen.write().expect("label cap lock");
        if let Some(known) = seen.get(value) {
            return known.clone();
        }
        if seen.len() >= self.max {
            return self.overflow.clone();
        }
        let value: Arc<str> = Arc::from(value);
        seen.insert(value.clone());
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_cap_admits_the_first_values_then_overflows() {
        let cap = LabelCap::new(2);
        assert_eq!(&*cap.label("a"), "a");
        assert_eq!(&*cap.label("b"), "b");
        assert_eq!(&*cap.label("c"), OVERFLOW);
        assert_eq!(&*cap.label("a"), "a");
    }
}
