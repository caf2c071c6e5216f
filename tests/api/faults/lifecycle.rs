//! The gateway process killed, terminated, or running twice.

use super::*;

/// The real binary on a free port, with its own database and queue, and a client that has
/// already had 150 notifications accepted and keeps posting.
async fn gateway_under_load() -> (std::fs::File, TestDatabase, TestQueue, u16, Gateway, Load) {
    let services = tokio::task::spawn_blocking(|| services_lock(false))
        .await
        .unwrap();
    let database = TestDatabase::new();
    let queue = TestQueue::new();
    let port = closed_port();
    let gateway = Gateway::spawn(port, &database.url, &amqp_url());
    gateway.wait_ready(Duration::from_secs(30)).await;
    let load = Load::start(Plan::new(vec![gateway.base.clone()], &queue.agent));
    load.wait_accepted(150, Duration::from_secs(15)).await;
    (services, database, queue, port, gateway, load)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_killed_with_sigkill_mid_load_and_started_again_loses_nothing() {
    // Arrange: the real binary, its own database and queue, a client posting continuously.
    let (_services, database, queue, port, mut first, load) = gateway_under_load().await;

    // Act: SIGKILL mid-load, then a new process on the same port.
    first.signal("KILL");
    let killed = first.wait_exit(Duration::from_secs(5)).await;
    let restarted = Gateway::spawn(port, &database.url, &amqp_url());
    restarted.wait_ready(Duration::from_secs(30)).await;
    load.wait_accepted(150, Duration::from_secs(15)).await;
    let report = load.stop().await;
    let db = database.pool();
    let drained_in = wait_drained(&db, Duration::from_secs(20)).await;
    let rows = stored_rows(&db).await;

    // Assert
    let ledger = Ledger::against_queue(&report, &rows, &queue.name()).await;
    ledger.print("SIGKILL and restart");
    println!(
        "  answers {:?}; drained in {drained_in:?}",
        report.outcomes()
    );
    assert_eq!(
        killed.signal(),
        Some(9),
        "the first process died of SIGKILL"
    );
    assert_eq!(ledger.lost, 0, "{ledger}");
    assert_eq!(ledger.stored, ledger.accepted, "{ledger}");
    assert_eq!(ledger.unexpected, 0, "{ledger}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_finishes_the_requests_in_flight_and_loses_nothing() {
    // Arrange
    let (_services, database, queue, port, mut first, load) = gateway_under_load().await;

    // Act: slow inserts down so that requests are surely in flight, then SIGTERM; then a
    // successor on the same port, as in a rolling restart.
    let db = database.pool();
    slow_inserts(&db, true).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.signal("TERM");
    let signalled = Instant::now();
    let exit = first.wait_exit(Duration::from_secs(15)).await;
    let stopped_in = signalled.elapsed();
    slow_inserts(&db, false).await;
    let left_pending = pending_rows(&db).await;
    let successor = Gateway::spawn(port, &database.url, &amqp_url());
    successor.wait_ready(Duration::from_secs(30)).await;
    load.wait_accepted(150, Duration::from_secs(15)).await;
    let report = load.stop().await;
    let drained_in = wait_drained(&db, Duration::from_secs(20)).await;
    let rows = stored_rows(&db).await;

    // Assert
    let ledger = Ledger::against_queue(&report, &rows, &queue.name()).await;
    ledger.print("SIGTERM and successor");
    // Sent a little before the signal and not answered by then: the gateway had read them.
    let in_flight = report
        .attempts
        .iter()
        .filter(|a| a.started + Duration::from_millis(20) < signalled && a.finished > signalled)
        .collect::<Vec<_>>();
    println!(
        "  answers {:?}; {} requests in flight at SIGTERM, {} answered 202; exited {exit} in \
         {stopped_in:?} leaving {left_pending:?} pending; drained in {drained_in:?}",
        report.outcomes(),
        in_flight.len(),
        in_flight.iter().filter(|a| a.is_accepted()).count(),
    );
    assert!(exit.success(), "graceful shutdown exits 0: {exit}");
    assert!(!in_flight.is_empty(), "requests were in flight at SIGTERM");
    assert!(
        in_flight.iter().all(|attempt| attempt.is_accepted()),
        "every request in flight at SIGTERM is answered 202: {in_flight:?}"
    );
    assert!(
        report
            .attempts
            .iter()
            .all(|a| !matches!(a.outcome, Outcome::Refused { .. })),
        "no request is refused because of the shutdown: {:?}",
        report.outcomes()
    );
    // A request the gateway had read was answered: nothing committed without its 202.
    assert_eq!(ledger.recovered, 0, "{ledger}");
    assert_eq!(ledger.retried, 0, "{ledger}");
    assert_eq!(ledger.lost, 0, "{ledger}");
    assert_eq!(ledger.stored, ledger.accepted, "{ledger}");
    assert_eq!(ledger.unexpected, 0, "{ledger}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateway_processes_on_one_database_and_broker_lose_nothing_and_count_their_duplicates()
{
    // Arrange: two processes on one database and one broker, the broker behind a proxy.
    let _services = tokio::task::spawn_blocking(|| services_lock(false))
        .await
        .unwrap();
    let database = TestDatabase::new();
    let queue = TestQueue::new();
    let proxy = Proxy::start("127.0.0.1:5672").await;
    let a = Gateway::spawn(closed_port(), &database.url, &amqp_via(&proxy));
    a.wait_ready(Duration::from_secs(30)).await;
    let b = Gateway::spawn(closed_port(), &database.url, &amqp_via(&proxy));
    b.wait_ready(Duration::from_secs(30)).await;
    for gateway in [&a, &b] {
        let connected = || gateway.metric("vos_amqp_connected");
        wait_for(
            "vos_amqp_connected",
            1.0,
            Duration::from_secs(10),
            connected,
        )
        .await;
    }
    let load = Load::start(Plan::new(
        vec![a.base.clone(), b.base.clone()],
        &queue.agent,
    ));
    load.wait_accepted(200, Duration::from_secs(15)).await;

    // Act: both lose the broker for 2 s under load; then both relays compete for the backlog.
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();
    for gateway in [&a, &b] {
        let connected = || gateway.metric("vos_amqp_connected");
        wait_for(
            "vos_amqp_connected",
            1.0,
            Duration::from_secs(15),
            connected,
        )
        .await;
    }
    load.wait_accepted(200, Duration::from_secs(15)).await;
    let report = load.stop().await;
    let db = database.pool();
    let drained_in = wait_drained(&db, Duration::from_secs(20)).await;
    let mut retries = 0.0;
    let mut per_process = Vec::new();
    for gateway in [&a, &b] {
        let exposition = reqwest::get(format!("{}/metrics", gateway.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        retries += retry_publishes(&exposition);
        per_process.push((
            metric_value(&exposition, "vos_notifications_accepted_total"),
            metric_value(&exposition, "vos_relay_republished_total"),
            metric_value(&exposition, "vos_amqp_reconnects_total"),
        ));
    }
    let rows = stored_rows(&db).await;

    // Assert
    let ledger = Ledger::against_queue(&report, &rows, &queue.name()).await;
    ledger.print("two processes, broker link cut");
    println!(
        "  answers {:?}; (accepted, relay republished, reconnects) per process {per_process:?}; \
         retried publishes {retries}; drained in {drained_in:?}",
        report.outcomes()
    );
    assert!(per_process.iter().all(|&(accepted, _, _)| accepted > 0.0));
    assert!(
        per_process
            .iter()
            .all(|&(_, _, reconnects)| reconnects >= 1.0)
    );
    assert_eq!(ledger.lost, 0, "{ledger}");
    assert_eq!(ledger.stored, ledger.accepted, "{ledger}");
    assert_eq!(ledger.unexpected, 0, "{ledger}");
    assert_eq!(
        (ledger.recovered, ledger.retried),
        (0, 0),
        "no client-side ambiguity: {ledger}"
    );
    assert!(
        ledger.duplicated as f64 <= retries,
        "duplicates come only from retried publishes ({retries}): {ledger}"
    );
}
