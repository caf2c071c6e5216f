//! Rate limits per key, per agent and per client address for failed authentication: N + 1
//! requests get exactly one 429 problem with `Retry-After` and the IETF RateLimit fields,
//! allowed requests carry the fields too, and a 429 writes nothing anywhere.
//!
//! Hourly rates keep a bucket from refilling while a test runs, so counts are exact; the one
//! per-second rate (a key's own) is spent by requests sent at once.

use std::time::Duration;

use futures::future::join_all;
use reqwest::{Response, header::HeaderMap};
use serde_json::{Value, json};

use crate::helpers::{
    Broker, GatewayClient, TestApp, metric_labelled, notification_body, notification_count, scrape,
    test_settings, unknown_key, wait_drained,
};

/// One answer: status, headers, and the body as JSON (null when not JSON).
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn answers(responses: Vec<Response>) -> Vec<Answer> {
    let mut answers = Vec::new();
    for response in responses {
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let body = response.json().await.unwrap_or(Value::Null);
        answers.push(Answer {
            status,
            headers,
            body,
        });
    }
    answers
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map_or("<missing>", |v| v.to_str().unwrap())
}

/// Asserts exactly one 429 among `answers`, a rate-limited problem with `Retry-After` and
/// `policy`'s fields; every other answer `ok`, with `policy` in its fields too.
fn exactly_one_429(answers: &[Answer], ok: u16, policy: &str) {
    let codes: Vec<u16> = answers.iter().map(|a| a.status).collect();
    let limited: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!(limited.len(), 1, "{codes:?}");
    assert_eq!(
        codes.iter().filter(|&&c| c == ok).count(),
        answers.len() - 1,
        "{codes:?}"
    );
    for allowed in answers.iter().filter(|a| a.status == ok) {
        assert!(
            header(&allowed.headers, "ratelimit-policy").contains(policy),
            "{:?}",
            allowed.headers
        );
        assert!(
            header(&allowed.headers, "ratelimit").contains(policy),
            "{:?}",
            allowed.headers
        );
    }
    let Answer { headers, body, .. } = limited[0];
    assert_eq!(header(headers, "content-type"), "application/problem+json");
    assert_eq!(body["type"], "urn:vos:problem:rate-limited");
    assert!(
        header(headers, "retry-after").parse::<u64>().unwrap() >= 1,
        "{headers:?}"
    );
    assert!(
        header(headers, "ratelimit-policy").starts_with(policy),
        "{headers:?}"
    );
    assert!(
        header(headers, "ratelimit").starts_with(&format!("{policy}r=0;")),
        "{headers:?}"
    );
}

