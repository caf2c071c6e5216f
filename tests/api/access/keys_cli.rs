//! `vos-gateway keys create|list|revoke`: straight against the database, the key alone on
//! stdout (so `export VOS_KEY=$(vos-gateway keys create …)` works), never shown again.

use std::process::Output;

use serde_json::{Value, json};
use vos_gateway::domain::ApiKey;

use crate::helpers::{TestDatabase, amqp_url, gateway_command, secret_parts, services_lock_async};

/// Runs `vos-gateway keys <args>` against `database_url`, off the async runtime.
pub async fn keys_cli(database_url: &str, args: &[&str]) -> Output {
    let mut command = gateway_command();
    command
        .arg("keys")
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("AMQP_URL", amqp_url());
    tokio::task::spawn_blocking(move || command.output().expect("vos-gateway keys"))
        .await
        .unwrap()
}

/// Stdout and stderr, as text.
pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_create_prints_the_key_alone_on_stdout_and_its_details_on_stderr() {
    // Arrange: a database nobody has used yet (the CLI creates and migrates it).
    let _services = services_lock_async(false).await;
    let database = TestDatabase::new();

    // Act
    let created = keys_cli(
        &database.url,
        &[
            "create",
            "--name",
            "ops bot",
            "--scope",
            "notify",
            "--scope",
            "read",
            "--agents",
            "weather_*",
            "--rate",
            "5/s",
            "--trust-trace-context",
        ],
    )
    .await;

    // Assert: stdout is the key and a newline; stderr says what it is, by prefix only.
    let (stdout, stderr) = text(&created);
    assert!(created.status.success(), "{stderr}");
    let key = stdout.strip_suffix('\n').expect("one line");
    assert!(ApiKey::parse(key).is_ok(), "stdout is a key: {stdout:?}");
    assert!(
        stderr.contains(&format!(
            "{} (ops bot): scopes notify,read, agents weather_*, 5/s, trusts trace context",
            &key[..12]
        )),
        "{stderr}"
    );
    for secret in secret_parts(key) {
        assert!(!stderr.contains(&secret), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_list_shows_prefixes_never_keys_and_revoke_by_prefix_marks_the_key_revoked() {
    // Arrange
    let _services = services_lock_async(false).await;
    let database = TestDatabase::new();
    let created = keys_cli(
        &database.url,
        &["create", "--name", "reader", "--scope", "read"],
    )
    .await;
    let key = text(&created).0.trim().to_owned();
    let prefix = &key[..12];

    // Act
    let listed_json = keys_cli(&database.url, &["list", "--json"]).await;
    let revoked = keys_cli(&database.url, &["revoke", prefix]).await;
    let listed_table = keys_cli(&database.url, &["list"]).await;
    let too_short = keys_cli(&database.url, &["revoke", "vos_"]).await;

    // Assert: the JSON listing describes the key without it.
    let (json_out, _) = text(&listed_json);
    let document: Value = serde_json::from_str(&json_out).expect("one JSON document");
    let entry = &document["keys"][0];
    assert_eq!(document["keys"].as_array().unwrap().len(), 1);
    assert_eq!(entry["display_prefix"], prefix);
    assert_eq!(entry["name"], "reader");
    assert_eq!(entry["scopes"], json!(["read"]));
    assert_eq!(entry["agents"], json!(["*"]));
    assert_eq!(entry["revoked_at"], Value::Null);
    // Revoked by prefix; the table then says so, by prefix only.
    let (_, revoke_err) = text(&revoked);
    assert!(revoked.status.success(), "{revoke_err}");
    assert!(
        revoke_err.contains(&format!("revoked {prefix} (reader)")),
        "{revoke_err}"
    );
    let (table, _) = text(&listed_table);
    let row = table.lines().find(|l| l.contains(prefix)).expect("a row");
    assert!(row.contains("revoked"), "{table}");
    for output in [&json_out, &table] {
        for secret in secret_parts(&key) {
            assert!(!output.contains(&secret), "{output}");
        }
    }
    assert!(
        !too_short.status.success(),
        "a 4-character prefix matches too much"
    );
}
