//! The first start against an empty key table makes exactly one admin key: the configured
//! one (`VOS_BOOTSTRAP_ADMIN_KEY`), or a generated one shown once on standard error, never in
//! the JSON log stream, never again, and only once however many replicas start together.

use serde_json::Value;
use vos_gateway::domain::ApiKey;

use crate::helpers::{
    GatewayProcess, TestDatabase, admin_key, amqp_url, gateway_command, secret_parts,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_bootstrap_key_becomes_the_one_admin_key_and_nothing_is_shown() {
    // Arrange: `VOS_BOOTSTRAP_ADMIN_KEY` set (the harness sets it), an empty key table.
    let gateway = GatewayProcess::builder().start().await;

    // Act
    let keys: Value = gateway
        .get("/api/v1/keys")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let exited = gateway.stop().await;

    // Assert
    let keys = keys["keys"].as_array().expect("the admin key lists keys");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0]["display_prefix"], &admin_key()[..12]);
    assert_eq!(keys[0]["scopes"], serde_json::json!(["admin"]));
    assert!(!exited.stderr.contains("vos_"), "{}", exited.stderr);
}

/// Every well-formed key in `text`.
fn keys_in(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|word| ApiKey::parse(word).is_ok())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_bootstrap_key_one_is_generated_and_shown_once_on_stderr_never_again() {
    // Arrange: no `VOS_BOOTSTRAP_ADMIN_KEY`, an empty key table.
    let database = TestDatabase::new();
    let start = || {
        GatewayProcess::builder()
            .database_url(&database.url)
            .env("VOS_BOOTSTRAP_ADMIN_KEY", "")
            .start()
    };

    // Act: a first start, then a second one on the same database.
    let first = start().await;
    let harness_key = first.get("/api/v1/keys").await.unwrap().status();
    let first = first.stop().await;
    let shown = keys_in(&first.stderr);
    let second = start().await;
    let generated = shown.first().expect("a key on the first start's stderr");
    let with_generated = second
        .with_key(generated)
        .get("/api/v1/keys")
        .await
        .unwrap();
    let listed: Value = with_generated.json().await.unwrap();
    let second = second.stop().await;

    // Assert: shown once, on stderr only; it works; the second start shows nothing.
    assert_eq!(harness_key, 401, "no key but the generated one exists");
    assert_eq!(shown.len(), 1, "{}", first.stderr);
    let log_stream = first.stdout.join("\n");
    for secret in secret_parts(generated) {
        assert!(
            !log_stream.contains(&secret),
            "the log stream shows {secret}"
        );
    }
    assert_eq!(listed["keys"].as_array().map(Vec::len), Some(1), "{listed}");
    assert!(keys_in(&second.stderr).is_empty(), "{}", second.stderr);
    assert!(keys_in(&second.stdout.join("\n")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_on_an_empty_key_table_make_and_show_one_key() {
    // Arrange: a migrated database without keys; two replicas, no bootstrap key.
    let database = TestDatabase::new();
    let mut migrate = gateway_command();
    migrate
        .arg("migrate")
        .env("DATABASE_URL", &database.url)
        .env("AMQP_URL", amqp_url());
    let migrated = tokio::task::spawn_blocking(move || migrate.status().unwrap())
        .await
        .unwrap();
    assert!(migrated.success());
    let start = || {
        GatewayProcess::builder()
            .database_url(&database.url)
            .env("VOS_BOOTSTRAP_ADMIN_KEY", "")
            .start()
    };

    // Act: both start at once.
    let (first, second) = tokio::join!(start(), start());
    let (first, second) = tokio::join!(first.stop(), second.stop());

    // Assert: one key stored, and that one shown, by one of them.
    let prefixes: Vec<String> = sqlx::query_scalar("select display_prefix from api_keys")
        .fetch_all(&database.pool())
        .await
        .unwrap();
    let shown: Vec<String> = [&first.stderr, &second.stderr]
        .into_iter()
        .flat_map(|e| keys_in(e))
        .collect();
    assert_eq!(prefixes.len(), 1, "{prefixes:?}");
    assert_eq!(shown.len(), 1, "{}\n---\n{}", first.stderr, second.stderr);
    assert_eq!(shown[0][..12], prefixes[0]);
}

#[test]
fn a_mistyped_bootstrap_key_stops_the_start_without_repeating_it() {
    // Arrange
    let typo = crate::helpers::mistyped(admin_key());

    // Act
    let output = gateway_command()
        .arg("serve")
        .env("VOS_BOOTSTRAP_ADMIN_KEY", &typo)
        .output()
        .unwrap();

    // Assert: a configuration error (exit 2) naming the setting, not its value.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("auth.bootstrap_admin_key"), "{stderr}");
    for secret in secret_parts(&typo) {
        assert!(!stderr.contains(&secret), "{stderr}");
    }
}
