//! Which agents an analysis may look at: a key sees only its agents, in aggregates too.
//!
//! The key's patterns become SQL `LIKE` patterns (`*` → `%`, a literal `_` escaped), so the
//! filter is exact (the same glob as `Grant::covers`), covers agents unregistered since, and
//! leaves the aggregation to Postgres.

use crate::{auth::Principal, domain::AgentPattern};

/// `None`: every agent. Bound as `$n::text[]` in `($n is null or agent_id like any($n))`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentScope(Option<Vec<String>>);

impl AgentScope {
    /// Every agent: admin keys, `*` keys, the CLI.
    pub fn all() -> Self {
        Self(None)
    }

    pub fn of(principal: &Principal) -> Self {
        Self(
            principal
                .agent_patterns()
                .map(|patterns| patterns.iter().map(like).collect()),
        )
    }

    /// The value to bind.
    pub fn patterns(&self) -> Option<&[String]> {
        self.0.as_deref()
    }
}

/// The SQL condition on `agent_id`, `param` being the placeholder the scope is bound to.
pub fn condition(param: &str) -> String {
    format!("({param}::text[] is null or agent_id like any({param}::text[]))")
}

/// Agent ids are `[a-z0-9_-]` and patterns add `*`: only `_` needs escaping.
fn like(pattern: &AgentPattern) -> String {
    pattern.as_str().replace('_', "\\_").replace('*', "%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_become_like_patterns_with_underscores_escaped() {
        let pattern = AgentPattern::parse("weather_*_eu").unwrap();
        assert_eq!(like(&pattern), "weather\\_%\\_eu");
        assert_eq!(AgentScope::of(&Principal::Unrestricted), AgentScope::all());
    }
}
