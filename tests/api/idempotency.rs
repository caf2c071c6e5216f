//! `Idempotency-Key`: a retry gets the original answer, never a second notification.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Broker, TestApp, notification_body};

async fn notify_with_key(app: &TestApp, agent: &str, key: &str, body: &Value) -> reqwest::Response {
    app.notify_request(agent)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn rows_for(app: &TestApp, agent: &str) -> i64 {
    sqlx::query_scalar("select count(*) from notifications where agent_id = $1")
        .bind(agent)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_the_same_key_and_body_returns_the_original_response() {
    // Arrange
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let first: Value = notify_with_key(&app, &agent, "retry-1", &notification_body())
        .await
        .json()
        .await
        .unwrap();

    // Act
    let retry = notify_with_key(&app, &agent, "retry-1", &notification_body()).await;

    // Assert
    assert_eq!(retry.status(), 202);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let replayed: Value = retry.json().await.unwrap();
    assert_eq!(replayed, first);
    assert_eq!(rows_for(&app, &agent).await, 1);
    let delivered = broker
        .drain(&format!("{agent}_queue"), 1, Duration::from_secs(10))
        .await;
    assert_eq!(
        delivered.len(),
        1,
        "one message, however often the client retries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_with_a_different_body_is_a_422_problem() {
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    notify_with_key(&app, &agent, "k-7", &notification_body()).await;

    let different = json!({ "notification_type": "user_message", "source": "tests", "payload": { "text": "bye" } });
    let response = notify_with_key(&app, &agent, "k-7", &different).await;

    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:vos:problem:idempotency-key-reused");
    assert_eq!(rows_for(&app, &agent).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_scoped_to_the_agent() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.agent().await, app.agent().await);

    let first: Value = notify_with_key(&app, &a, "shared", &notification_body())
        .await
        .json()
        .await
        .unwrap();
    let second: Value = notify_with_key(&app, &b, "shared", &notification_body())
        .await
        .json()
        .await
        .unwrap();

    assert_ne!(first["notification_id"], second["notification_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_key_store_one_notification() {
    let app = TestApp::spawn().await;
    let agent = app.agent().await;

    let body = notification_body();
    let requests = (0..10).map(|_| notify_with_key(&app, &agent, "burst", &body));
    let responses = futures::future::join_all(requests).await;

    let mut ids = Vec::new();
    for response in responses {
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.unwrap();
        ids.push(body["notification_id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(
        ids.len(),
        1,
        "every response names the one stored notification"
    );
    assert_eq!(rows_for(&app, &agent).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacceptable_key_is_a_422_problem() {
    let app = TestApp::spawn().await;
    let agent = app.agent().await;

    let response = notify_with_key(&app, &agent, "has spaces", &notification_body()).await;

    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(rows_for(&app, &agent).await, 0);
}
