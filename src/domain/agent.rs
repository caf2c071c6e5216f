//! Agent ids, and the queue name derived from them.

use serde::Serialize;

use super::ValidationError;

/// An agent id: 1–64 of `a-z`, `0-9`, `-`, `_`, starting with a letter or digit.
///
/// The queue name `{agent_id}_queue` is derived from it, so the allow-list keeps out
/// everything RabbitMQ treats specially (`amq.` prefixes, dots, wildcards, NUL, long names).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AgentId(String);

impl AgentId {
    /// ```
    /// use vos_gateway::domain::AgentId;
    ///
    /// assert_eq!(AgentId::parse("weather_agent").unwrap().queue_name(), "weather_agent_queue");
    /// assert!(AgentId::parse("amq.gen").is_err());
    /// assert!(AgentId::parse("Weather").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let valid_chars = value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        let starts_well = value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
        if value.is_empty() || value.len() > 64 || !valid_chars || !starts_well {
            return Err(ValidationError::new(
                "agent_id",
                "must be 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter or digit",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The agent's queue on the default exchange.
    pub fn queue_name(&self) -> String {
        format!("{}_queue", self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn agent_ids_follow_the_allow_list() {
        for good in ["a", "weather_agent", "agent-7", "0", &"x".repeat(64)] {
            assert!(AgentId::parse(good).is_ok(), "{good} should be accepted");
        }
        let long = "x".repeat(65);
        for bad in [
            "", "Agent", "amq.gen", "a.b", "a#", "*", "-a", "_a", "a b", "é", "a\0", &long,
        ] {
            assert!(AgentId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    proptest! {
        #[test]
        fn accepted_agent_ids_always_make_plain_queue_names(id in ".{0,80}") {
            if let Ok(agent) = AgentId::parse(&id) {
                let queue = agent.queue_name();
                prop_assert!(queue.len() <= 70);
                prop_assert!(!queue.starts_with("amq."));
                prop_assert!(queue.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'));
            }
        }
    }
}
