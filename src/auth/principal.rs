//! Who a request acts as, once its key was checked.

use std::sync::Arc;

use super::KeyEntry;
use crate::domain::{AgentPattern, Scope};

/// The caller of a protected route, available to handlers as a request extension.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A valid, unrevoked key.
    Key(Arc<KeyEntry>),
    /// `[auth] required = false`: every request may do everything.
    Unrestricted,
}

impl Principal {
    pub fn allows(&self, scope: Scope) -> bool {
        match self {
            Self::Key(key) => key.grant.allows(scope),
            Self::Unrestricted => true,
        }
    }

    /// Whether the caller may see `agent_id` and its notifications. Outside its agents a key
    /// gets 404, as if the agent did not exist: nothing about other agents leaks.
    pub fn covers(&self, agent_id: &str) -> bool {
        match self {
            Self::Key(key) => key.grant.covers(agent_id),
            Self::Unrestricted => true,
        }
    }

    /// The patterns of the agents the caller may see; `None` when it may see every agent
    /// (an admin key, a `*` pattern, or no authentication), so queries need no filter.
    pub fn agent_patterns(&self) -> Option<&[AgentPattern]> {
        match self {
            Self::Key(key) if !key.grant.covers_every_agent() => Some(&key.grant.agents),
            _ => None,
        }
    }

    /// What logs and spans show of the key.
    pub fn key_prefix(&self) -> Option<&str> {
        match self {
            Self::Key(key) => Some(&key.display_prefix),
            Self::Unrestricted => None,
        }
    }
}
