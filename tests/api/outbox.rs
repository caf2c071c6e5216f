//! The delivery contract under faults: broker outages, restarts, replicas, database outages.
//! Faults are injected with a TCP proxy in front of one gateway, so other tests are unaffected.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{
    Ledger, Proxy, TestApp, amqp_url, consume, notification_body, pending_rows, post_numbered,
    stored_rows, test_settings,
};

async fn broker_proxy() -> Proxy {
    Proxy::start("127.0.0.1:5672").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_accepted_during_a_broker_outage_are_published_when_it_returns() {
    // Arrange
    let proxy = broker_proxy().await;
    let mut settings = test_settings();
    settings.amqp.url = proxy.route(&amqp_url());
    settings.amqp.reconnect_max = Duration::from_millis(500);
    let app = TestApp::spawn_with(settings, true).await;
    let agent = app.agent().await;
    proxy.cut();

    // Act: the broker is gone, clients keep posting.
    let sent = post_numbered(&app, &agent, 0..20).await;
    let health: Value = app.get("/health").await.unwrap().json().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let backlog_during = pending_rows(&app.db).await;
    proxy.restore();
    let rows = stored_rows(&app.db).await;
    let ledger = Ledger::against_queue(&sent, &rows, &format!("{agent}_queue")).await;

    // Assert
    ledger.print("broker outage");
    assert_eq!(health["status"], "warn");
    assert_eq!(
        backlog_during,
        Some(sent.accepted.len() as i64),
        "every accepted notification waits in the outbox"
    );
    assert_eq!(ledger.lost, 0, "{ledger}");
    for id in &sent.accepted {
        app.wait_published(&id.to_string(), Duration::from_secs(10))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_gateway_publishes_what_its_predecessor_left_pending_in_order() {
    // Arrange: gateway A accepts while its broker is unreachable, then stops.
    let proxy = broker_proxy().await;
    let mut settings = test_settings();
    settings.amqp.url = proxy.route(&amqp_url());
    let mut first = TestApp::spawn_with(settings, true).await;
    let agent = first.agent().await;
    proxy.cut();
    let sent = post_numbered(&first, &agent, 0..15).await;
    first.stop().await;
    assert_eq!(pending_rows(&first.db).await, Some(15));

    // Act: gateway B starts on the same database with a working broker.
    let second = first.spawn_sibling(|s| s.amqp.url = amqp_url()).await;
    let deliveries = consume(
        &format!("{agent}_queue"),
        &sent.accepted,
        Duration::from_secs(20),
    )
    .await;

    // Assert: all of them, in the order they were accepted.
    let ledger = Ledger::reconcile(&sent, &stored_rows(&second.db).await, &deliveries);
    assert_eq!((ledger.lost, ledger.duplicated), (0, 0), "{ledger}");
    let order: Vec<i64> = deliveries.iter().map(|delivery| delivery.n).collect();
    assert_eq!(order, (0..15).collect::<Vec<_>>());
    assert_eq!(pending_rows(&second.db).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_relaying_from_one_database_publish_each_notification_once() {
    // Arrange: two replicas, both cut off from the broker while they accept.
    let (proxy_a, proxy_b) = (broker_proxy().await, broker_proxy().await);
    let mut settings = test_settings();
    settings.amqp.url = proxy_a.route(&amqp_url());
    let a = TestApp::spawn_with(settings, true).await;
    let b = a
        .spawn_sibling(|s| s.amqp.url = proxy_b.route(&amqp_url()))
        .await;
    let agent = a.agent().await;
    proxy_a.cut();
    proxy_b.cut();
    let mut sent = post_numbered(&a, &agent, 0..30).await;
    sent.extend(post_numbered(&b, &agent, 30..60).await);

    // Act: the broker returns for both at once; both relays compete for the same rows.
    proxy_a.restore();
    proxy_b.restore();
    let deliveries = consume(
        &format!("{agent}_queue"),
        &sent.accepted,
        Duration::from_secs(25),
    )
    .await;

    // Assert
    let ledger = Ledger::reconcile(&sent, &stored_rows(&a.db).await, &deliveries);
    ledger.print("two replicas");
    assert_eq!(ledger.lost, 0, "{ledger}");
    assert_eq!(
        ledger.duplicated, 0,
        "SKIP LOCKED keeps replicas from publishing the same row: {ledger}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_gives_fast_503s_and_service_resumes_by_itself() {
    // Arrange
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let mut settings = test_settings();
    settings.database.url = proxy.route(&settings.database.url);
    settings.database.acquire_timeout = Duration::from_millis(500);
    settings.database.statement_timeout = Duration::from_secs(1);
    let app = TestApp::spawn_with(settings, true).await;
    let agent = app.agent().await;
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
