//! Generated inputs: JSON bodies with control characters and escapes in keys and values, lone
//! surrogate escapes, huge and tiny numbers, deep nesting, long and duplicate keys, and odd
//! header values. Every answer must be a 2xx or a 4xx problem (never a 5xx), and every 202
//! must be stored and delivered byte for byte as the payload it accepted.

use std::time::Duration;

use proptest::{prelude::*, test_runner::TestRunner};
use serde_json::Value;

use crate::helpers::{Broker, TestApp};

/// A JSON string literal: plain text, escapes (`\u0000`, lone surrogates, pairs), raw control
/// characters (invalid JSON), quotes and backslashes.
fn string_literal() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9 _.-]{0,8}",
        Just(r"\u0000".to_owned()),
        Just(r"\ud800".to_owned()),
        Just(r"\udfff".to_owned()),
        Just(r"\ud83d\ude00".to_owned()),
        Just(r#"\"\\\/\b\f\n\r\t"#.to_owned()),
        Just("\u{1}".to_owned()),
        Just("é😀\u{7f}".to_owned()),
        Just(r"\x41".to_owned()),
    ];
    prop::collection::vec(piece, 0..4).prop_map(|pieces| format!("\"{}\"", pieces.concat()))
}

/// A JSON value as text, valid or not.
fn value() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        Just("0".to_owned()),
        Just("-0.0".to_owned()),
        Just("1e999999".to_owned()),
        Just("-1e-999999".to_owned()),
        Just("123456789012345678901234567890".to_owned()),
        Just("1.5E+3".to_owned()),
        Just("01".to_owned()),
        Just("NaN".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
    ];
    let leaf = prop_oneof![
        number,
        string_literal(),
        Just("true".into()),
        Just("null".into())
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((string_literal(), inner), 0..4).prop_map(|members| {
                let members: Vec<String> = members
                    .into_iter()
                    .map(|(k, v)| format!("{k}:{v}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// A payload: usually an object (sometimes with a duplicate or a very long key, sometimes
/// nested past any parser's limit), sometimes something else.
fn payload() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec((string_literal(), value()), 0..5).prop_map(|members| {
            let members: Vec<String> = members.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("{{{}}}", members.join(","))
        }),
        1 => value().prop_map(|v| format!(r#"{{"dup":{v},"dup":{v}}}"#)),
        1 => Just(format!(r#"{{"{}":1}}"#, "k".repeat(20_000))),
        1 => (1usize..200).prop_map(|depth| format!("{{\"a\":{}1{}}}", "[".repeat(depth), "]".repeat(depth))),
        1 => value(),
    ]
}

/// A header value: printable, or with bytes HTTP allows but text does not expect.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[ -~]{0,40}".prop_map(String::into_bytes),
        prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')], 0..40),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    notification_type: String,
    payload: String,
    correlation_id: Option<Vec<u8>>,
    idempotency_key: Option<Vec<u8>>,
    traceparent: Option<Vec<u8>>,
}

fn case() -> impl Strategy<Value = Case> {
    // The payload is what is under test: the other fields are mostly well-formed, so that most
    // cases reach the store (and some are refused for them).
    let notification_type = prop_oneof![
        4 => Just("\"user_message\"".to_owned()),
        1 => string_literal(),
    ];
    let header = || prop::option::weighted(0.3, header_value());
    (notification_type, payload(), header(), header(), header()).prop_map(
        |(notification_type, payload, correlation_id, idempotency_key, traceparent)| Case {
            notification_type,
            payload,
            correlation_id,
            idempotency_key,
            traceparent,
        },
    )
}

#[test]
fn every_input_is_stored_exactly_or_refused_with_a_4xx_problem() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (app, broker, agent) = runtime.block_on(async {
        let app = TestApp::spawn().await;
        let agent = app.agent().await;
        (app, Broker::connect().await, agent)
    });
    let queue = format!("{agent}_queue");
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 150,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let accepted = std::cell::Cell::new(0);
    runner
        .run(&case(), |case| {
            let body = format!(
                r#"{{"notification_type":{},"source":"generated","payload":{}}}"#,
                case.notification_type, case.payload
            );
            let mut request = app
                .notify_request(&agent)
                .header("content-type", "application/json")
                .body(body);
            for (name, value) in [
                ("x-correlation-id", &case.correlation_id),
                ("idempotency-key", &case.idempotency_key),
                ("traceparent", &case.traceparent),
            ] {
                if let Some(Ok(value)) = value
                    .as_deref()
                    .map(reqwest::header::HeaderValue::from_bytes)
                {
                    request = request.header(name, value);
                }
            }
            let (status, content_type, replayed, text) = runtime.block_on(async {
                let response = request.send().await.expect("an answer");
                let header = |name| {
                    response
                        .headers()
                        .get(name)
                        .map(|v: &reqwest::header::HeaderValue| {
                            v.to_str().unwrap_or_default().to_owned()
                        })
                        .unwrap_or_default()
                };
                let (content_type, replayed) =
                    (header("content-type"), header("idempotent-replayed"));
                (
                    response.status().as_u16(),
                    content_type,
                    replayed == "true",
                    response.text().await.unwrap(),
                )
            });
            prop_assert!(status < 500, "{status} for {case:?}: {text}");
            if status != 202 {
                prop_assert!((400..500).contains(&status));
                prop_assert_eq!(content_type, "application/problem+json");
                return Ok(());
            }
            if replayed {
                return Ok(()); // A generated Idempotency-Key came up twice: nothing new was sent.
            }
            accepted.set(accepted.get() + 1);
            let answer: Value = serde_json::from_str(&text).unwrap();
            let id = answer["notification_id"].as_str().unwrap().to_owned();
            let (stored, delivered) = runtime.block_on(async {
                let stored: String = sqlx::query_scalar(
                    "select payload::text from notifications where notification_id = $1::uuid",
                )
                .bind(&id)
                .fetch_one(&app.db)
                .await
                .unwrap();
                let message = broker
                    .next_message(&queue, Duration::from_secs(10))
                    .await
                    .expect("the message");
                (
                    stored,
                    String::from_utf8(message.delivery.data.clone()).unwrap(),
                )
            });
            // `"payload": null` means no payload, `{}` (the documented contract); anything
            // else accepted is kept byte for byte.
            let sent = if case.payload == "null" {
                "{}"
            } else {
                case.payload.as_str()
            };
            prop_assert_eq!(stored.as_str(), sent);
            let expected_payload = format!(r#""payload":{sent}"#);
            prop_assert!(delivered.contains(&expected_payload), "{}", delivered);
            Ok(())
        })
        .unwrap();
    let accepted = accepted.get();
    assert!(
        accepted > 10,
        "the generator reaches the accepting path ({accepted} accepted)"
    );
    drop(runtime);
}
