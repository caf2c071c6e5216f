//! The notification payload: the client's JSON object, kept exactly as it was sent.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::ValidationError;

/// A JSON object, held as the bytes the client sent: stored (as Postgres `json`, which keeps
/// text as it is) and delivered to the agent byte for byte, whatever its key order, duplicate
/// keys, number spellings or escapes. The gateway never looks inside.
#[derive(Clone)]
pub struct Payload(Box<RawValue>);

impl Payload {
    /// `{}`, what an absent or null payload means.
    pub fn empty() -> Self {
        Self(RawValue::from_string("{}".to_owned()).expect("{} is JSON"))
    }

    /// The request's `payload` field: absent or `null` is `{}`, anything but an object is
    /// refused. (Whether it is JSON at all the body parser already decided.)
    pub fn parse(raw: Option<Box<RawValue>>) -> Result<Self, ValidationError> {
        match raw {
            None => Ok(Self::empty()),
            Some(raw) if raw.get() == "null" => Ok(Self::empty()),
            Some(raw) if raw.get().starts_with('{') => Ok(Self(raw)),
            Some(_) => Err(ValidationError::new("payload", "must be a JSON object")),
        }
    }

    /// A payload read back from storage.
    pub fn from_stored(text: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text).map(Self)
    }

    /// The JSON text, exactly as accepted.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// Size in bytes, which telemetry may record (never the content).
    pub fn len(&self) -> usize {
        self.0.get().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether two payloads hold the same JSON value (key order and spelling aside): an
    /// idempotent retry need not send the very same bytes.
    pub fn same_value_as(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
            || matches!(
                (value(self), value(other)),
                (Some(a), Some(b)) if a == b
            )
    }
}

fn value(payload: &Payload) -> Option<serde_json::Value> {
    serde_json::from_str(payload.as_str()).ok()
}

impl PartialEq for Payload {
    /// Byte equality: the same payload as sent.
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl fmt::Debug for Payload {
    /// Never the content: a payload may hold anything a client sent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Option<Box<RawValue>> {
        Some(RawValue::from_string(text.to_owned()).unwrap())
    }

    #[test]
    fn objects_are_kept_byte_for_byte_and_anything_else_is_refused() {
        let sent = r#"{"b":1,"a":1.50,"a":"\u0000\ud83d\ude00"}"#;
        assert_eq!(Payload::parse(raw(sent)).unwrap().as_str(), sent);
        assert_eq!(Payload::parse(None).unwrap().as_str(), "{}");
        assert_eq!(Payload::parse(raw("null")).unwrap().as_str(), "{}");
        for refused in ["[1]", "\"x\"", "1", "true"] {
            assert!(Payload::parse(raw(refused)).is_err(), "{refused}");
        }
    }

    #[test]
    fn retries_compare_values_not_bytes() {
        let a = Payload::parse(raw(r#"{"a":1,"b":[true]}"#)).unwrap();
        let b = Payload::parse(raw(r#"{ "b" : [true], "a" : 1 }"#)).unwrap();
        let c = Payload::parse(raw(r#"{"a":2,"b":[true]}"#)).unwrap();
        assert!(a.same_value_as(&b) && !a.same_value_as(&c));
        assert_ne!(a, b, "but they are not the same bytes");
        assert_eq!(format!("{a:?}"), "Payload(18 bytes)");
    }
}
