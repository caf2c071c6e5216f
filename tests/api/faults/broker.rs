//! The broker stopped and started under load; a message returned because its queue vanished.

use super::*;

/// What `/health` and `/metrics` said at one moment of the broker outage.
#[derive(Debug)]
struct Probe {
    at: Duration,
    health_code: u16,
    health_status: String,
    connected: f64,
    backlog: f64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_broker_stopped_and_started_under_load_loses_nothing_and_the_supervisor_reconnects() {
    // Arrange: this test stops the shared broker, so it runs alone (in every test process).
    let _exclusive = services_lock_async(true).await;
    let mut settings = test_settings();
    settings.amqp.reconnect_max = Duration::from_secs(1);
    let app = TestApp::spawn_unlocked(settings, true).await;
    let agent = app.agent().await;
    wait_amqp_connected(&app, Duration::from_secs(10)).await;
    let reconnects_before = metric(&app, "vos_amqp_reconnects_total").await;
    let load = Load::start(Plan::new(&[&app], &agent));
    load.wait_accepted(100, Duration::from_secs(10)).await;

    // Act: stop the broker for 3 s while the client keeps posting, watching health and metrics.
    let broker = StoppedBroker::stop().await;
    let down = Instant::now();
    let mut probes = Vec::new();
    while down.elapsed() < Duration::from_secs(3) {
        let health = app.get("/health").await.unwrap();
        let health_code = health.status().as_u16();
        let health: Value = health.json().await.unwrap();
        let exposition = scrape(&app).await;
        probes.push(Probe {
            at: down.elapsed(),
            health_code,
            health_status: health["status"].as_str().unwrap_or_default().to_owned(),
            connected: metric_value(&exposition, "vos_amqp_connected"),
            backlog: metric_value(&exposition, "vos_outbox_backlog"),
        });
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let restarting = Instant::now();
    broker.start().await;
    let reconnected_in = wait_amqp_connected(&app, Duration::from_secs(15)).await;
    load.wait_accepted(100, Duration::from_secs(10)).await;
    let report = load.stop().await;
    let drained_in = wait_drained(&app.db, Duration::from_secs(20)).await;
    let exposition = scrape(&app).await;
    let rows = stored_rows(&app.db).await;

    // Assert
    let ledger = Ledger::against_queue(&report.sent(), &rows, &format!("{agent}_queue")).await;
    ledger.print("broker stop_app/start_app");
    let during_outage = report.within(down, restarting);
    let reconnects = metric_value(&exposition, "vos_amqp_reconnects_total") - reconnects_before;
    println!(
        "  answers {:?}; during the outage {} requests, all 202: {}; backlog {} -> {}; \
         reconnected {reconnected_in:?} after start_app ({reconnects} reconnect); drained in {drained_in:?}",
        report.outcomes(),
        during_outage.len(),
        during_outage.iter().all(|a| a.is_accepted()),
        probes.first().unwrap().backlog,
        probes.last().unwrap().backlog,
    );
    assert!(
        !during_outage.is_empty(),
        "the client posted during the outage"
    );
    assert!(
        during_outage.iter().all(|attempt| attempt.is_accepted()),
        "notify answers 202 while the broker is down: {:?}",
        report.outcomes()
    );
    for probe in &probes {
        assert_eq!(
            (probe.health_code, probe.health_status.as_str()),
            (200, "warn"),
            "{probe:?}"
        );
    }
    // The gauge follows the outage: 0 by the end of it (how soon depends on when the session
    // notices the closed connection, which a loaded machine can delay past a second).
    let last = probes.last().unwrap();
    assert!(
        last.at > Duration::from_secs(2),
        "probed to the end of the outage"
    );
    assert_eq!(
        last.connected, 0.0,
        "vos_amqp_connected during the outage: {probes:?}"
    );
    assert!(
        probes.last().unwrap().backlog > probes.first().unwrap().backlog,
        "the backlog grows while the broker is down: {probes:?}"
    );
    assert!(reconnects >= 1.0, "vos_amqp_reconnects_total counts it");
    ledger.assert_nothing_lost();
    assert!(
        ledger.duplicated as f64 <= retry_publishes(&exposition),
        "every duplicate comes from a retried publish: {ledger}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_returned_because_its_queue_vanished_is_a_failure_and_is_delivered_later() {
    // Arrange: the agent's queue exists (declared on first use), then someone deletes it.
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let queue = format!("{agent}_queue");
    let first = app.accept(&agent).await["notification_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_published(&first, Duration::from_secs(10)).await;
    broker
        .channel()
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();

    // Act: the next publish is unroutable (mandatory): acked, but returned.
    let second = app.accept(&agent).await["notification_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let returned = || metric(&app, "vos_notifications_returned_total");
    wait_for(
        "vos_notifications_returned_total",
        1.0,
        Duration::from_secs(10),
        returned,
    )
    .await;
    // The recorder writes the rejection shortly after the metric counts it.
    let mut row: (String, i32, Option<String>) = Default::default();
    let started = Instant::now();
    while row.1 == 0 && started.elapsed() < Duration::from_secs(10) {
        row = sqlx::query_as(
            "select status, attempts, last_error from notifications \
             where notification_id = $1::uuid",
        )
        .bind(&second)
        .fetch_one(&app.db)
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, attempts, last_error) = row;
    // The relay publishes it again after its backoff, declaring the queue anew.
    app.wait_published(&second, Duration::from_secs(15)).await;
    let delivered = broker.next_message(&queue, Duration::from_secs(5)).await;

    // Assert
    assert_eq!(
        (status.as_str(), attempts, last_error.as_deref()),
        ("pending", 1, Some("returned")),
        "a returned message is not a success"
    );
    let delivered: Value =
        serde_json::from_slice(&delivered.expect("delivered after all").delivery.data).unwrap();
    assert_eq!(delivered["notification_id"], second.as_str());
}
