//! One redaction policy for everything the gateway emits: log lines (fields and messages),
//! exported spans (names, attributes, events, status messages, links), problem details, and
//! what it adds to AMQP headers. It has key rules (a field whose name contains `password`,
//! `token`, `auth`, … is masked whatever its value), value rules for free text (e-mail
//! addresses, Luhn-valid card numbers, JWTs, bearer tokens, API keys of ours and of common
//! services, URL userinfo and signed-URL parameters, optionally IP addresses), and HMAC
//! pseudonyms for values that must stay joinable. Every masking is counted in
//! `vos_redactions_total{rule}`.
//!
//! Logs and spans are process-wide, so the policy is too: [`install`] it once at start;
//! until then (and in tests that do not) the built-in rules apply.
//!
//! The notification payload is never given to any of this: it is delivered untouched and
//! never logged or exported (only its size).

mod detectors;

use std::{
    borrow::Cow,
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use hmac::{Hmac, KeyInit, Mac};
use regex::Regex;
use sha2::Sha256;

use detectors::Detectors;

/// Key rules: a field or attribute whose lower-cased name contains one of these is masked,
/// as Sentry Relay does.
const SENSITIVE_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "auth",
    "credential",
    "cookie",
    "session",
    "private_key",
    "privatekey",
    "mysql_pwd",
];

/// Names the gateway itself emits whose values are safe although they match a key rule: the
/// display prefix of an API key is what is shown instead of the key.
const ALLOWED_KEYS: &[&str] = &["auth.key_prefix"];

/// What a masked value becomes.
const MASK: &str = "[REDACTED]";

/// The rules of one deployment.
pub struct Policy {
    keys: Vec<String>,
    /// `name=value` pairs whose name is sensitive, in text written as such (pretty logs).
    key_values: Regex,
    detectors: Detectors,
    pseudonyms: Option<Hmac<Sha256>>,
}

/// What the policy is built from (`[privacy]`).
#[derive(Debug, Clone, Default)]
pub struct Rules<'a> {
    /// More key substrings, beyond the built-in ones.
    pub sensitive_keys: &'a [String],
    /// More value patterns (regular expressions).
    pub patterns: &'a [String],
    pub redact_ip_addresses: bool,
    /// The HMAC key for pseudonyms; empty: pseudonyms are not available.
    pub pseudonym_secret: &'a str,
}

impl Policy {
    /// The policy; an invalid custom pattern is named in the error.
    pub fn new(rules: &Rules<'_>) -> Result<Self, String> {
        let custom = rules
            .patterns
            .iter()
            .map(|pattern| Regex::new(pattern).map_err(|e| format!("`{pattern}`: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let keys: Vec<String> = SENSITIVE_KEYS
            .iter()
            .map(|key| key.to_string())
            .chain(rules.sensitive_keys.iter().map(|key| key.to_lowercase()))
            .collect();
        let alternatives: Vec<String> = keys.iter().map(|key| regex::escape(key)).collect();
        let key_values = Regex::new(&format!(
            r#"(?i)\b([A-Za-z0-9_.-]*(?:{})[A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|[^\s,}}]+)"#,
            alternatives.join("|")
        ))
        .map_err(|e| format!("sensitive_keys: {e}"))?;
        let pseudonyms = (!rules.pseudonym_secret.is_empty()).then(|| {
            Hmac::new_from_slice(rules.pseudonym_secret.as_bytes()).expect("any key length")
        });
        Ok(Self {
            keys,
            key_values,
            detectors: Detectors::new(rules.redact_ip_addresses, &custom),
            pseudonyms,
        })
    }

    /// Whether a field or attribute of this name holds something to mask whatever it is.
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        if ALLOWED_KEYS.contains(&key) {
            return false;
        }
        // Runs for every log field: compare in place rather than lower-casing a copy.
        let key = key.as_bytes();
        self.keys.iter().any(|sensitive| {
            key.windows(sensitive.len())
                .any(|window| window.eq_ignore_ascii_case(sensitive.as_bytes()))
        })
    }

    /// A named value: masked whole when the name is sensitive, else [`Policy::text`].
    pub fn field<'a>(&self, key: &str, value: &'a str) -> Cow<'a, str> {
        if self.is_sensitive_key(key) {
            count("key");
            return Cow::Borrowed(MASK);
        }
        self.text(value)
    }

    /// Free text with every value rule applied.
    pub fn text<'a>(&self, value: &'a str) -> Cow<'a, str> {
        match self.detectors.apply(value, count) {
            Some(masked) => Cow::Owned(masked),
            None => Cow::Borrowed(value),
        }
    }

    /// Text that writes fields as `name=value` (the pretty log format): the values of
    /// sensitive names are masked, then the value rules apply.
    pub fn key_values<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let masked = self.key_values.replace_all(text, |caps: &regex::Captures| {
            if ALLOWED_KEYS.contains(&&caps[1]) {
                return caps[0].to_owned();
            }
            count("key");
            format!("{}={MASK}", &caps[1])
        });
        match self.text(&masked) {
            Cow::Owned(both) => Cow::Owned(both),
            Cow::Borrowed(_) => match masked {
                Cow::Borrowed(_) => Cow::Borrowed(text),
                Cow::Owned(keys_only) => Cow::Owned(keys_only),
            },
        }
    }

    /// A stable stand-in for a value that must stay joinable (the same input, the same
    /// pseudonym) without being readable: HMAC-SHA-256 with `[privacy] pseudonym_secret`,
    /// 16 hex digits. A plain hash would let anyone confirm a guess. `None` without a secret.
    pub fn pseudonym(&self, value: &str) -> Option<String> {
        let mut mac = self.pseudonyms.clone()?;
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        Some(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// The policy for this process; the built-in rules until [`install`] is called.
pub fn policy() -> &'static Policy {
    installed().get_or_init(|| Policy::new(&Rules::default()).expect("built-in rules compile"))
}

/// Sets the process-wide policy; only the first call counts (telemetry is set up once).
pub fn install(policy: Policy) {
    let _ = installed().set(policy);
}

fn installed() -> &'static OnceLock<Policy> {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    &POLICY
}

/// The rules, for counters that exist at 0 from the start.
pub const RULE_NAMES: [&str; 10] = [
    "key",
    "jwt",
    "bearer",
    "api_key",
    "url_userinfo",
    "url_signature",
    "email",
    "card",
    "ip",
    "custom",
];

static COUNTS: [AtomicU64; RULE_NAMES.len()] = [const { AtomicU64::new(0) }; RULE_NAMES.len()];

/// How many values each rule masked so far, for `vos_redactions_total{rule}`.
pub fn counts() -> impl Iterator<Item = (&'static str, u64)> {
    RULE_NAMES
        .iter()
        .zip(&COUNTS)
        .map(|(rule, count)| (*rule, count.load(Ordering::Relaxed)))
}

fn count(rule: &'static str) {
    if let Some(index) = RULE_NAMES.iter().position(|name| *name == rule) {
        COUNTS[index].fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
