//! The gateway process killed, terminated, or running twice.

use std::os::unix::process::ExitStatusExt;

use super::*;

/// Settings every fault-test gateway process gets: a short relay grace so that a successor
/// publishes what a killed predecessor left pending within a second, and quiet logs.
const ENV: &[(&str, &str)] = &[
    ("VOS__RELAY__GRACE", "1s"),
    ("VOS__RELAY__INTERVAL", "200ms"),
    ("VOS__AMQP__RECONNECT_MAX", "1s"),
    ("VOS__SERVER__SHUTDOWN_GRACE", "10s"),
    ("RUST_LOG", "warn"),
];

/// A ready gateway process on `port` and a shared database, logging to a file.
async fn start_gateway(port: u16, database: &TestDatabase, amqp_url: &str) -> GatewayProcess {
    GatewayProcess::builder()
        .envs(ENV)
        .port(port)
        .database_url(&database.url)
        .amqp_url(amqp_url)
        .stdout_to_file()
        .start()
        .await
}

/// The real binary on a free port, with its own database and queue, and a client that has
/// already had 150 notifications accepted and keeps posting.
async fn gateway_under_load() -> (
    std::fs::File,
    TestDatabase,
    String,
    u16,
    GatewayProcess,
    Load,
) {
    let services = services_lock_async(false).await;
    let database = TestDatabase::new();
    let port = closed_port();
    let gateway = start_gateway(port, &database, &amqp_url()).await;
    let agent = gateway.agent().await;
    let load = Load::start(Plan::new(&[&gateway], &agent));
    load.wait_accepted(150, Duration::from_secs(15)).await;
    (services, database, agent, port, gateway, load)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_killed_with_sigkill_mid_load_and_started_again_loses_nothing() {
    // Arrange: the real binary, its own database and queue, a client posting continuously.
    let (_services, database, agent, port, mut first, load) = gateway_under_load().await;

    // Act: SIGKILL mid-load, then a new process on the same port.
    first.signal("KILL");
    let killed = first.wait_exit(Duration::from_secs(5)).await;
    let _restarted = start_gateway(port, &database, &amqp_url()).await;
    load.wait_accepted(150, Duration::from_secs(15)).await;
    let report = load.stop().await;
    let db = database.pool();
    let drained_in = wait_drained(&db, Duration::from_secs(20)).await;
    let rows = stored_rows(&db).await;

    // Assert
    let ledger = Ledger::against_queue(&report.sent(), &rows, &format!("{agent}_queue")).await;
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
    ledger.assert_nothing_lost();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_finishes_the_requests_in_flight_and_loses_nothing() {
    // Arrange
    let (_services, database, agent, port, mut first, load) = gateway_under_load().await;

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
    let _successor = start_gateway(port, &database, &amqp_url()).await;
    load.wait_accepted(150, Duration::from_secs(15)).await;
    let report = load.stop().await;
    let drained_in = wait_drained(&db, Duration::from_secs(20)).await;
    let rows = stored_rows(&db).await;

    // Assert
    let ledger = Ledger::against_queue(&report.sent(), &rows, &format!("{agent}_queue")).await;
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
    ledger.assert_nothing_lost();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateway_processes_on_one_database_and_broker_lose_nothing_and_count_their_duplicates()
{
    // Arrange: two processes on one database and one broker, the broker behind a proxy.
    let _services = services_lock_async(false).await;
    let database = TestDatabase::new();
    let proxy = Proxy::start("127.0.0.1:5672").await;
    let a = start_gateway(closed_port(), &database, &proxy.route(&amqp_url())).await;
    let b = start_gateway(closed_port(), &database, &proxy.route(&amqp_url())).await;
    let agent = a.agent().await;
    for gateway in [&a, &b] {
        wait_amqp_connected(gateway, Duration::from_secs(10)).await;
    }
    let load = Load::start(Plan::new(&[&a, &b], &agent));
    load.wait_accepted(200, Duration::from_secs(15)).await;

    // Act: both lose the broker for 2 s under load; then both relays compete for the backlog.
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();
    for gateway in [&a, &b] {
        wait_amqp_connected(gateway, Duration::from_secs(15)).await;
    }
    load.wait_accepted(200, Duration::from_secs(15)).await;
    let report = load.stop().await;
    let db = database.pool();
    let drained_in = wait_drained(&db, Duration::from_secs(20)).await;
    let mut retries = 0.0;
    let mut per_process = Vec::new();
    for gateway in [&a, &b] {
        let exposition = scrape(gateway).await;
        retries += retry_publishes(&exposition);
        per_process.push((
            metric_value(&exposition, "vos_notifications_accepted_total"),
            metric_value(&exposition, "vos_relay_republished_total"),
            metric_value(&exposition, "vos_amqp_reconnects_total"),
        ));
    }
    let rows = stored_rows(&db).await;

    // Assert
    let ledger = Ledger::against_queue(&report.sent(), &rows, &format!("{agent}_queue")).await;
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
    ledger.assert_nothing_lost();
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
