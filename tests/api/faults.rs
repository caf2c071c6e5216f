//! The delivery contract under faults, proved with counts. Each test runs a client that posts
//! continuously, injects one fault, and reconciles every 202 against the rows in Postgres and
//! the messages consumed from RabbitMQ (the ledger of `faults/ledger.rs`, after RabbitMQ's own
//! Jepsen suite). The ledger is printed (`cargo test faults -- --nocapture`) and asserted.
//!
//! - the real broker stopped and started again (`rabbitmqctl stop_app` / `start_app`);
//! - Postgres cut off by a TCP proxy, then restored;
//! - the gateway process killed with SIGKILL, then started again;
//! - SIGTERM under load;
//! - two gateway processes on one database and one broker, whose broker link is cut.

mod ledger;
mod load;
mod process;
mod rabbit;

use std::{os::unix::process::ExitStatusExt, time::Duration};

use serde_json::Value;
use tokio::time::Instant;

use self::{
    ledger::{Ledger, consume, pending_rows, stored_rows, wait_drained},
    load::{Load, Outcome, Plan},
    process::{Gateway, TestDatabase, metric_labelled, metric_value},
    rabbit::{StoppedBroker, TestQueue},
};
use lapin::options::QueueDeleteOptions;

use crate::{
    helpers::{
        Broker, TestApp, amqp_url, closed_port, notification_body, services_lock, test_settings,
    },
    proxy::Proxy,
};

/// The whole `/metrics` exposition of an in-process gateway.
async fn scrape(app: &TestApp) -> String {
    app.get("/metrics").await.unwrap().text().await.unwrap()
}

/// Publishes that may have put a second copy of a message in a queue: relay republishes, and
/// publishes whose fate was unknown (connection lost or no confirm in time). Every duplicate
/// delivery must be explained by one of them.
fn retry_publishes(exposition: &str) -> f64 {
    let failures = |reason| metric_labelled(exposition, "vos_publish_failures_total", reason);
    metric_value(exposition, "vos_relay_republished_total")
        + failures("reason=\"unavailable\"")
        + failures("reason=\"timeout\"")
}

