//! Strict parsing of W3C Trace Context headers (<https://www.w3.org/TR/trace-context/>) and of
//! inbound correlation ids. Every input comes from untrusted clients, so nothing here may panic:
//! all indexing is on bytes after explicit length checks, and invalid input yields `None`/`false`.

use std::collections::HashSet;
use std::str::FromStr;

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// Length of a version-00 `traceparent`: 2 + 1 + 32 + 1 + 16 + 1 + 2.
pub const TRACEPARENT_LEN: usize = 55;
/// The spec's OWS is space and horizontal tab only (RFC 7230 §3.2.3), not all Unicode whitespace.
const OWS: [char; 2] = [' ', '\t'];
/// Refuse to even split absurd `tracestate` input; far above anything the spec asks us to keep.
const MAX_TRACESTATE_INPUT: usize = 8192;
/// § tracestate Limits: at most 32 list-members, and at least 512 combined chars to propagate.
const MAX_MEMBERS: usize = 32;
const MAX_TRACESTATE_LEN: usize = 512;
/// § tracestate Limits: members longer than this are the first to go when truncating.
const LARGE_MEMBER: usize = 128;

/// A parsed, valid `traceparent` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// 16-byte trace id; never all zero.
    pub trace_id: [u8; 16],
    /// 8-byte id of the caller's span; never all zero.
    pub parent_id: [u8; 8],
    /// Raw trace-flags byte as received (bit 0 is `sampled`).
    pub flags: u8,
}

