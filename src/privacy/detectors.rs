//! Value rules: what a secret or a piece of personal data looks like in free text.

use regex::{Captures, Regex, RegexSet};

/// One value rule: its label in `vos_redactions_total{rule}`, its pattern, and how much of a
/// match it replaces.
pub(super) struct Detector {
    pub rule: &'static str,
    regex: Regex,
    keep: Keep,
}

/// What a match keeps of itself.
#[derive(Clone, Copy)]
enum Keep {
    /// Nothing: `[REDACTED:rule]`.
    Nothing,
    /// The first capture group (a URL scheme, a query parameter's name) before the mask.
    Prefix,
    /// The match is only a candidate: masked if its digits pass the Luhn check.
    LuhnDigits,
    /// The match is only a candidate: masked if the whole of it is an IP address.
    IpAddress,
}

/// The built-in rules, most specific first (a JWT before a bearer token containing it).
const RULES: &[(&str, &str, Keep)] = &[
    (
        "jwt",
        r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
        Keep::Nothing,
    ),
    (
        "bearer",
        r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}",
        Keep::Nothing,
    ),
    (
        "api_key",
        r"\b(?:vos_[A-Za-z0-9]{38}|gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,}|[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,})\b",
        Keep::Nothing,
    ),
    (
        "url_userinfo",
        r"(?i)([a-z][a-z0-9+.-]*://)[^\s/:@]+(?::[^\s/@]*)?@",
        Keep::Prefix,
    ),
    (
        "url_signature",
        r"([?&](?:AWSAccessKeyId|Signature|sig|X-Goog-Signature|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token)=)[^&\s#]+",
        Keep::Prefix,
    ),
    (
        "email",
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
        Keep::Nothing,
    ),
    // Card numbers as people write them: one run of digits, or groups of 4 (Amex 4-6-5). A
    // separator anywhere else is not a card: "8653-416782620927", the tail of a UUID, would
    // otherwise pass the Luhn check one time in ten.
    (
        "card",
        r"\b(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2}[ -]\d{1,7}|\d{4}[ -]\d{6}[ -]\d{4,5})\b",
        Keep::LuhnDigits,
    ),
];

/// Addresses, redacted only when `[privacy] redact_ip_addresses` is on: they are often what an
/// operator needs, and in many places they are personal data. The pattern finds candidates
/// (dotted or colon-separated runs); only those that parse as an address whole are masked, so
/// a version `1.2.3.4.5` or a time `12:30:45` stays.
const IP_RULE: (&str, &str) = (
    "ip",
    r"[0-9][0-9.]{6,}[0-9]|[0-9A-Fa-f]*:[0-9A-Fa-f:]*:[0-9A-Fa-f.]*",
);

/// The value rules of one policy, with a set that tells in one pass whether any applies.
pub(super) struct Detectors {
    any: RegexSet,
    all: Vec<Detector>,
}

impl Detectors {
    pub fn new(redact_ips: bool, custom: &[Regex]) -> Self {
        let mut all: Vec<Detector> = RULES
            .iter()
            .map(|(rule, pattern, keep)| Detector {
                rule,
                regex: Regex::new(pattern).expect("built-in patterns compile"),
                keep: *keep,
            })
            .collect();
        if redact_ips {
            all.push(Detector {
                rule: IP_RULE.0,
                regex: Regex::new(IP_RULE.1).expect("built-in patterns compile"),
                keep: Keep::IpAddress,
            });
        }
        all.extend(custom.iter().map(|regex| Detector {
            rule: "custom",
            regex: regex.clone(),
            keep: Keep::Nothing,
        }));
        let any = RegexSet::new(all.iter().map(|d| d.regex.as_str())).expect("patterns compile");
        Self { any, all }
    }

    /// `text` with every match masked, and the rules that fired; `None` when nothing matched
    /// (the common case, decided in one pass over the text).
    pub fn apply(&self, text: &str, mut fired: impl FnMut(&'static str)) -> Option<String> {
        let matched = self.any.matches(text);
        if !matched.matched_any() {
            return None;
        }
        let mut out = text.to_owned();
        let mut changed = false;
        for index in matched.iter() {
            let detector = &self.all[index];
            let replaced =
                detector
                    .regex
                    .replace_all(&out, |caps: &Captures| match detector.mask(caps) {
                        Some(mask) => {
                            fired(detector.rule);
                            changed = true;
                            mask
                        }
                        None => caps[0].to_owned(),
                    });
            out = replaced.into_owned();
        }
        changed.then_some(out)
    }
}

impl Detector {
    fn mask(&self, caps: &Captures) -> Option<String> {
        let masked = format!("[REDACTED:{}]", self.rule);
        match self.keep {
            Keep::Nothing => Some(masked),
            Keep::Prefix => Some(format!("{}{masked}", &caps[1])),
            Keep::LuhnDigits => luhn(&caps[0]).then_some(masked),
            Keep::IpAddress => caps[0]
                .parse::<std::net::IpAddr>()
                .is_ok()
                .then_some(masked),
        }
    }
}

/// The Luhn checksum of the digits in `candidate` (13 to 19 of them, as card numbers have).
fn luhn(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests;
