//! Whose bucket a request takes from, and that buckets outlive reloads: a key's or an agent's
//! spent bucket is not refilled when keys or agents change, and each client address has a
//! failed-authentication bucket of its own.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::json;

use crate::helpers::{
    TestApp, issue_key, notification_body, revoke_key, test_settings, unknown_key,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_spent_bucket_is_not_refilled_when_other_keys_change() {
    // Arrange: 3 requests an hour per key (the admin needs all of its own); a reader spends
    // all of its.
    let mut settings = test_settings();
    settings.rate_limit.per_key = Some("3/h".parse().unwrap());
    let app = TestApp::spawn_with(settings, true).await;
    let reader = app.with_key(
        &app.create_key(json!({ "name": "r", "scopes": ["read"] }))
            .await,
    );
    for _ in 0..3 {
        assert_eq!(reader.get("/api/v1/agents").await.unwrap().status(), 200);
    }

    // Act: another key is issued and revoked (each reloads every key).
    let other = issue_key(&app, json!({ "name": "other", "scopes": ["read"] })).await;
    revoke_key(&app, other["key_id"].as_str().unwrap()).await;
    let after = reader.get("/api/v1/agents").await.unwrap();

    // Assert
    assert_eq!(after.status(), 429, "a reload handed out a fresh burst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_spent_bucket_is_not_refilled_when_it_is_registered_again() {
    // Arrange: 1 notification an hour per agent, spent.
    let mut settings = test_settings();
    settings.rate_limit.per_agent = Some("1/h".parse().unwrap());
    let app = TestApp::spawn_with(settings, true).await;
    let agent = app.agent().await;
    assert_eq!(app.notify(&agent, &notification_body()).await.status(), 202);

    // Act: registering it again (idempotent: 200) reloads the registry.
    let again = app
        .request(reqwest::Method::PUT, &format!("/api/v1/agents/{agent}"))
        .send()
        .await
        .unwrap();
    let after = app.notify(&agent, &notification_body()).await;

    // Assert
    assert_eq!(again.status(), 200);
    assert_eq!(
        after.status(),
        429,
        "re-registering handed out a fresh burst"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_address_has_its_own_failed_authentication_bucket() {
    // Arrange: 2 failed authentications an hour per address; 127.0.0.1 spends its two.
    let mut settings = test_settings();
    settings.rate_limit.failed_auth_per_client = Some("2/h".parse().unwrap());
    let app = TestApp::spawn_with(settings, true).await;
    let guesser = app.with_key(&unknown_key());
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(
            guesser
                .get("/api/v1/agents")
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }

    // Act: the same guess from another loopback address.
    let elsewhere = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .build()
        .unwrap()
        .get(format!("{}/api/v1/agents", app.address))
        .bearer_auth(unknown_key())
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(first, [401, 401, 429]);
    assert_eq!(
        elsewhere.status(),
        401,
        "another address is not limited by this one"
    );
}