impl TraceParent {
    /// Strict parse of a `traceparent` value. Leading/trailing OWS is trimmed; version `ff`,
    /// uppercase hex, all-zero ids, wrong separators or a wrong length yield `None`. Versions
    /// above `00` are parsed by their first 55 chars (forward compatibility).
    ///
    /// ```
    /// use vos_gateway::trace_context::TraceParent;
    ///
    /// let parent = TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
    /// assert!(parent.sampled());
    /// assert_eq!(parent.trace_id_hex(), "0af7651916cd43dd8448eb211c80319c");
    /// // All-zero trace ids and uppercase hex are invalid: the caller starts a new trace.
    /// assert!(TraceParent::parse("00-00000000000000000000000000000000-b7ad6b7169203331-01").is_none());
    /// assert!(TraceParent::parse("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01").is_none());
    /// ```
    pub fn parse(value: &str) -> Option<Self> {
        // Work on bytes: slicing a &str at a non-char boundary would panic on Unicode input,
        // and any non-ASCII byte fails the hex/separator checks anyway.
        let b = value.trim_matches(OWS).as_bytes();
        if b.len() < TRACEPARENT_LEN {
            return None;
        }
        // § version: 2 lowercase hex digits; `ff` is forbidden.
        let [version] = decode_hex::<1>(&b[0..2])?;
        match version {
            0xff => return None,
            // § traceparent Header Field Values: version 00 has exactly four fields.
            0x00 if b.len() != TRACEPARENT_LEN => return None,
            // § Versioning of traceparent: a future version may append fields, but only after
            // a '-' so that the first 55 chars still parse as version 00.
            _ if b.len() > TRACEPARENT_LEN && b[TRACEPARENT_LEN] != b'-' => return None,
            _ => {}
        }
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let trace_id = decode_hex::<16>(&b[3..35])?;
        let parent_id = decode_hex::<8>(&b[36..52])?;
        let [flags] = decode_hex::<1>(&b[53..55])?;
        // § trace-id / § parent-id: all-zero values are invalid and must be ignored.
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// Whether the caller recorded its span (§ Sampled flag, bit 0 of trace-flags).
    pub fn sampled(&self) -> bool {
        self.flags & 0x01 != 0
    }

    /// Re-emits the header as version 00, the only version this gateway produces.
    pub fn to_header(&self) -> String {
        format_traceparent(self.trace_id, self.parent_id, self.flags)
    }

    /// The trace id as 32 lowercase hex chars.
    pub fn trace_id_hex(&self) -> String {
        encode_hex(&self.trace_id)
    }

    /// The parent id as 16 lowercase hex chars.
    pub fn parent_id_hex(&self) -> String {
        encode_hex(&self.parent_id)
    }

    /// A remote `SpanContext` for use as parent (`is_remote = true`), carrying `tracestate`.
    /// The tracestate is re-sanitised (idempotent) so a raw header passed by mistake cannot
    /// smuggle invalid members into OpenTelemetry's more lenient `TraceState::from_str`.
    pub fn to_span_context(&self, tracestate: Option<&str>) -> SpanContext {
        let state = tracestate
            .and_then(|s| sanitize_tracestate([s]))
            .and_then(|s| TraceState::from_str(&s).ok())
            .unwrap_or_default();
        SpanContext::new(
            TraceId::from_bytes(self.trace_id),
            SpanId::from_bytes(self.parent_id),
            TraceFlags::new(self.flags),
            true,
            state,
        )
    }
}

/// Formats a version-00 `traceparent` header value from raw ids and flags.
pub fn format_traceparent(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> String {
    let bytes = traceparent_bytes(trace_id, span_id, flags);
    // Only ASCII digits, hex and '-' are written.
    String::from_utf8_lossy(&bytes).into_owned()
}

/// [`format_traceparent`] into a stack buffer: the server answers every request with one.
pub fn traceparent_bytes(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> [u8; TRACEPARENT_LEN] {
    let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
    write_hex(&mut out[3..35], &trace_id);
    write_hex(&mut out[36..52], &span_id);
    write_hex(&mut out[53..55], &[flags]);
    out
}

fn write_hex(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

/// Parses and sanitises one or more `tracestate` header values (joined with ',' as the spec's
/// combined header). Returns the normalised `k=v,k2=v2` list, or `None` when the input is
/// invalid (any bad member or duplicate key), larger than 8192 bytes, or empty.
pub fn sanitize_tracestate<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut total = 0usize;
    let mut members: Vec<&'a str> = Vec::new();
    let mut keys: HashSet<&'a str> = HashSet::new();
    for (i, value) in values.into_iter().enumerate() {
        // Count the joining ',' too, so a flood of empty header values is also bounded.
        total = total
            .saturating_add(value.len())
            .saturating_add(usize::from(i > 0));
        if total > MAX_TRACESTATE_INPUT {
            return None;
        }
        // § list: empty members and OWS around members are allowed and carry nothing.
        for member in value.split(',').map(|m| m.trim_matches(OWS)) {
            if member.is_empty() {
                continue;
            }
            // Gateway policy (the spec lets a receiver drop a tracestate it cannot parse): one
            // malformed member or a duplicate key (ambiguous: which vendor value wins?) discards
            // the whole header rather than forwarding a partially trusted list.
            let (key, val) = member.split_once('=')?;
            if !valid_key(key) || !valid_value(val) || !keys.insert(key) {
                return None;
            }
            members.push(member);
        }
    }
    // § tracestate Limits: keep at most 32 members (right-most are the least recently added).
    members.truncate(MAX_MEMBERS);
    // § tracestate Limits: to fit 512 chars, first drop members over 128 chars from the right,
    // then plain right-most members.
    while joined_len(&members) > MAX_TRACESTATE_LEN {
        let victim = members
            .iter()
            .rposition(|m| m.len() > LARGE_MEMBER)
            .or(members.len().checked_sub(1));
        match victim {
            Some(i) => drop(members.remove(i)),
            None => break,
        }
    }
    (!members.is_empty()).then(|| members.join(","))
}

/// Whether an inbound X-Correlation-ID / X-Request-ID is "short and plain" enough to reuse:
/// 1..=128 bytes of ASCII alphanumerics or `-_.:`. Otherwise the gateway generates its own,
/// so clients cannot inject log-forging or oversized values into logs and responses.
pub fn is_acceptable_correlation_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

fn joined_len(members: &[&str]) -> usize {
    members.iter().map(|m| m.len()).sum::<usize>() + members.len().saturating_sub(1)
}

/// § key: `simple-key = lcalpha 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/")`, or
/// `tenant-id "@" system-id` with `tenant-id = (lcalpha / DIGIT) 0*240(...)` and
/// `system-id = lcalpha 0*13(...)`.
fn valid_key(key: &str) -> bool {
    match key.split_once('@') {
        None => key_part(key, 256, |c| c.is_ascii_lowercase()),
        Some((tenant, system)) => {
            key_part(tenant, 241, |c| {
                c.is_ascii_lowercase() || c.is_ascii_digit()
            }) && key_part(system, 14, |c| c.is_ascii_lowercase())
        }
    }
}

fn key_part(part: &str, max: usize, first: impl Fn(u8) -> bool) -> bool {
    let b = part.as_bytes();
    // '@' is not in the tail alphabet, so a second '@' in the system-id is rejected here.
    let tail = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/".contains(c);
    b.len() <= max && b.first().is_some_and(|&c| first(c)) && b.iter().all(tail)
}

/// § value: `0*255(chr) nblk-chr`, where chr is 0x20-0x7E minus ',' and '=', and the last
/// char is not a space.
fn valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    (1..=256).contains(&b.len())
        && b.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && b.last() != Some(&b' ')
}

/// Decodes exactly `2 * N` lowercase hex digits; uppercase is invalid per § traceparent
/// Header Field Values ("HEXDIGLC").
fn decode_hex<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests;
