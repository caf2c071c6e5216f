//! Bad input: every rule answers a clear `application/problem+json` 4xx, and stores nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, notification_body};

/// Asserts a problem response and returns its body.
async fn assert_problem(response: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let correlation = response.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], format!("urn:vos:problem:{kind}"));
    assert_eq!(problem["status"], status);
    assert!(!problem["detail"].as_str().unwrap().is_empty());
    assert_eq!(problem["correlation_id"], correlation.as_str());
    problem
}

async fn stored_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from notifications")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_returns_422_for_an_invalid_agent_id() {
    let app = TestApp::spawn().await;
    let long = "a".repeat(65);
    for agent in [
        "Weather",
        "amq.gen-1",
        "a.b",
        "a%23",
        "%2A",
        "-lead",
        "_lead",
        "caf%C3%A9",
        "a%00b",
        long.as_str(),
    ] {
        let problem = assert_problem(
            app.notify(agent, &notification_body()).await,
            422,
            "validation-failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "agent_id", "{agent}");
    }
    assert_eq!(stored_rows(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_returns_422_for_an_empty_or_oversized_notification_type() {
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    for value in [
        json!(""),
        json!("   "),
        json!("t".repeat(129)),
        json!("a\u{0007}b"),
    ] {
        let body = json!({ "notification_type": value, "source": "s" });
        let problem =
            assert_problem(app.notify(&agent, &body).await, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], "notification_type");
    }
    assert_eq!(stored_rows(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_returns_422_for_an_empty_or_oversized_source() {
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    for value in [json!(""), json!("s".repeat(129))] {
        let body = json!({ "notification_type": "t", "source": value });
        let problem =
            assert_problem(app.notify(&agent, &body).await, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], "source");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_returns_422_when_the_payload_is_not_an_object() {
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    for payload in [json!([1, 2]), json!("text"), json!(7), json!(true)] {
        let body = json!({ "notification_type": "t", "source": "s", "payload": payload });
        let problem =
            assert_problem(app.notify(&agent, &body).await, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], "payload");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_accepts_a_missing_payload_as_an_empty_object() {
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    let response = app
        .notify(&agent, &json!({ "notification_type": "t", "source": "s" }))
        .await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let payload: Value =
        sqlx::query_scalar("select payload from notifications where notification_id = $1::uuid")
            .bind(accepted["notification_id"].as_str().unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(payload, json!({}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_returns_422_for_missing_fields_wrong_types_and_unknown_fields() {
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    for body in [
        json!({ "source": "s" }),
        json!({ "notification_type": "t" }),
        json!({ "notification_type": 5, "source": "s" }),
        json!({ "notification_type": "t", "source": "s", "extra": 1 }),
        json!([]),
    ] {
        assert_problem(app.notify(&agent, &body).await, 422, "validation-failed").await;
    }
    assert_eq!(stored_rows(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_returns_400_for_malformed_json() {
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    for raw in ["{", "{\"notification_type\": \"t\",", "not json", ""] {
        let response = app
            .notify_request(&agent)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "malformed-json").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_returns_415_without_a_json_content_type() {
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    let body = notification_body().to_string();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = app.notify_request(&agent).body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        assert_problem(request.send().await.unwrap(), 415, "unsupported-media-type").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_returns_413_for_a_body_over_the_limit() {
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    let limit = app.settings.server.body_limit_bytes;
    let body = json!({ "notification_type": "t", "source": "s", "payload": { "blob": "x".repeat(limit) } });

    let response = app.notify(&agent, &body).await;

    assert_problem(response, 413, "payload-too-large").await;
    assert_eq!(stored_rows(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_returns_413_for_a_chunked_body_over_the_limit() {
    let app = TestApp::spawn().await;
    let agent = app.agent().await;
    let limit = app.settings.server.body_limit_bytes;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(b"{\"notification_type\":\"t\",\"source\":\"".to_vec()),
        Ok(vec![b'x'; limit + 1]),
    ];
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));

    let response = app
        .notify_request(&agent)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();

    assert_problem(response, 413, "payload-too-large").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_answer_with_problems() {
    let app = TestApp::spawn().await;

    let missing = app.get("/api/v1/nothing-here").await.unwrap();
    let wrong_method = app
        .request(Method::DELETE, "/api/v1/agents/a/notify")
        .send()
        .await
        .unwrap();

    assert_problem(missing, 404, "not-found").await;
    assert_eq!(wrong_method.headers()["allow"], "POST");
    assert_problem(wrong_method, 405, "method-not-allowed").await;
}
