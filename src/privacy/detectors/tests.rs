use super::*;

fn detectors() -> Detectors {
    Detectors::new(true, &[])
}

/// Secrets and personal data in free text, each of which must be masked.
const POSITIVES: &[&str] = &[
    "contact jane.doe@example.com please",
    "reply-to: a.b+tag@mail.example.co.uk",
    "card 4111 1111 1111 1111 declined",
    "card 4111-1111-1111-1111",
    "amex 378282246310005",
    "mc 5555555555554444",
    "discover 6011111111111117",
    "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "Authorization: Bearer abcdefghijklmnop",
    "bearer 0123456789abcdef0123",
    "key vos_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCd",
    "gh token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv",
    "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "stripe rk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "aws AKIAIOSFODNN7EXAMPLE",
    "slack xoxb-123456789012-abcdefghij",
    "db postgres://admin:hunter2@db.internal:5432/vos",
    "amqp://guest:guest@rabbit:5672/%2f",
    "https://user@example.com/path",
    "https://bucket.s3.amazonaws.com/o?AWSAccessKeyId=AKIA123&Signature=abc%2Bdef&Expires=1",
    "https://storage.googleapis.com/b/o?X-Goog-Signature=deadbeef&X-Goog-Date=1",
    "https://x.blob.core.windows.net/c/b?sv=2020&sig=abcdef%3D",
    "https://s3.example.com/k?X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=0f0f",
    "client 203.0.113.7 refused",
    "from 192.168.1.20",
    "v6 2001:db8:85a3::8a2e:370:7334 seen",
    "v6 full 2001:0db8:0000:0000:0000:ff00:0042:8329",
    "ip 10.0.0.1, card 4242424242424242",
    "mail me at x@y.io",
];

/// Look-alikes that must stay as they are: ids the gateway itself logs, and ordinary text.
const NEGATIVES: &[&str] = &[
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00f067aa0ba902b7",
    "550e8400-e29b-41d4-a716-446655440000",
    "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
    "notification 1234567890123 (13 digits, Luhn-invalid)",
    "order 4111 1111 1111 1112",
    "version 1.2.3.4.5",
    "duration_ms 123.456",
    "http.route /api/v1/agents/{agent_id}/notify",
    "agent weather_agent_queue",
    "display prefix vos_AbCd1234",
    "eyJ alone is not a token",
    "bearer",
    "user@localhost",
    "a@b",
    "https://example.com/path?page=2&sort=asc",
    "postgres://db.internal:5432/vos",
    "the time is 12:30:45",
    "urn:vos:problem:rate-limited",
    "RateLimit: \"key\";r=99;t=1",
    "correlation order-4711:retry.2",
    "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "counts 1000000 2000000",
    "phone 555 0100",
    "notify_returns_422_for_an_invalid_agent_id",
    "Idempotency-Key order-4711-1",
    "queue_depth 42 consumers 3",
    "trace 0af7651916cd43dd8448eb211c80319c",
    "span b7ad6b7169203331",
];

#[test]
fn the_rules_catch_at_least_95_percent_and_leave_look_alikes_alone() {
    let detectors = detectors();
    let missed: Vec<&&str> = POSITIVES
        .iter()
        .filter(|text| detectors.apply(text, |_| {}).is_none())
        .collect();
    let recall = 1.0 - missed.len() as f64 / POSITIVES.len() as f64;
    assert!(recall >= 0.95, "recall {recall:.2}; missed {missed:#?}");
    let false_positives: Vec<(&&str, String)> = NEGATIVES
        .iter()
        .filter_map(|text| detectors.apply(text, |_| {}).map(|masked| (text, masked)))
        .collect();
    assert!(false_positives.is_empty(), "{false_positives:#?}");
}

#[test]
fn a_match_keeps_the_surrounding_text_and_names_its_rule() {
    let detectors = detectors();
    let mut fired = Vec::new();
    let masked = detectors
        .apply(
            "to jane@example.com via https://u:p@h.example/x?sig=abc&a=1",
            |rule| fired.push(rule),
        )
        .unwrap();
    assert_eq!(
        masked,
        "to [REDACTED:email] via https://[REDACTED:url_userinfo]h.example/x?sig=[REDACTED:url_signature]&a=1"
    );
    fired.sort();
    assert_eq!(fired, ["email", "url_signature", "url_userinfo"]);
}

#[test]
fn a_uuid_whose_tail_passes_the_luhn_check_is_not_a_card() {
    // "8653-416782620927": 16 digits that pass the Luhn check, split where no card is.
    let text = "d8093e08-e97c-4985-8653-416782620927";
    assert!(detectors().apply(text, |_| {}).is_none());
}

#[test]
fn random_trace_ids_and_uuids_are_never_masked() {
    let detectors = detectors();
    for _ in 0..2000 {
        let uuid = uuid::Uuid::new_v4();
        for text in [uuid.to_string(), uuid.simple().to_string()] {
            assert!(detectors.apply(&text, |_| {}).is_none(), "{text}");
        }
    }
}
