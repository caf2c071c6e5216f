//! The client's `Idempotency-Key`.

use super::ValidationError;

/// Longest accepted key, in bytes.
const MAX_LEN: usize = 128;

/// An `Idempotency-Key`: 1–128 of `A-Z a-z 0-9 - _ . :`, unique per agent. Plain ASCII keeps
/// it safe to store, index and echo; anything else is refused, never rewritten, because a
/// rewritten key would silently merge two different retries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// ```
    /// use vos_gateway::domain::IdempotencyKey;
    ///
    /// assert!(IdempotencyKey::parse("order-4711:1").is_ok());
    /// assert!(IdempotencyKey::parse("order 4711").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let plain = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if value.is_empty() || value.len() > MAX_LEN || !plain {
            return Err(ValidationError::new(
                "Idempotency-Key",
                "must be 1-128 characters of A-Z, a-z, 0-9, '-', '_', '.' or ':'",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_and_plain() {
        for good in ["a", "order-4711_1.x:y", &"k".repeat(128)] {
            assert!(IdempotencyKey::parse(good).is_ok(), "{good:?}");
        }
        for bad in ["", " ", "a b", "a/b", "é", "a\n", &"k".repeat(129)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
