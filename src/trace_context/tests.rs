use std::str::FromStr;

use opentelemetry::trace::{SpanId, TraceId, TraceState};
use proptest::prelude::*;

use super::{
    tracestate::{MAX_MEMBERS, MAX_TRACESTATE_LEN},
    *,
};

/// The parsed fields, as the hex the header carried.
fn hex(tp: &TraceParent) -> (String, String, u8) {
    (
        TraceId::from_bytes(tp.trace_id).to_string(),
        SpanId::from_bytes(tp.parent_id).to_string(),
        tp.flags,
    )
}

/// The header re-emitted from the parsed fields.
fn reencoded(tp: &TraceParent) -> String {
    String::from_utf8(encode_traceparent(tp.trace_id, tp.parent_id, tp.flags).to_vec()).unwrap()
}

const TID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PID: &str = "00f067aa0ba902b7";
const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn traceparent_valid_cases() {
    let future = format!("cc-{TID}-{PID}-01-what-the-future-will-be-like");
    let cases = [
        (VALID.to_string(), 0x01),
        (format!(" \t{VALID}\t "), 0x01),
        (format!("00-{TID}-{PID}-00"), 0x00),
        (format!("00-{TID}-{PID}-ff"), 0xff),
        (format!("01-{TID}-{PID}-09"), 0x09),
        (future, 0x01),
        (format!("fe-{TID}-{PID}-01-\u{e9}"), 0x01),
    ];
    for (input, flags) in cases {
        let tp = TraceParent::parse(&input).unwrap_or_else(|| panic!("should parse: {input:?}"));
        assert_eq!(hex(&tp), (TID.into(), PID.into(), flags));
        assert_eq!(tp.sampled(), flags & 1 == 1);
        assert!(
            reencoded(&tp).starts_with("00-"),
            "always re-emitted as version 00"
        );
    }
    assert_eq!(
        TraceParent::parse(VALID).map(|t| reencoded(&t)).as_deref(),
        Some(VALID)
    );
}

#[test]
fn traceparent_invalid_cases() {
    let zero_t = "0".repeat(32);
    let cases = [
        String::new(),
        "   ".into(),
        format!("00-{zero_t}-{PID}-01"),
        format!("00-{TID}-0000000000000000-01"),
        VALID.to_uppercase(),
        format!("00-{}-{PID}-01", TID.to_uppercase()),
        format!("00-{TID}-{PID}-0A"),
        format!("0A-{TID}-{PID}-01"),
        format!("ff-{TID}-{PID}-01"),
        VALID[..54].to_string(),
        format!("{VALID}-"),
        format!("{VALID}0"),
        format!("00-{TID}-{PID}-01-extra"),
        format!("cc-{TID}-{PID}-01x"),
        format!("cc-{TID}-{PID}-01.future"),
        format!("00-{}g-{PID}-01", &TID[..31]),
        format!("00_{TID}-{PID}-01"),
        format!("00-{TID}_{PID}-01"),
        format!("00-{TID}-{PID}_01"),
        format!("00-{TID}-{PID}-1"),
        format!("00-{TID}-{PID}- 1"),
        format!("00 {TID}-{PID}-01"),
        format!("00-{TID}-{PID}-01\n"),
        format!("00-{TID}\u{a0}{PID}-01"),
        format!("00-{}\u{e9}-{PID}-01", &TID[..30]), // 55 bytes, non-ASCII inside
        format!("00-{}-{PID}-01", "\u{1f600}".repeat(8)),
        format!("00-{TID}-{PID}-01{}", "0".repeat(10 * 1024)),
        format!("cc-{TID}-{PID}-01x{}", "-".repeat(10 * 1024)),
        "-".repeat(10 * 1024),
    ];
    for input in cases {
        assert_eq!(TraceParent::parse(&input), None, "should reject: {input:?}");
    }
}

#[test]
fn span_context_is_remote_parent() {
    let tp = TraceParent::parse(VALID).expect("valid");
    let state = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
    let sc = tp.to_span_context(Some(state));
    assert!(sc.is_valid() && sc.is_remote() && sc.is_sampled());
    assert_eq!(sc.trace_id(), TraceId::from_bytes(tp.trace_id));
    assert_eq!(sc.span_id(), SpanId::from_bytes(tp.parent_id));
    assert_eq!(sc.trace_state().header(), state);
    for bad in [None, Some("a=1,a=2"), Some("K=v")] {
        assert_eq!(tp.to_span_context(bad).trace_state(), &TraceState::NONE);
    }
}

fn ts(values: &[&str]) -> Option<String> {
    sanitize_tracestate(values.iter().copied())
}

#[test]
fn tracestate_table() {
    let rojo = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
    let multi = "fw529a3039@dt=x,1t@sys=y,a_-*/0=z";
    let ok: [(&[&str], &str); 5] = [
        (&[rojo], rojo),
        (&["rojo=1", "congo=2"], "rojo=1,congo=2"),
        (&[" rojo=1 ,\t,, congo=2\t", "", ","], "rojo=1,congo=2"),
        (&[multi], multi),
        (&["k=a b ! ~"], "k=a b ! ~"),
    ];
    for (input, want) in ok {
        assert_eq!(ts(input).as_deref(), Some(want), "input {input:?}");
    }
    let bad = [
        "", ",, ,\t", "1abc=x", "Abc=x", "a b=x", "=x", "a@=x", "@b=x", "t@1sys=x", "t@Sys=x",
        "a@b@c=x", "_a=x", "k=", "k= ", "k=a=b", "k=a\tb", "k=\u{e9}", "k=\u{7f}", "k", "a=1,a=2",
        "ok=1,bad", "ok=1,B=2",
    ];
    for input in bad {
        assert_eq!(ts(&[input]), None, "should reject {input:?}");
    }
    assert_eq!(
        ts(&["a=1", "b=2", "a=3"]),
        None,
        "duplicates across headers"
    );
    // Length limits of § key and § value, each checked at the boundary.
    let (t, s, v) = (|n| "t".repeat(n), |n| "s".repeat(n), |n| "v".repeat(n));
    let limits = [
        (format!("{}=v", k(256)), true),
        (format!("{}=v", k(257)), false),
        (format!("{}@s=v", t(241)), true),
        (format!("{}@s=v", t(242)), false),
        (format!("t@{}=v", s(14)), true),
        (format!("t@{}=v", s(15)), false),
        (format!("k={}", v(256)), true),
        (format!("k={}", v(257)), false),
    ];
    for (input, valid) in limits {
        let want = valid.then(|| input.clone());
        assert_eq!(ts(&[&input]), want, "len {}", input.len());
    }
}

