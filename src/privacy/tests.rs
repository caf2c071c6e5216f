use super::*;

fn policy(rules: Rules<'_>) -> Policy {
    Policy::new(&rules).unwrap()
}

#[test]
fn a_sensitive_key_masks_its_value_whatever_it_is() {
    let policy = policy(Rules::default());
    for key in [
        "password",
        "X-Api-Key",
        "authorization",
        "session_id",
        "db.credentials",
    ] {
        assert_eq!(policy.field(key, "plain words"), MASK, "{key}");
    }
    assert_eq!(
        policy.field("notification_type", "user_message"),
        "user_message"
    );
}

#[test]
fn configured_keys_and_patterns_extend_the_built_in_rules() {
    let keys = ["Customer_Ref".to_owned()];
    let patterns = [r"\bCUST-\d{6}\b".to_owned()];
    let policy = policy(Rules {
        sensitive_keys: &keys,
        patterns: &patterns,
        ..Rules::default()
    });
    assert_eq!(policy.field("customer_ref", "x"), MASK);
    assert_eq!(
        policy.text("for CUST-123456 only"),
        "for [REDACTED:custom] only"
    );
    assert!(
        Policy::new(&Rules {
            patterns: &["(".to_owned()],
            ..Rules::default()
        })
        .is_err()
    );
}

#[test]
fn ip_addresses_are_masked_only_when_asked() {
    let text = "client 203.0.113.7";
    assert_eq!(policy(Rules::default()).text(text), text);
    let strict = policy(Rules {
        redact_ip_addresses: true,
        ..Rules::default()
    });
    assert_eq!(strict.text(text), "client [REDACTED:ip]");
}

#[test]
fn pseudonyms_are_keyed_stable_and_not_a_plain_hash() {
    use sha2::Digest;
    let keyed = policy(Rules {
        pseudonym_secret: "pepper-1",
        ..Rules::default()
    });
    let other = policy(Rules {
        pseudonym_secret: "pepper-2",
        ..Rules::default()
    });
    let first = keyed.pseudonym("203.0.113.7").unwrap();
    assert_eq!(first.len(), 16);
    assert_eq!(keyed.pseudonym("203.0.113.7").unwrap(), first);
    assert_ne!(other.pseudonym("203.0.113.7").unwrap(), first);
    let plain: String = sha2::Sha256::digest(b"203.0.113.7")[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_ne!(first, plain);
    assert_eq!(policy(Rules::default()).pseudonym("x"), None);
}

#[test]
fn every_masking_is_counted_by_rule() {
    let policy = policy(Rules::default());
    let before: u64 = counts()
        .filter(|(rule, _)| *rule == "email")
        .map(|(_, n)| n)
        .sum();
    policy.text("a@example.com and b@example.com");
    let after: u64 = counts()
        .filter(|(rule, _)| *rule == "email")
        .map(|(_, n)| n)
        .sum();
    assert!(after >= before + 2);
}

#[test]
fn name_value_text_masks_sensitive_names_and_then_values() {
    let policy = policy(Rules::default());
    let line = r#"INFO request completed password="hunter2 x" api_key=abc auth.key_prefix=vos_AbCd1234 to=a@example.com n=1"#;
    assert_eq!(
        policy.key_values(line),
        r#"INFO request completed password=[REDACTED] api_key=[REDACTED] auth.key_prefix=vos_AbCd1234 to=[REDACTED:email] n=1"#
    );
}
