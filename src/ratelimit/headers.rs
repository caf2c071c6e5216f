//! The IETF `RateLimit-Policy` and `RateLimit` field values (draft-ietf-httpapi-ratelimit-headers)
//! for the quotas that applied to one request, e.g. `"key";q=100;w=1, "agent";q=1000;w=1`.
//!
//! They are built on every response, so they are written into a stack buffer and copied once
//! into the `HeaderValue`; only an unusually long list falls back to a `String`.

use std::fmt::{self, Write};

use axum::http::HeaderValue;

use super::{Quota, decision::ceil_secs};

/// `RateLimit-Policy`: each policy's name, `q` (requests per window) and `w` (window seconds,
/// at least 1). An empty `quotas` gives an empty value: leave the field out then.
pub fn policy_header(quotas: &[Quota]) -> HeaderValue {
    render(quotas, |out, quota| {
        let window = ceil_secs(quota.window).max(1);
        write!(out, "\"{}\";q={};w={window}", quota.policy, quota.limit)
    })
}

/// `RateLimit`: each policy's name, `r` (requests remaining) and `t` (whole seconds, rounded
/// up, until the bucket is full again).
pub fn ratelimit_header(quotas: &[Quota]) -> HeaderValue {
    render(quotas, |out, quota| {
        let reset = ceil_secs(quota.reset);
        write!(out, "\"{}\";r={};t={reset}", quota.policy, quota.remaining)
    })
}

/// Panics unless `name` can stand between quotes in a structured field as it is. Checked when
/// a limiter is made, so rendering never has to escape.
pub(super) fn check_policy_name(name: &str) {
    let plain = |b: u8| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\';
    assert!(
        !name.is_empty() && name.bytes().all(plain),
        "policy name {name:?} must be printable ASCII without '\"' or '\\'"
    );
}

/// Room for two quotas with long names and large numbers; the fields are ~28 bytes each.
const STACK_BYTES: usize = 128;

fn render(quotas: &[Quota], item: impl Fn(&mut dyn Write, &Quota) -> fmt::Result) -> HeaderValue {
    let mut stack = StackBuf::default();
    let value = if write_list(&mut stack, quotas, &item).is_ok() {
        HeaderValue::from_bytes(stack.as_bytes())
    } else {
        let mut heap = String::with_capacity(2 * STACK_BYTES);
        write_list(&mut heap, quotas, &item).expect("writing to a String cannot fail");
        HeaderValue::try_from(heap)
    };
    value.expect("policy names are checked and numbers are ASCII")
}

/// A structured-field list: items separated by `", "`.
fn write_list(
    out: &mut dyn Write,
    quotas: &[Quota],
    item: &impl Fn(&mut dyn Write, &Quota) -> fmt::Result,
) -> fmt::Result {
    for (i, quota) in quotas.iter().enumerate() {
        if i > 0 {
            out.write_str(", ")?;
        }
        item(out, quota)?;
    }
    Ok(())
}

/// A fixed buffer that reports an error, rather than growing, when full.
struct StackBuf {
    bytes: [u8; STACK_BYTES],
    len: usize,
}

impl Default for StackBuf {
    fn default() -> Self {
        Self {
            bytes: [0; STACK_BYTES],
            len: 0,
        }
    }
}

impl StackBuf {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn quota(policy: &'static str, limit: u32, remaining: u32, reset_ms: u64) -> Quota {
        Quota {
            policy,
            limit,
            window: Duration::from_secs(1),
            remaining,
            reset: Duration::from_millis(reset_ms),
        }
    }

    #[test]
    fn one_quota_gives_one_item_per_field() {
        let quotas = [quota("key", 100, 99, 10)];
        assert_eq!(policy_header(&quotas), "\"key\";q=100;w=1");
        assert_eq!(ratelimit_header(&quotas), "\"key\";r=99;t=1");
    }

    #[test]
    fn two_quotas_are_listed_in_order_separated_by_comma_space() {
        let quotas = [quota("key", 100, 99, 10), quota("agent", 1000, 999, 1)];
        assert_eq!(
            policy_header(&quotas),
            "\"key\";q=100;w=1, \"agent\";q=1000;w=1"
        );
        assert_eq!(
            ratelimit_header(&quotas),
            "\"key\";r=99;t=1, \"agent\";r=999;t=1"
        );
    }

    #[test]
    fn seconds_are_rounded_up_and_a_full_bucket_resets_in_zero() {
        let mut hourly = quota("client", 5, 0, 2_000_001);
        hourly.window = Duration::from_secs(3600);
        let full = quota("key", 10, 10, 0);
        assert_eq!(
            policy_header(&[hourly, full]),
            "\"client\";q=5;w=3600, \"key\";q=10;w=1"
        );
        assert_eq!(
            ratelimit_header(&[hourly, full]),
            "\"client\";r=0;t=2001, \"key\";r=10;t=0"
        );
    }

    #[test]
    fn a_list_longer_than_the_stack_buffer_is_still_written_whole() {
        let quotas = [quota("a-rather-long-policy-name", u32::MAX, u32::MAX, 0); 6];
        let value = policy_header(&quotas);
        let item = format!("\"a-rather-long-policy-name\";q={};w=1", u32::MAX);
        assert_eq!(value.to_str().unwrap(), vec![item; 6].join(", "));
    }

    #[test]
    fn no_quotas_give_an_empty_value() {
        assert_eq!(policy_header(&[]), "");
        assert_eq!(ratelimit_header(&[]), "");
    }
}