async fn notify_at_once(client: &GatewayClient, agent: &str, times: usize) -> Vec<Answer> {
    let body = notification_body();
    answers(join_all((0..times).map(|_| client.notify(agent, &body))).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_own_rate_gets_one_429_and_nothing_is_stored_or_published() {
    // Arrange: no default per-key rate; this key has its own, 2/s. Three requests at once
    // reach the check well within the half second the bucket needs to refill one.
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let key = json!({ "name": "slow", "scopes": ["notify"], "rate_per_second": 2 });
    let client = app.with_key(&app.create_key(key).await);

    // Act
    let answers = notify_at_once(&client, &agent, 3).await;

    // Assert: two stored and published, the 429 nothing.
    exactly_one_429(&answers, 202, "\"key\";");
    let allowed = answers.iter().find(|a| a.status == 202).unwrap();
    assert_eq!(
        header(&allowed.headers, "ratelimit-policy"),
        "\"key\";q=2;w=1"
    );
    assert_eq!(notification_count(&app.db).await, 2);
    wait_drained(&app.db, Duration::from_secs(10)).await;
    assert_eq!(broker.queue_depth(&format!("{agent}_queue")).await, 2);
    let metrics = scrape(&app).await;
    assert_eq!(
        metric_labelled(&metrics, "vos_rate_limited_total", "limit=\"key\""),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_without_a_rate_of_their_own_get_the_configured_default() {
    // Arrange
    let mut settings = test_settings();
    settings.rate_limit.per_key = Some("3/h".parse().unwrap());
    let app = TestApp::spawn_with(settings, true).await;
    let reader = app.with_key(
        &app.create_key(json!({ "name": "r", "scopes": ["read"] }))
            .await,
    );

    // Act
    let mut responses = Vec::new();
    for _ in 0..4 {
        responses.push(reader.get("/api/v1/agents").await.unwrap());
    }
    let answers = answers(responses).await;

    // Assert
    exactly_one_429(&answers, 200, "\"key\";");
    assert_eq!(answers[3].status, 429);
    assert_eq!(
        header(&answers[0].headers, "ratelimit-policy"),
        "\"key\";q=3;w=3600"
    );
    assert_eq!(
        header(&answers[0].headers, "ratelimit"),
        "\"key\";r=2;t=1200"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_over_its_rate_gets_one_429_whichever_keys_post_to_it() {
    // Arrange: per agent 2/h, per key 5/h; two keys share the agent's bucket.
    let mut settings = test_settings();
    settings.rate_limit.per_agent = Some("2/h".parse().unwrap());
    settings.rate_limit.per_key = Some("5/h".parse().unwrap());
    let app = TestApp::spawn_with(settings, true).await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let mut clients = Vec::new();
    for name in ["a", "b"] {
        let key = json!({ "name": name, "scopes": ["notify"], "agents": [agent] });
        clients.push(app.with_key(&app.create_key(key).await));
    }

    // Act
    let mut responses = Vec::new();
    for client in [&clients[0], &clients[1], &clients[0]] {
        responses.push(client.notify(&agent, &notification_body()).await);
    }
    let answers = answers(responses).await;

    // Assert: a 202 states both policies, the key's first; the 429 the agent's.
    exactly_one_429(&answers, 202, "\"agent\";");
    assert_eq!(answers[2].status, 429);
    assert_eq!(
        header(&answers[0].headers, "ratelimit-policy"),
        "\"key\";q=5;w=3600, \"agent\";q=2;w=3600"
    );
    assert_eq!(notification_count(&app.db).await, 2);
    wait_drained(&app.db, Duration::from_secs(10)).await;
    assert_eq!(broker.queue_depth(&format!("{agent}_queue")).await, 2);
    let metrics = scrape(&app).await;
    assert_eq!(
        metric_labelled(&metrics, "vos_rate_limited_total", "limit=\"agent\""),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentication_is_limited_per_client_address_and_valid_keys_are_not() {
    // Arrange
    let mut settings = test_settings();
    settings.rate_limit.failed_auth_per_client = Some("3/h".parse().unwrap());
    let app = TestApp::spawn_with(settings, true).await;
    let agent = app.agent().await;
    let guesser = app.with_key(&unknown_key());
    let rows_before = notification_count(&app.db).await;

    // Act: three guesses fail as 401, the fourth is slowed down; then a valid key posts.
    let mut responses = Vec::new();
    for _ in 0..4 {
        responses.push(guesser.notify(&agent, &notification_body()).await);
    }
    let answers = answers(responses).await;
    let rows_after = notification_count(&app.db).await;
    let valid = app.notify(&agent, &notification_body()).await;

    // Assert
    let codes: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(codes, [401, 401, 401, 429]);
    let limited = &answers[3];
    assert_eq!(limited.body["type"], "urn:vos:problem:rate-limited");
    assert!(
        limited.headers.contains_key("retry-after"),
        "{:?}",
        limited.headers
    );
    assert_eq!(
        header(&limited.headers, "ratelimit-policy"),
        "\"client\";q=3;w=3600"
    );
    assert!(header(&limited.headers, "ratelimit").starts_with("\"client\";r=0;"));
    assert_eq!(rows_after, rows_before);
    assert_eq!(
        valid.status(),
        202,
        "a valid key is not slowed by others' failures"
    );
    let metrics = scrape(&app).await;
    assert_eq!(
        metric_labelled(&metrics, "vos_rate_limited_total", "limit=\"client\""),
        1.0
    );
}