/// Polls `read` until it returns `wanted`; returns how long that took.
async fn wait_for<F, Fut>(what: &str, wanted: f64, within: Duration, read: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = f64>,
{
    let started = Instant::now();
    loop {
        let value = read().await;
        if value == wanted {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{what} is {value}, not {wanted}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the pool holds no connection beyond the one the relay may be using right now:
/// a connection abandoned on a dead link must be closed, not kept "in use" for ever.
async fn wait_pool_released(app: &TestApp) -> Duration {
    let started = Instant::now();
    loop {
        let exposition = scrape(app).await;
        let in_use = metric_labelled(&exposition, "vos_db_pool_connections", "state=\"in_use\"");
        if in_use <= 1.0 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{in_use} pool connections are still in use 5 s after the load stopped: \
             stuck on half-open links"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Makes every insert into `notifications` take 200 ms longer (or normal again).
async fn slow_inserts(db: &sqlx::PgPool, slow: bool) {
    if slow {
        sqlx::query(
            "create or replace function slow_insert() returns trigger language plpgsql \
             as $$ begin perform pg_sleep(0.2); return null; end $$",
        )
        .execute(db)
        .await
        .unwrap();
        sqlx::query(
            "create trigger slow_insert before insert on notifications \
             for each statement execute function slow_insert()",
        )
        .execute(db)
        .await
        .unwrap();
    } else {
        sqlx::query("drop trigger slow_insert on notifications")
            .execute(db)
            .await
            .unwrap();
    }
}

fn amqp_via(proxy: &Proxy) -> String {
    amqp_url().replacen("127.0.0.1:5672", &proxy.addr.to_string(), 1)
}

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
    let _exclusive = tokio::task::spawn_blocking(|| services_lock(true))
        .await
        .unwrap();
    let mut settings = test_settings();
    settings.amqp.reconnect_max = Duration::from_secs(1);
    let app = TestApp::spawn_unlocked(settings, true).await;
    let agent = app.agent();
    let connected = || async { metric_value(&scrape(&app).await, "vos_amqp_connected") };
    wait_for(
        "vos_amqp_connected",
        1.0,
        Duration::from_secs(10),
        connected,
    )
    .await;
    let reconnects_before = metric_value(&scrape(&app).await, "vos_amqp_reconnects_total");
    let load = Load::start(Plan::new(vec![app.address.clone()], &agent));
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
    let reconnected_in = wait_for(
        "vos_amqp_connected",
        1.0,
        Duration::from_secs(15),
        connected,
    )
    .await;
    load.wait_accepted(100, Duration::from_secs(10)).await;
    let report = load.stop().await;
    let drained_in = wait_drained(&app.db, Duration::from_secs(20)).await;
    let exposition = scrape(&app).await;
    let rows = stored_rows(&app.db).await;
    let deliveries = consume(
        &format!("{agent}_queue"),
        &report.accepted_ids(),
        Duration::from_secs(20),
    )
    .await;

    // Assert
    let ledger = Ledger::reconcile(&report, &rows, &deliveries);
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
        if probe.at > Duration::from_millis(500) {
            assert_eq!(probe.connected, 0.0, "vos_amqp_connected: {probe:?}");
        }
    }
    assert!(
        probes.last().unwrap().backlog > probes.first().unwrap().backlog,
        "the backlog grows while the broker is down: {probes:?}"
    );
    assert!(reconnects >= 1.0, "vos_amqp_reconnects_total counts it");
    assert_eq!(ledger.lost, 0, "{ledger}");
    assert_eq!(ledger.stored, ledger.accepted, "{ledger}");
    assert_eq!(ledger.unexpected, 0, "{ledger}");
    assert!(
        ledger.duplicated as f64 <= retry_publishes(&exposition),
        "every duplicate comes from a retried publish: {ledger}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_cut_off_under_load_gives_quick_503s_never_a_202_and_service_resumes_by_itself() {
    // Arrange: Postgres behind a proxy the test can cut.
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let mut settings = test_settings();
    let direct_url = settings.database.url.clone();
    settings.database.url = direct_url.replacen("127.0.0.1:5432", &proxy.addr.to_string(), 1);
    settings.database.acquire_timeout = Duration::from_millis(500);
    settings.database.statement_timeout = Duration::from_secs(1);
    let deadline = settings.database.acquire_timeout + settings.database.statement_timeout;
    let app = TestApp::spawn_with(settings, true).await;
    let direct = sqlx::PgPool::connect_lazy(&direct_url).unwrap();
    let agent = app.agent();
    let mut plan = Plan::new(vec![app.address.clone()], &agent);
    plan.retry = false;
    let load = Load::start(plan);
    load.wait_accepted(100, Duration::from_secs(10)).await;

    // Act: cut Postgres off for 3 s, probing readiness meanwhile.
    proxy.cut();
    let cut = Instant::now();
    let mut ready_codes = Vec::new();
    while cut.elapsed() < Duration::from_secs(3) {
        ready_codes.push(app.get("/health/ready").await.unwrap().status().as_u16());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    proxy.restore();
    let restored = Instant::now();
    load.wait_accepted(100, Duration::from_secs(15)).await;
    let report = load.stop().await;
    let drained_in = wait_drained(&direct, Duration::from_secs(20)).await;
    let rows = stored_rows(&direct).await;
    let deliveries = consume(
        &format!("{agent}_queue"),
        &report.accepted_ids(),
        Duration::from_secs(20),
    )
    .await;

    // Assert
    let ledger = Ledger::reconcile(&report, &rows, &deliveries);
    ledger.print("postgres cut off");
    // A request that started after the cut cannot commit (a small margin covers link tasks
    // still being torn down when `cut` returns).
    let during_outage = report.within(cut + Duration::from_millis(20), restored);
    let slowest = during_outage.iter().map(|a| a.elapsed()).max().unwrap();
    let first_202_after = report
        .attempts
        .iter()
        .find(|a| a.started >= restored && a.is_accepted())
        .map(|a| a.finished - restored);
    println!(
        "  answers {:?}; during the outage {} requests, slowest answer {slowest:?} \
         (deadline {deadline:?}); first 202 {first_202_after:?} after the restore; drained in {drained_in:?}",
        report.outcomes(),
        during_outage.len(),
    );
    assert!(
        !during_outage.is_empty(),
        "the client posted during the outage"
    );
    for attempt in &during_outage {
        assert!(
            matches!(
                attempt.outcome,
                Outcome::Refused {
                    status: 503,
                    problem_json: true,
                    retry_after: true
                }
            ),
            "503 problem+json with Retry-After while Postgres is unreachable: {attempt:?}"
        );
    }
    assert!(
        slowest <= deadline + Duration::from_secs(1),
        "answered within the deadline: {slowest:?}"
    );
    assert!(
        ready_codes.iter().all(|&code| code == 503),
        "{ready_codes:?}"
    );
    assert!(
        report.attempts.iter().all(|a| matches!(
            a.outcome,
            Outcome::Accepted(_) | Outcome::Refused { status: 503, .. }
        )),
        "only 202 or 503, never a hang or another error: {:?}",
        report.outcomes()
    );
    assert_eq!(ledger.lost, 0, "no accepted-then-lost: {ledger}");
    assert_eq!(ledger.stored, ledger.accepted, "{ledger}");
    assert_eq!(ledger.unexpected, 0, "{ledger}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_gone_silent_under_load_gives_503s_within_the_deadline_and_half_open_links_do_not_stall_the_gateway()
 {
    // Arrange: Postgres behind a proxy that can turn into a black hole.
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let mut settings = test_settings();
    let direct_url = settings.database.url.clone();
    settings.database.url = direct_url.replacen("127.0.0.1:5432", &proxy.addr.to_string(), 1);
    settings.database.acquire_timeout = Duration::from_millis(500);
    settings.database.statement_timeout = Duration::from_secs(1);
    // sqlx refills `min_connections` with a 5-minute connect deadline; on a black hole that
    // connect holds a pool slot for those 5 minutes (bounded, and sqlx's own). Without it the
    // check below sees only the gateway's own connections.
    settings.database.min_connections = 0;
    let deadline = settings.database.acquire_timeout + settings.database.statement_timeout;
    let app = TestApp::spawn_with(settings, true).await;
    let direct = sqlx::PgPool::connect_lazy(&direct_url).unwrap();
    let agent = app.agent();
    let mut plan = Plan::new(vec![app.address.clone()], &agent);
    plan.retry = false;
    let load = Load::start(plan);
    load.wait_accepted(100, Duration::from_secs(10)).await;

    // Act: with inserts slowed down (so that the writer's connections are mid-query, not
    // being returned to the pool, when the fault strikes), every connection goes silent for
    // 3 s; then new connections work, but the old ones stay silent for good (half-open, as
    // after a failover behind a stateful firewall).
    slow_inserts(&direct, true).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.stall();
    let stalled = Instant::now();
    let mut ready_codes = Vec::new();
    while stalled.elapsed() < Duration::from_secs(3) {
        ready_codes.push(app.get("/health/ready").await.unwrap().status().as_u16());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    proxy.restore_new_only();
    let restored = Instant::now();
    slow_inserts(&direct, false).await;
    load.wait_accepted(100, Duration::from_secs(15)).await;
    let report = load.stop().await;
    let drained_in = wait_drained(&direct, Duration::from_secs(20)).await;
    let rows = stored_rows(&direct).await;
    let deliveries = consume(
        &format!("{agent}_queue"),
        &report.accepted_ids(),
        Duration::from_secs(20),
    )
    .await;

    let stuck_in = wait_pool_released(&app).await;
    // Assert
    let ledger = Ledger::reconcile(&report, &rows, &deliveries);
    ledger.print("postgres silent, then half-open");
    let during_outage = report.within(stalled + Duration::from_millis(20), restored);
    let slowest = report.attempts.iter().map(|a| a.elapsed()).max().unwrap();
    let first_202_after = report
        .attempts
        .iter()
        .find(|a| a.started >= restored && a.is_accepted())
        .map(|a| a.finished - restored);
    println!(
        "  answers {:?}; during the outage {} requests; slowest answer of the run {slowest:?} \
         (deadline {deadline:?}); first 202 {first_202_after:?} after the restore; drained in \
         {drained_in:?}; pool connections back {stuck_in:?} after the drain",
        report.outcomes(),
        during_outage.len(),
    );
    assert!(
        !during_outage.is_empty(),
        "the client posted during the outage"
    );
    for attempt in &during_outage {
        assert!(
            matches!(
                attempt.outcome,
                Outcome::Refused {
                    status: 503,
                    problem_json: true,
                    retry_after: true
                }
            ),
            "503 problem+json with Retry-After while Postgres is silent: {attempt:?}"
        );
    }
    assert!(
        slowest <= deadline + Duration::from_secs(1),
        "every answer within the deadline, never a hang: {slowest:?}"
    );
    assert!(
        ready_codes.iter().all(|&code| code == 503),
        "{ready_codes:?}"
    );
    assert_eq!(ledger.lost, 0, "no accepted-then-lost: {ledger}");
    assert_eq!(ledger.stored, ledger.accepted, "{ledger}");
    assert_eq!(ledger.unexpected, 0, "{ledger}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_caught_on_a_half_open_database_link_recovers_and_drains_the_backlog() {
    // Arrange: Postgres and RabbitMQ behind proxies; a backlog built while the broker is cut.
    let db_proxy = Proxy::start("127.0.0.1:5432").await;
    let broker_proxy = Proxy::start("127.0.0.1:5672").await;
    let mut settings = test_settings();
    let direct_url = settings.database.url.clone();
    settings.database.url = direct_url.replacen("127.0.0.1:5432", &db_proxy.addr.to_string(), 1);
    settings.database.acquire_timeout = Duration::from_millis(500);
    settings.database.statement_timeout = Duration::from_secs(1);
    settings.amqp.url = amqp_via(&broker_proxy);
    settings.amqp.confirm_timeout = Duration::from_secs(2);
    settings.amqp.reconnect_max = Duration::from_millis(500);
    // Small passes, so that the relay is in the middle of one whenever the fault strikes.
    settings.relay.batch_size = 10;
    settings.database.min_connections = 0; // as in the test above
    let app = TestApp::spawn_with(settings, true).await;
    let direct = sqlx::PgPool::connect_lazy(&direct_url).unwrap();
    let agent = app.agent();
    broker_proxy.cut();
    let mut plan = Plan::new(vec![app.address.clone()], &agent);
    plan.retry = false;
    let load = Load::start(plan);
    load.wait_accepted(400, Duration::from_secs(15)).await;
    let report = load.stop().await;

    // Act: the broker returns and the relay starts draining; then the database fails over:
    // its sessions end, and the gateway's links to it go silent for good (half-open).
    broker_proxy.restore();
    let relaying = || async { metric_value(&scrape(&app).await, "vos_relay_republished_total") };
    let started = Instant::now();
    while relaying().await < 20.0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the relay drains"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    db_proxy.stall();
    sqlx::query(
        "select pg_terminate_backend(pid) from pg_stat_activity \
         where datname = current_database() and pid <> pg_backend_pid()",
    )
    .execute(&direct)
    .await
    .unwrap();
    db_proxy.restore_new_only();
    let drained_in = wait_drained(&direct, Duration::from_secs(20)).await;
    // Not asserted here (the test above does, deterministically): the relay cycles its
    // connection so fast that the fault may strike during sqlx's own release ping, which has
    // no deadline (see docs/reliability.md).
    let in_use = metric_labelled(
        &scrape(&app).await,
        "vos_db_pool_connections",
        "state=\"in_use\"",
    );
    let rows = stored_rows(&direct).await;
    let deliveries = consume(
        &format!("{agent}_queue"),
        &report.accepted_ids(),
        Duration::from_secs(20),
    )
    .await;

    // Assert
    let ledger = Ledger::reconcile(&report, &rows, &deliveries);
    ledger.print("relay on a half-open database link");
    println!(
        "  answers {:?}; drained in {drained_in:?} after the failover; {in_use} pool \
         connections in use after the drain",
        report.outcomes()
    );
    assert_eq!(ledger.lost, 0, "{ledger}");
    assert_eq!(ledger.stored, ledger.accepted, "{ledger}");
    assert_eq!(ledger.unexpected, 0, "{ledger}");
    assert!(
        ledger.duplicated as f64 <= retry_publishes(&scrape(&app).await),
        "every duplicate comes from a retried publish: {ledger}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_returned_because_its_queue_vanished_is_a_failure_and_is_delivered_later() {
    // Arrange: the agent's queue exists (declared on first use), then someone deletes it.
    let app = TestApp::spawn().await;
    let broker = Broker::connect().await;
    let agent = app.agent();
    let queue = format!("{agent}_queue");
    let first: Value = app
        .notify(&agent, &notification_body())
        .await
        .json()
        .await
        .unwrap();
    let first = first["notification_id"].as_str().unwrap().to_owned();
    app.wait_published(&first, Duration::from_secs(10)).await;
    broker
        .channel()
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();

    // Act: the next publish is unroutable (mandatory): acked, but returned.
    let second: Value = app
        .notify(&agent, &notification_body())
        .await
        .json()
        .await
        .unwrap();
    let second = second["notification_id"].as_str().unwrap().to_owned();
    let returned =
        || async { metric_value(&scrape(&app).await, "vos_notifications_returned_total") };
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_killed_with_sigkill_mid_load_and_started_again_loses_nothing() {
    // Arrange: the real binary, its own database and queue, a client posting continuously.
    let _services = tokio::task::spawn_blocking(|| services_lock(false))
        .await
        .unwrap();
    let database = TestDatabase::new();
    let queue = TestQueue::new();
    let port = closed_port();
    let mut first = Gateway::spawn(port, &database.url, &amqp_url());
    first.wait_ready(Duration::from_secs(30)).await;
    let load = Load::start(Plan::new(vec![first.base.clone()], &queue.agent));
    load.wait_accepted(150, Duration::from_secs(15)).await;

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
    let deliveries = consume(
        &queue.name(),
        &report.accepted_ids(),
        Duration::from_secs(20),
    )
    .await;

    // Assert
    let ledger = Ledger::reconcile(&report, &rows, &deliveries);
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
    let _services = tokio::task::spawn_blocking(|| services_lock(false))
        .await
        .unwrap();
    let database = TestDatabase::new();
    let queue = TestQueue::new();
    let port = closed_port();
    let mut first = Gateway::spawn(port, &database.url, &amqp_url());
    first.wait_ready(Duration::from_secs(30)).await;
    let load = Load::start(Plan::new(vec![first.base.clone()], &queue.agent));
    load.wait_accepted(150, Duration::from_secs(15)).await;

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
    let deliveries = consume(
        &queue.name(),
        &report.accepted_ids(),
        Duration::from_secs(20),
    )
    .await;

    // Assert
    let ledger = Ledger::reconcile(&report, &rows, &deliveries);
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
    let deliveries = consume(
        &queue.name(),
        &report.accepted_ids(),
        Duration::from_secs(20),
    )
    .await;

    // Assert
    let ledger = Ledger::reconcile(&report, &rows, &deliveries);
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
