//! `POST /api/v1/keys` refuses what it cannot issue (422) and callers that are no admin
//! (403), and issues nothing then.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem};

async fn key_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from api_keys")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_key_requests_are_422_and_issue_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let before = key_count(&app).await;
    let invalid = [
        json!({ "name": "n", "scopes": [] }),
        json!({ "name": "n", "scopes": ["superuser"] }),
        json!({ "name": "", "scopes": ["read"] }),
        json!({ "name": "   ", "scopes": ["read"] }),
        json!({ "name": "a\u{7}b", "scopes": ["read"] }),
        json!({ "name": "x".repeat(129), "scopes": ["read"] }),
        json!({ "name": "n", "scopes": ["read"], "agents": [] }),
        json!({ "name": "n", "scopes": ["read"], "agents": ["Weather"] }),
        json!({ "name": "n", "scopes": ["read"], "agents": ["weather eu"] }),
        json!({ "name": "n", "scopes": ["read"], "rate_per_second": 0 }),
        json!({ "name": "n", "scopes": ["read"], "rate_per_second": -1 }),
        json!({ "name": "n", "scopes": ["read"], "key": "vos_chosen" }),
        json!({ "scopes": ["read"] }),
    ];

    // Act
    let mut answers = Vec::new();
    for body in &invalid {
        let response = app
            .request(Method::POST, "/api/v1/keys")
            .json(body)
            .send()
            .await
            .unwrap();
        let (status, _, problem) = problem(response).await;
        answers.push((body.clone(), status.as_u16(), problem["type"].clone()));
    }

    // Assert
    let wrong: Vec<&(Value, u16, Value)> = answers
        .iter()
        .filter(|(_, status, kind)| *status != 422 || kind != "urn:vos:problem:validation-failed")
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(key_count(&app).await, before, "nothing was issued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_is_no_admin_cannot_issue_or_revoke_keys() {
    // Arrange: a key with every other scope, and another key it would like to revoke.
    let app = TestApp::spawn().await;
    let created: Value = app
        .request(Method::POST, "/api/v1/keys")
        .json(&json!({ "name": "victim", "scopes": ["read"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = json!({ "name": "ambitious", "scopes": ["notify", "read"] });
    let ambitious = app.with_key(&app.create_key(key).await);
    let before = key_count(&app).await;

    // Act
    let issue = ambitious
        .request(Method::POST, "/api/v1/keys")
        .json(&json!({ "name": "mine", "scopes": ["admin"] }))
        .send()
        .await
        .unwrap();
    let revoke = ambitious
        .request(
            Method::DELETE,
            &format!("/api/v1/keys/{}", created["key_id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();

    // Assert
    for response in [issue, revoke] {
        let (status, _, body) = problem(response).await;
        assert_eq!(
            (status.as_u16(), &body["type"]),
            (403, &json!("urn:vos:problem:forbidden"))
        );
    }
    assert_eq!(key_count(&app).await, before);
    let victim = app.with_key(created["key"].as_str().unwrap());
    assert_eq!(
        victim.get("/api/v1/agents").await.unwrap().status(),
        200,
        "not revoked"
    );
}