#[test]
fn tracestate_limits() {
    let many: Vec<String> = (0..40).map(|i| format!("k{i}=v")).collect();
    assert_eq!(ts(&[&many.join(",")]), Some(many[..32].join(",")));
    // 32 members of 20 chars = 671 chars; none is large, so drop from the right: 24 fit.
    let small: Vec<String> = (0..32)
        .map(|i| format!("k{i:02}={}", "v".repeat(16)))
        .collect();
    assert_eq!(ts(&[&small.join(",")]), Some(small[..24].join(",")));
    // Large (>128) members go first, right-most first, even when not at the end.
    let [b1, b2, b3] = ["b1", "b2", "b3"].map(|n| format!("{n}={}", "x".repeat(200)));
    let (b1, b2, b3) = (b1.as_str(), b2.as_str(), b3.as_str());
    let input = [b1, "s1=1", b2, "s2=2", b3, "s3=3"].join(",");
    let kept = [b1, "s1=1", b2, "s2=2", "s3=3"].join(",");
    assert_eq!(ts(&[&input]), Some(kept));
    // A single maximal member (513 chars) can never fit.
    assert_eq!(ts(&[&format!("{}={}", k(256), "v".repeat(256))]), None);
    // Input cap counts joining commas: exactly 8192 is parsed, 8193 refused.
    let pad = format!("a=1{}", ",".repeat(8192 - 3));
    assert_eq!(ts(&[&pad]).as_deref(), Some("a=1"));
    assert_eq!(ts(&[&pad, ""]), None);
    assert_eq!(ts(&[&"x".repeat(10 * 1024)]), None);
}

fn k(n: usize) -> String {
    format!("k{}", "a".repeat(n - 1))
}

#[test]
fn correlation_id_table() {
    for id in ["a", "abc-123_x.y:z", "550e8400-e29b-41d4-a716-446655440000"] {
        assert!(is_acceptable_correlation_id(id), "{id:?}");
    }
    assert!(is_acceptable_correlation_id(&"a".repeat(128)));
    let bad = [
        "", " ", "a b", "a/b", "a\nb", "a\rb", "\u{e9}", "id;drop", "a%20", "a\0",
    ];
    for id in bad {
        assert!(!is_acceptable_correlation_id(id), "{id:?}");
    }
    assert!(!is_acceptable_correlation_id(&"a".repeat(129)));
}

fn member() -> impl Strategy<Value = String> {
    // Mostly valid members (so output is usually Some), sized to hit both the 32-member
    // and the 512-char limits; printable values avoid ',' and '=' and end non-blank.
    let key = "([a-z][a-z0-9_*/-]{0,8}|[a-z0-9]{1,6}@[a-z][a-z0-9]{0,4})";
    let printable = "[!-+\\--<>-~][ -+\\--<>-~]{0,20}[!-+\\--<>-~]";
    let value = prop_oneof![2 => "[a-z0-9]{1,3}", 3 => printable, 1 => "[a-z]{100,250}"];
    (key, value).prop_map(|(k, v)| format!("{k}={v}"))
}

proptest! {
    #[test]
    fn parse_never_panics(s in any::<String>(), t in "[ \t]?[0-9a-fA-F\u{e9}-]{52,58}[ \t]?") {
        let _ = TraceParent::parse(&s);
        let _ = TraceParent::parse(&t);
        let _ = sanitize_tracestate([s.as_str(), t.as_str()]);
        let _ = is_acceptable_correlation_id(&s);
    }

    #[test]
    fn format_parse_round_trip(t in any::<[u8; 16]>(), p in any::<[u8; 8]>(), f in any::<u8>()) {
        prop_assume!(t != [0; 16] && p != [0; 8]);
        let header = String::from_utf8(encode_traceparent(t, p, f).to_vec()).unwrap();
        let tp = TraceParent::parse(&header);
        prop_assert_eq!(tp, Some(TraceParent { trace_id: t, parent_id: p, flags: f }));
        prop_assert_eq!(tp.map(|x| reencoded(&x)), Some(header));
    }

    #[test]
    fn sanitized_tracestate_is_stable(members in prop::collection::vec(member(), 0..40), sep in "[ \t]{0,2},[ \t]{0,2}") {
        let input = members.join(&sep);
        if let Some(out) = sanitize_tracestate([input.as_str()]) {
            prop_assert!(out.len() <= MAX_TRACESTATE_LEN);
            prop_assert!(out.split(',').count() <= MAX_MEMBERS);
            prop_assert_eq!(sanitize_tracestate([out.as_str()]), Some(out.clone()));
            let otel = TraceState::from_str(&out).map(|s| s.header()).ok();
            prop_assert_eq!(otel.as_deref(), Some(out.as_str()));
        }
    }
}
