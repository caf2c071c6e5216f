//! `Option<Rate>` in settings, written as a string: `"100/s"`, or `"off"` (also `"0"` or `0`)
//! for no limit. Use as `#[serde(with = "crate::ratelimit::serde_rate")]`; add
//! `#[serde(default)]` if the key may be missing.
//!
//! The integer `0` is accepted because figment reads `VOS__…=0` from the environment as a
//! number, not a string.

use std::fmt;

use serde::{Deserializer, Serializer, de};

use super::Rate;

/// What [`serialize`] writes for `None`.
const OFF: &str = "off";

/// Writes `Some(rate)` as `"100/s"` and `None` as `"off"`.
pub fn serialize<S: Serializer>(rate: &Option<Rate>, serializer: S) -> Result<S::Ok, S::Error> {
    match rate {
        Some(rate) => serializer.collect_str(rate),
        None => serializer.serialize_str(OFF),
    }
}

/// Reads `"N/s"`, `"N/m"` or `"N/h"` as `Some`, and `"off"`, `"0"` or `0` as `None`.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Rate>, D::Error> {
    deserializer.deserialize_any(RateVisitor)
}

struct RateVisitor;

impl de::Visitor<'_> for RateVisitor {
    type Value = Option<Rate>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a rate such as \"100/s\", \"6000/m\" or \"5/h\", or \"off\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        match text.trim() {
            OFF | "0" => Ok(None),
            _ => text.parse().map(Some).map_err(E::custom),
        }
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
        match number {
            0 => Ok(None),
            _ => Err(E::custom(format!(
                "rate {number} has no unit: write \"{number}/s\", \"{number}/m\" or \"{number}/h\""
            ))),
        }
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
        match u64::try_from(number) {
            Ok(number) => self.visit_u64(number),
            Err(_) => Err(E::custom(format!("rate {number} is negative"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Deserialize, Serialize)]
    struct Settings {
        #[serde(with = "crate::ratelimit::serde_rate", default)]
        per_key: Option<Rate>,
    }

    fn read(json: &str) -> Result<Option<Rate>, String> {
        serde_json::from_str::<Settings>(json)
            .map(|settings| settings.per_key)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn a_rate_is_read_from_a_string_and_off_or_zero_means_no_limit() {
        assert_eq!(
            read(r#"{"per_key": "100/s"}"#),
            Ok(Some("100/s".parse().unwrap()))
        );
        assert_eq!(read(r#"{"per_key": "off"}"#), Ok(None));
        assert_eq!(read(r#"{"per_key": "0"}"#), Ok(None));
        assert_eq!(read(r#"{"per_key": 0}"#), Ok(None));
        assert_eq!(read("{}"), Ok(None));
    }

    #[test]
    fn a_bad_rate_is_an_error_that_names_the_problem() {
        assert!(
            read(r#"{"per_key": "0/s"}"#)
                .unwrap_err()
                .contains("at least 1")
        );
        assert!(read(r#"{"per_key": "10/d"}"#).unwrap_err().contains("unit"));
        assert!(read(r#"{"per_key": 100}"#).unwrap_err().contains("no unit"));
        assert!(read(r#"{"per_key": -1}"#).unwrap_err().contains("negative"));
        assert!(
            read(r#"{"per_key": true}"#)
                .unwrap_err()
                .contains("\"100/s\"")
        );
    }

    #[test]
    fn a_rate_is_written_back_as_it_is_read() {
        for json in [r#"{"per_key":"6000/m"}"#, r#"{"per_key":"off"}"#] {
            let settings: Settings = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&settings).unwrap(), json);
        }
    }
}
