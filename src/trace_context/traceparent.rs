//! The `traceparent` header (W3C Trace Context § 3.2), parsed strictly and written without
//! allocating.

use std::str::FromStr;

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

use super::{OWS, sanitize_tracestate};

/// Length of a version-00 `traceparent`: 2 + 1 + 32 + 1 + 16 + 1 + 2.
pub const TRACEPARENT_LEN: usize = 55;

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
    /// assert_eq!(parent.parent_id, [0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31]);
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

/// A version-00 `traceparent` value, written into a stack buffer: the server answers every
/// request with one.
pub fn encode_traceparent(
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
) -> [u8; TRACEPARENT_LEN] {
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

/// Decodes exactly `2 * N` lowercase hex digits; uppercase is invalid per § traceparent
/// Header Field Values ("HEXDIGLC").
pub(super) fn decode_hex<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
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
