//! What a key may do: its scopes, and the agents it may act on.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// An operation class. `admin` implies the other two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Post notifications to the key's agents.
    Notify,
    /// Read the key's agents' notifications and status.
    Read,
    /// Everything, including keys and agent registration.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notify => "notify",
            Self::Read => "read",
            Self::Admin => "admin",
        }
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "notify" => Ok(Self::Notify),
            "read" => Ok(Self::Read),
            "admin" => Ok(Self::Admin),
            other => Err(format!(
                "unknown scope `{other}` (expected notify, read or admin)"
            )),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An agent id pattern: agent-id characters, with `*` matching any run of them
/// (`weather_*`, `*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgentPattern(String);

impl AgentPattern {
    /// Every agent.
    pub fn any() -> Self {
        Self("*".into())
    }

    /// ```
    /// use vos_gateway::domain::AgentPattern;
    ///
    /// let pattern = AgentPattern::parse("weather_*").unwrap();
    /// assert!(pattern.matches("weather_eu") && !pattern.matches("calendar"));
    /// assert!(AgentPattern::parse("Weather").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<Self, String> {
        let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_*".contains(&b);
        if value.is_empty() || value.len() > 64 || !value.bytes().all(allowed) {
            return Err(format!(
                "invalid agent pattern `{value}`: 1-64 of a-z, 0-9, '-', '_' and '*'"
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Glob match where `*` stands for any (possibly empty) run of characters.
    pub fn matches(&self, agent_id: &str) -> bool {
        let mut parts = self.0.split('*');
        let first = parts.next().unwrap_or_default();
        let Some(mut rest) = agent_id.strip_prefix(first) else {
            return false;
        };
        let parts: Vec<&str> = parts.collect();
        let Some((last, middle)) = parts.split_last() else {
            return rest.is_empty(); // no '*': an exact match
        };
        for part in middle {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last)
    }
}

impl TryFrom<String> for AgentPattern {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<AgentPattern> for String {
    fn from(pattern: AgentPattern) -> Self {
        pattern.0
    }
}

/// The permissions of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub scopes: Vec<Scope>,
    pub agents: Vec<AgentPattern>,
    /// Whether the caller's `traceparent` may parent our spans (internal services only).
    pub trust_trace_context: bool,
}

impl Grant {
    /// Whether the key may perform operations of `scope` at all.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }

    /// Whether the key may see `agent_id` (and its notifications). An admin key sees all.
    pub fn covers(&self, agent_id: &str) -> bool {
        self.scopes.contains(&Scope::Admin) || self.agents.iter().any(|p| p.matches(agent_id))
    }

    /// Whether the key sees every agent, whatever its id.
    pub fn covers_every_agent(&self) -> bool {
        self.scopes.contains(&Scope::Admin) || self.agents.iter().any(|p| p.as_str() == "*")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_globs() {
        let cases = [
            ("*", "anything", true),
            ("weather", "weather", true),
            ("weather", "weather2", false),
            ("weather_*", "weather_", true),
            ("weather_*", "weather_eu", true),
            ("weather_*", "weathe", false),
            ("*_agent", "calendar_agent", true),
            ("*_agent", "calendar_agents", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "acb", false),
            ("a*a", "a", false),
            ("a*a", "aa", true),
        ];
        for (pattern, agent, expected) in cases {
            assert_eq!(
                AgentPattern::parse(pattern).unwrap().matches(agent),
                expected,
                "{pattern} ~ {agent}"
            );
        }
    }

    #[test]
    fn admin_implies_every_scope_and_agent() {
        let admin = Grant {
            scopes: vec![Scope::Admin],
            agents: vec![],
            trust_trace_context: false,
        };
        let notify = Grant {
            scopes: vec![Scope::Notify],
            agents: vec![AgentPattern::parse("weather_*").unwrap()],
            trust_trace_context: false,
        };
        assert!(admin.allows(Scope::Read) && admin.covers("calendar"));
        assert!(notify.allows(Scope::Notify) && !notify.allows(Scope::Read));
        assert!(notify.covers("weather_eu") && !notify.covers("calendar"));
    }
}
