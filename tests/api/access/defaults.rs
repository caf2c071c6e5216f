//! Secure by default: every `/api/v1` route refuses a caller without a valid key, and changes
//! nothing for it; the probes stay open.

use reqwest::Method;

use crate::helpers::{
    Broker, TestApp, malformed_key, notification_body, notification_count, problem, test_settings,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_answers_401_with_a_bearer_challenge_without_a_valid_key() {
    // Arrange
    let mut settings = test_settings();
    settings.rate_limit.failed_auth_per_client = None;
    let app = TestApp::spawn_with(settings, true).await;
    let broker = Broker::connect().await;
    let (agent, unregistered) = (app.agent().await, app.unregistered_agent());
    let stored = app.accept_published(&agent).await;
    let rows_before = notification_count(&app.db).await;
    let routes = [
        (Method::POST, format!("/api/v1/agents/{agent}/notify")),
        (
            Method::GET,
            format!(
                "/api/v1/notifications/{}",
                stored["notification_id"].as_str().unwrap()
            ),
        ),
        (Method::GET, "/api/v1/agents".to_owned()),
        (Method::GET, format!("/api/v1/agents/{agent}")),
        (Method::PUT, format!("/api/v1/agents/{unregistered}")),
        (
            Method::DELETE,
            format!("/api/v1/agents/{agent}?delete_queue=true"),
        ),
        (Method::POST, "/api/v1/keys".to_owned()),
        (Method::GET, "/api/v1/keys".to_owned()),
        (
            Method::DELETE,
            "/api/v1/keys/00000000-0000-0000-0000-000000000000".to_owned(),
        ),
    ];

    // Act + Assert: without a key, and with a key that is not one.
    for (caller, challenge) in [
        (app.anonymous(), "Bearer realm=\"vos-gateway\""),
        (
            app.with_key(&malformed_key()),
            "Bearer realm=\"vos-gateway\", error=\"invalid_token\"",
        ),
    ] {
        for (method, path) in &routes {
            let response = caller
                .request(method.clone(), path)
                .json(&notification_body())
                .send()
                .await
                .unwrap();
            let (status, headers, body) = problem(response).await;
            assert_eq!(status, 401, "{method} {path}");
            assert_eq!(headers["www-authenticate"], challenge, "{method} {path}");
            assert_eq!(
                body["type"], "urn:vos:problem:unauthorized",
                "{method} {path}"
            );
        }
        for probe in ["/health/live", "/health/ready"] {
            assert_eq!(caller.get(probe).await.unwrap().status(), 200, "{probe}");
        }
    }

    // Nothing was stored, declared or deleted.
    assert_eq!(notification_count(&app.db).await, rows_before);
    assert_eq!(
        broker.queue_state(&format!("{unregistered}_queue")).await,
        None
    );
    assert_eq!(
        broker.queue_state(&format!("{agent}_queue")).await,
        Some((1, 0))
    );
}
