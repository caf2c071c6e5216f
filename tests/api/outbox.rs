//! The delivery contract under faults: broker outages, restarts, replicas, database outages.
//! Faults are injected with a TCP proxy in front of one gateway, so other tests are unaffected.

use std::{collections::HashMap, time::Duration};

use serde_json::{Value, json};

use crate::{
    helpers::{Broker, TestApp, amqp_url, notification_body, test_settings},
    proxy::Proxy,
};

async fn broker_proxy() -> Proxy {
    Proxy::start("127.0.0.1:5672").await
}

fn amqp_via(proxy: &Proxy) -> String {
    amqp_url().replacen("127.0.0.1:5672", &proxy.addr.to_string(), 1)
}

/// Posts `count` numbered notifications and returns their ids in order.
async fn post_numbered(app: &TestApp, agent: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        let body = json!({ "notification_type": "n", "source": "tests", "payload": { "n": n } });
        let response = app.notify(agent, &body).await;
        assert_eq!(response.status(), 202);
        let accepted: Value = response.json().await.unwrap();
        ids.push(accepted["notification_id"].as_str().unwrap().to_owned());
    }
    ids
}

async fn pending_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from notifications where status = 'pending'")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Ledger of one run: how many of the accepted ids arrived, how many never did, how many twice.
fn ledger(accepted: &[String], delivered: &[Value]) -> (usize, usize, usize) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for message in delivered {
        *seen
            .entry(message["notification_id"].as_str().unwrap())
            .or_default() += 1;
    }
    let lost = accepted
        .iter()
        .filter(|id| !seen.contains_key(id.as_str()))
        .count();
    let duplicated = seen.values().map(|n| n - 1).sum();
    (seen.len(), lost, duplicated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_accepted_during_a_broker_outage_are_published_when_it_returns() {
    // Arrange
    let proxy = broker_proxy().await;
    let mut settings = test_settings();
    settings.amqp.url = amqp_via(&proxy);
    settings.amqp.reconnect_max = Duration::from_millis(500);
    let app = TestApp::spawn_with(settings, true).await;
    let broker = Broker::connect().await;
    let agent = app.agent();
    proxy.cut();

    // Act: the broker is gone, clients keep posting.
    let accepted = post_numbered(&app, &agent, 20).await;
    let health: Value = app.get("/health").await.unwrap().json().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let backlog_during = pending_rows(&app).await;
    proxy.restore();
    let delivered = broker
        .drain(
            &format!("{agent}_queue"),
            accepted.len(),
            Duration::from_secs(20),
        )
        .await;

    // Assert
    let (arrived, lost, duplicated) = ledger(&accepted, &delivered);
    println!(
        "broker outage ledger: accepted={} stored={backlog_during} delivered={arrived} lost={lost} duplicated={duplicated}",
        accepted.len()
    );
    assert_eq!(health["status"], "warn");
    assert_eq!(
        backlog_during,
        accepted.len() as i64,
        "every accepted notification waits in the outbox"
    );
    assert_eq!(lost, 0);
    for id in &accepted {
        app.wait_published(id, Duration::from_secs(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_gateway_publishes_what_its_predecessor_left_pending_in_order() {
    // Arrange: gateway A accepts while its broker is unreachable, then stops.
    let proxy = broker_proxy().await;
    let mut settings = test_settings();
    settings.amqp.url = amqp_via(&proxy);
    let mut first = TestApp::spawn_with(settings, true).await;
    let broker = Broker::connect().await;
    let agent = first.agent();
    proxy.cut();
    let accepted = post_numbered(&first, &agent, 15).await;
    first.stop().await;
    assert_eq!(pending_rows(&first).await, 15);

    // Act: gateway B starts on the same database with a working broker.
    let second = first.spawn_sibling(|s| s.amqp.url = amqp_url()).await;
    let delivered = broker
        .drain(
            &format!("{agent}_queue"),
            accepted.len(),
            Duration::from_secs(20),
        )
        .await;

    // Assert: all of them, in the order they were accepted.
    let (_, lost, duplicated) = ledger(&accepted, &delivered);
    assert_eq!((lost, duplicated), (0, 0));
    let order: Vec<i64> = delivered
        .iter()
        .map(|m| m["payload"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(order, (0..15).collect::<Vec<_>>());
    assert_eq!(pending_rows(&second).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_relaying_from_one_database_publish_each_notification_once() {
    // Arrange: two replicas, both cut off from the broker while they accept.
    let (proxy_a, proxy_b) = (broker_proxy().await, broker_proxy().await);
    let mut settings = test_settings();
    settings.amqp.url = amqp_via(&proxy_a);
    let a = TestApp::spawn_with(settings, true).await;
    let b = a.spawn_sibling(|s| s.amqp.url = amqp_via(&proxy_b)).await;
    let broker = Broker::connect().await;
    let agent = a.agent();
    proxy_a.cut();
    proxy_b.cut();
    let mut accepted = post_numbered(&a, &agent, 30).await;
    accepted.extend(post_numbered(&b, &agent, 30).await);

    // Act: the broker returns for both at once; both relays compete for the same rows.
    proxy_a.restore();
    proxy_b.restore();
    let delivered = broker
        .drain(
            &format!("{agent}_queue"),
            accepted.len(),
            Duration::from_secs(25),
        )
        .await;

    // Assert
    let (arrived, lost, duplicated) = ledger(&accepted, &delivered);
    println!(
        "two replicas ledger: accepted={} delivered={arrived} lost={lost} duplicated={duplicated}",
        accepted.len()
    );
    assert_eq!(lost, 0);
    assert_eq!(
        duplicated, 0,
        "SKIP LOCKED keeps replicas from publishing the same row"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_gives_fast_503s_and_service_resumes_by_itself() {
    // Arrange
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let mut settings = test_settings();
    settings.database.url =
        settings
            .database
            .url
            .replacen("127.0.0.1:5432", &proxy.addr.to_string(), 1);
    settings.database.acquire_timeout = Duration::from_millis(500);
    settings.database.statement_timeout = Duration::from_secs(1);
    let app = TestApp::spawn_with(settings, true).await;
    let agent = app.agent();
    assert_eq!(app.notify(&agent, &notification_body()).await.status(), 202);

    // Act
    proxy.cut();
    let started = std::time::Instant::now();
    let during = app.notify(&agent, &notification_body()).await;
    let took = started.elapsed();
    let ready_during = app.get("/health/ready").await.unwrap().status();
    proxy.restore();
    let mut after = 0;
    for _ in 0..50 {
        after = app
            .notify(&agent, &notification_body())
            .await
            .status()
            .as_u16();
        if after == 202 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Assert
    assert_eq!(during.status(), 503);
    assert!(during.headers().contains_key("retry-after"));
    assert!(
        took < Duration::from_secs(3),
        "answered within its deadline: {took:?}"
    );
    assert_eq!(ready_during, 503);
    assert_eq!(after, 202, "service resumed without a restart");
}
