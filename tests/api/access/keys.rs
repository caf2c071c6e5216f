//! API keys over HTTP: shown once, listed by prefix only, stored as a hash, refused without a
//! database query when malformed or mistyped, and counted by why they were refused.

use reqwest::Method;
use serde_json::{Value, json};
use vos_gateway::domain::ApiKey;

use crate::helpers::{
    Proxy, TestApp, issue_key, malformed_key, metric_labelled, mistyped, problem, revoke_key,
    scrape, secret_parts, test_settings, unknown_key,
};

const BASE62: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_key_is_shown_once_and_listed_only_by_its_display_prefix() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let created = issue_key(
        &app,
        json!({ "name": "weather bot", "scopes": ["notify", "read"], "agents": ["weather_*"],
                "rate_per_second": 5 }),
    )
    .await;
    let listing = app.get("/api/v1/keys").await.unwrap().text().await.unwrap();

    // Assert: vos_ + 32 base62 + a 6-character checksum, which the gateway's parser accepts.
    let key = created["key"].as_str().unwrap();
    assert_eq!(key.len(), 4 + 32 + 6, "{key}");
    assert!(key.starts_with("vos_") && key[4..].chars().all(|c| BASE62.contains(c)));
    assert!(ApiKey::parse(key).is_ok());
    assert_eq!(created["display_prefix"], &key[..12]);
    assert_eq!(created["scopes"], json!(["notify", "read"]));
    assert_eq!(created["agents"], json!(["weather_*"]));
    assert_eq!(created["rate_per_second"], 5);
    assert_eq!(created["trust_trace_context"], false);
    let keys: Value = serde_json::from_str(&listing).unwrap();
    let listed = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == created["key_id"])
        .expect("the new key is listed");
    assert_eq!(listed["display_prefix"], &key[..12]);
    assert!(listed.get("key").is_none(), "{listed}");
    for secret in secret_parts(key) {
        assert!(!listing.contains(&secret), "the listing shows {secret}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_holds_only_a_hash_of_each_key() {
    // Arrange
    let app = TestApp::spawn().await;
    let key = app
        .create_key(json!({ "name": "dump check", "scopes": ["read"] }))
        .await;

    // Act: every column of every row, as text.
    let dump: Vec<String> = sqlx::query_scalar("select k::text from api_keys k")
        .fetch_all(&app.db)
        .await
        .unwrap();
    let hash_lengths: Vec<i32> = sqlx::query_scalar("select length(key_hash) from api_keys")
        .fetch_all(&app.db)
        .await
        .unwrap();

    // Assert: the prefix is there, the key and its random part are not (nor the admin's).
    let dump = dump.join("\n");
    assert!(dump.contains(&key[..12]), "{dump}");
    for secret in secret_parts(&key)
        .into_iter()
        .chain(secret_parts(crate::helpers::admin_key()))
    {
        assert!(!dump.contains(&secret), "api_keys holds {secret}:\n{dump}");
    }
    assert_eq!(hash_lengths, [32, 32], "an HMAC-SHA-256 per key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_refused_as_revoked_and_an_unknown_key_id_is_404() {
    // Arrange
    let app = TestApp::spawn().await;
    let created = issue_key(&app, json!({ "name": "leaving", "scopes": ["read"] })).await;
    let client = app.with_key(created["key"].as_str().unwrap());
    assert_eq!(client.get("/api/v1/agents").await.unwrap().status(), 200);

    // Act
    revoke_key(&app, created["key_id"].as_str().unwrap()).await;
    let refused = client.get("/api/v1/agents").await.unwrap();
    let unknown_id = app
        .request(
            Method::DELETE,
            &format!("/api/v1/keys/{}", uuid::Uuid::now_v7()),
        )
        .send()
        .await
        .unwrap();
    let not_an_id = app
        .request(Method::DELETE, "/api/v1/keys/not-a-key-id")
        .send()
        .await
        .unwrap();
    let listing: Value = app.get("/api/v1/keys").await.unwrap().json().await.unwrap();

    // Assert
    let (status, headers, body) = problem(refused).await;
    assert_eq!(status, 401);
    assert_eq!(
        headers["www-authenticate"],
        "Bearer realm=\"vos-gateway\", error=\"invalid_token\""
    );
    assert_eq!(body["detail"], "the key was revoked");
    for response in [unknown_id, not_an_id] {
        let (status, _, body) = problem(response).await;
        assert_eq!(
            (status.as_u16(), &body["type"]),
            (404, &json!("urn:vos:problem:key-not-found"))
        );
    }
    let listed = listing["keys"].as_array().unwrap();
    let revoked = listed
        .iter()
        .find(|k| k["key_id"] == created["key_id"])
        .unwrap();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_counted_by_reason_missing_malformed_checksum_unknown_and_revoked() {
    // Arrange
    let mut settings = test_settings();
    settings.rate_limit.failed_auth_per_client = None;
    let app = TestApp::spawn_with(settings, true).await;
    let revoked = issue_key(&app, json!({ "name": "r", "scopes": ["read"] })).await;
    revoke_key(&app, revoked["key_id"].as_str().unwrap()).await;
    let senders = [
        ("missing", app.anonymous()),
        ("malformed", app.with_key(&malformed_key())),
        (
            "checksum",
            app.with_key(&mistyped(crate::helpers::admin_key())),
        ),
        ("unknown", app.with_key(&unknown_key())),
        ("revoked", app.with_key(revoked["key"].as_str().unwrap())),
    ];

    // Act: each kind of refusal, a different number of times.
    for (times, (_, sender)) in senders.iter().enumerate() {
        for _ in 0..=times {
            assert_eq!(sender.get("/api/v1/agents").await.unwrap().status(), 401);
        }
    }
    let metrics = scrape(&app).await;

    // Assert
    for (times, (reason, _)) in senders.iter().enumerate() {
        let label = format!("reason=\"{reason}\"");
        let counted = metric_labelled(&metrics, "vos_auth_failures_total", &label);
        assert_eq!(counted, (times + 1) as f64, "{reason}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_checked_in_memory_so_refusals_need_no_database() {
    // Arrange: the gateway's database behind a proxy; a key revoked while it was reachable.
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let mut settings = test_settings();
    settings.database.url = proxy.route(&settings.database.url);
    settings.rate_limit.failed_auth_per_client = None;
    let app = TestApp::spawn_with(settings, true).await;
    let revoked = issue_key(&app, json!({ "name": "r", "scopes": ["read"] })).await;
    revoke_key(&app, revoked["key_id"].as_str().unwrap()).await;

    // Act: the database stops answering (a query now waits for its deadline, then fails).
    proxy.stall();
    let mut reasons = Vec::new();
    for key in [
        malformed_key(),
        mistyped(crate::helpers::admin_key()),
        unknown_key(),
        revoked["key"].as_str().unwrap().to_owned(),
    ] {
        let response = app.with_key(&key).get("/api/v1/agents").await.unwrap();
        let (status, _, body) = problem(response).await;
        reasons.push((status.as_u16(), body["detail"].as_str().unwrap().to_owned()));
    }
    // The control: a valid key's request that does need the database cannot be answered.
    let needs_database = app.get("/api/v1/agents").await.unwrap().status();
    proxy.restore();

    // Assert: each answered 401 for its own reason, not 503: no query was involved.
    let expected = [
        "the key is not a well-formed vos_ key",
        "the key's checksum does not match (a typo?)",
        "the key is not known",
        "the key was revoked",
    ];
    let expected: Vec<(u16, String)> = expected.iter().map(|d| (401, d.to_string())).collect();
    assert_eq!(reasons, expected);
    assert_eq!(needs_database, 503, "the database really was unreachable");
}
