//! `POST /api/v1/agents/{agent_id}/notify`: the 202 contract and trace context.

use serde_json::Value;

use crate::helpers::{TestApp, notification_body};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_returns_202_with_ids_and_tracing_headers() {
    // Arrange
    let app = TestApp::spawn().await;
    let agent = app.agent().await;

    // Act
    let response = app.notify(&agent, &notification_body()).await;

    // Assert
    assert_eq!(response.status(), 202);
    let correlation = response.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let traceparent = response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "accepted");
    assert_eq!(body["correlation_id"], correlation.as_str());
    let trace_id = body["trace_id"].as_str().unwrap();
    assert_eq!(trace_id.len(), 32);
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "{traceparent}"
    );
    assert!(uuid::Uuid::parse_str(body["notification_id"].as_str().unwrap()).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_commits_the_row_with_its_trace_context_before_answering() {
    // Arrange
    let app = TestApp::spawn().await;
    let agent = app.agent().await;

    // Act
    let body: Value = app
        .notify(&agent, &notification_body())
        .await
        .json()
        .await
        .unwrap();

    // Assert: the row is there the moment the 202 arrives.
    let id = body["notification_id"].as_str().unwrap();
    let (agent_id, trace_id, span_id, correlation_id): (String, String, String, String) = sqlx::query_as(
        "select agent_id, trace_id, span_id, correlation_id from notifications where notification_id = $1::uuid",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .expect("row committed before 202");
    assert_eq!(agent_id, agent);
    assert_eq!(trace_id, body["trace_id"].as_str().unwrap());
    assert_eq!(span_id.len(), 16);
    assert_eq!(correlation_id, body["correlation_id"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_continues_a_valid_incoming_traceparent_from_a_trusted_key() {
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    let internal = app.with_key(&app.create_key(trusted_notify_key()).await);

    let response = internal
        .notify_request(&agent)
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .json(&notification_body())
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 202);
    let traceparent = response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        traceparent.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
        "{traceparent}"
    );
    assert!(
        !traceparent.contains("b7ad6b7169203331"),
        "the server span has its own id"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["trace_id"], "0af7651916cd43dd8448eb211c80319c");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_starts_a_new_trace_for_an_invalid_traceparent() {
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    let invalid = [
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
        "garbage",
    ];

    for header in invalid {
        let response = app
            .notify_request(&agent)
            .header("traceparent", header)
            .json(&notification_body())
            .send()
            .await
            .unwrap();

        assert_eq!(response.status(), 202, "{header}");
        let body: Value = response.json().await.unwrap();
        let trace_id = body["trace_id"].as_str().unwrap();
        assert_ne!(trace_id, "0af7651916cd43dd8448eb211c80319c", "{header}");
        assert_ne!(trace_id, "00000000000000000000000000000000", "{header}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_echoes_a_plain_correlation_id_and_replaces_a_hostile_one() {
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    let send = |name: &'static str, value: String| {
        app.notify_request(&agent)
            .header(name, value)
            .json(&notification_body())
            .send()
    };

    let plain = send("x-correlation-id", "order-4711.retry:2".into())
        .await
        .unwrap();
    let fallback = send("x-request-id", "req-1234".into()).await.unwrap();
    let hostile = send("x-correlation-id", "a b\"<script>".into())
        .await
        .unwrap();
    let long = send("x-correlation-id", "x".repeat(200)).await.unwrap();

    assert_eq!(plain.headers()["x-correlation-id"], "order-4711.retry:2");
    assert_eq!(fallback.headers()["x-correlation-id"], "req-1234");
    for replaced in [hostile, long] {
        let id = replaced.headers()["x-correlation-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "a generated id replaces the bad one: {id}"
        );
    }
}

/// A key for an internal service, whose trace context the gateway continues.
fn trusted_notify_key() -> Value {
    serde_json::json!({ "name": "internal", "scopes": ["notify"], "trust_trace_context": true })
}
