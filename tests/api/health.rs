//! Health endpoints, with the dependencies up and with each of them unreachable.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{TestApp, closed_port, notification_body, test_settings};

async fn health_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/health+json"
    );
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_passes_with_per_check_latency_uptime_and_version() {
    let app = TestApp::spawn().await;

    let (live, live_body) = health_json(app.get("/health/live").await.unwrap()).await;
    let (ready, ready_body) = health_json(app.get("/health/ready").await.unwrap()).await;
    // The detail probes open a new broker connection with a 1 s deadline; while the fault
    // tests load the machine one probe can miss it (a `warn`), so the check may be repeated.
    let mut detail = health_json(app.get("/health").await.unwrap()).await;
    for _ in 0..10 {
        if detail.1["status"] == "pass" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        detail = health_json(app.get("/health").await.unwrap()).await;
    }
    let (detail, body) = detail;

    assert_eq!((live, ready, detail), (200, 200, 200));
    assert_eq!(live_body["status"], "pass");
    assert_eq!(ready_body["status"], "pass");
    assert_eq!(body["status"], "pass", "{body}");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime"].as_u64().is_some());
    for check in ["postgres:responseTime", "rabbitmq:responseTime"] {
        let entry = &body["checks"][check][0];
        assert_eq!(entry["status"], "pass", "{check}");
        assert_eq!(entry["observedUnit"], "ms", "{check}");
        assert!(entry["observedValue"].as_f64().unwrap() >= 0.0, "{check}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_fails_readiness_and_notify_answers_503_fast() {
    // Arrange: the gateway points at a port where nothing listens.
    let mut settings = test_settings();
    settings.database.url = format!("postgres://postgres@127.0.0.1:{}/vos", closed_port());
    settings.database.acquire_timeout = Duration::from_millis(500);
    let app = TestApp::spawn_with(settings, false).await;
    let agent = app.unregistered_agent();

    // Act
    let (live, _) = health_json(app.get("/health/live").await.unwrap()).await;
    let (ready, ready_body) = health_json(app.get("/health/ready").await.unwrap()).await;
    let (detail, body) = health_json(app.get("/health").await.unwrap()).await;
    let started = Instant::now();
    let notify = app.notify(&agent, &notification_body()).await;
    let took = started.elapsed();

    // Assert
    assert_eq!(live, 200, "liveness never depends on the database");
    assert_eq!(ready, 503);
    assert_eq!(ready_body["status"], "fail");
    assert_eq!(detail, 503);
    assert_eq!(body["checks"]["postgres:responseTime"][0]["status"], "fail");
    assert_eq!(notify.status(), 503);
    assert!(notify.headers().contains_key("retry-after"));
    assert_eq!(notify.headers()["content-type"], "application/problem+json");
    let problem: Value = notify.json().await.unwrap();
    // Keys live in the database: until it answers, nothing can be authorised.
    assert_eq!(problem["type"], "urn:vos:problem:not-ready");
    assert!(
        took < Duration::from_secs(3),
        "503 within the deadline, took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_a_warning_and_notify_still_stores() {
    let mut settings = test_settings();
    settings.amqp.url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", closed_port());
    let app = TestApp::spawn_with(settings, true).await;
    let agent = app.agent_registered_in_database().await;

    let notify = app.notify(&agent, &notification_body()).await;
    let (detail, body) = health_json(app.get("/health").await.unwrap()).await;

    assert_eq!(notify.status(), 202, "the outbox absorbs a broker outage");
    let accepted: Value = notify.json().await.unwrap();
    assert_eq!(
        app.status_of(accepted["notification_id"].as_str().unwrap())
            .await,
        "pending"
    );
    assert_eq!(detail, 200);
    assert_eq!(body["status"], "warn");
    assert_eq!(body["checks"]["rabbitmq:responseTime"][0]["status"], "fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_without_its_schema_is_not_ready_and_notify_is_503_not_500_with_auth_on_or_off()
{
    for required in [true, false] {
        // Arrange: the database exists, but nothing migrates it.
        let mut settings = test_settings();
        settings.database.migrate_on_start = false;
        settings.auth.required = required;
        let app = TestApp::spawn_with(settings, false).await;
        let agent = app.unregistered_agent();

        // Act
        let ready = app.get("/health/ready").await.unwrap();
        let notify = app.notify(&agent, &notification_body()).await;

        // Assert
        assert_eq!(ready.status(), 503);
        assert_eq!(notify.status(), 503, "auth required: {required}");
        assert!(notify.headers().contains_key("retry-after"));
        let problem: Value = notify.json().await.unwrap();
        assert_eq!(problem["type"], "urn:vos:problem:not-ready");
    }
}
