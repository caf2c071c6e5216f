//! `GET /api/v1/notifications/{notification_id}`.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_endpoint_shows_the_record_and_its_delivery_state() {
    // Arrange
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    let accepted = app.accept(&agent).await;
    let id = accepted["notification_id"].as_str().unwrap();
    app.wait_published(id, Duration::from_secs(10)).await;

    // Act
    let response = app
        .get(&format!("/api/v1/notifications/{id}"))
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status(), 200);
    let record: Value = response.json().await.unwrap();
    assert_eq!(record["notification_id"], id);
    assert_eq!(record["agent_id"], agent.as_str());
    assert_eq!(record["notification_type"], "user_message");
    assert_eq!(record["source"], "tests");
    assert_eq!(record["payload"]["text"], "hello");
    assert_eq!(record["trace_id"], accepted["trace_id"]);
    assert_eq!(record["correlation_id"], accepted["correlation_id"]);
    assert_eq!(record["status"], "published");
    let accepted_at =
        chrono::DateTime::parse_from_rfc3339(record["accepted_at"].as_str().unwrap()).unwrap();
    let published_at =
        chrono::DateTime::parse_from_rfc3339(record["published_at"].as_str().unwrap()).unwrap();
    assert!(published_at >= accepted_at);
    assert!(record["failed_at"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_endpoint_answers_404_for_an_unknown_id_and_400_for_a_malformed_one() {
    let app = TestApp::spawn().await;

    let unknown = app
        .get(&format!("/api/v1/notifications/{}", uuid::Uuid::now_v7()))
        .await
        .unwrap();
    let malformed = app.get("/api/v1/notifications/not-a-uuid").await.unwrap();

    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = unknown.json().await.unwrap();
    assert_eq!(problem["type"], "urn:vos:problem:notification-not-found");
    assert_eq!(malformed.status(), 400);
    let problem: Value = malformed.json().await.unwrap();
    assert_eq!(problem["type"], "urn:vos:problem:invalid-notification-id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let app = TestApp::spawn().await;

    let response = app.get("/api-docs/openapi.json").await.unwrap();

    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/agents/{agent_id}/notify",
        "/api/v1/notifications/{notification_id}",
        "/health/live",
        "/health/ready",
        "/health",
        "/metrics",
    ] {
        assert!(document["paths"][path].is_object(), "{path} is documented");
    }
    let notify = &document["paths"]["/api/v1/agents/{agent_id}/notify"]["post"];
    assert!(notify["responses"]["202"].is_object());
    assert!(notify["responses"]["422"]["content"]["application/problem+json"].is_object());
}
