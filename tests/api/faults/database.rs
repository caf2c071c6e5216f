//! Postgres cut off, gone silent, or half-open under the relay.

use serde_json::json;
use vos_gateway::config::Settings;

use super::*;
use crate::helpers::completed_result;

/// A proxy in front of Postgres; test settings whose database is reached through it, with
/// deadlines short enough for an outage to show within seconds; and a pool that bypasses the
/// proxy, for the ledger.
async fn behind_proxy() -> (Proxy, Settings, sqlx::PgPool) {
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let mut settings = test_settings();
    let direct = sqlx::PgPool::connect_lazy(&settings.database.url).unwrap();
    settings.database.url = proxy.route(&settings.database.url);
    settings.database.acquire_timeout = Duration::from_millis(500);
    settings.database.statement_timeout = Duration::from_secs(1);
    (proxy, settings, direct)
}

/// `/health/ready`'s status codes, probed every 250 ms for `period`.
async fn readiness_codes_for(app: &TestApp, period: Duration) -> Vec<u16> {
    let started = Instant::now();
    let mut codes = Vec::new();
    while started.elapsed() < period {
        codes.push(app.get("/health/ready").await.unwrap().status().as_u16());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    codes
}

/// While Postgres is `state`, every notify is a 503 problem with Retry-After, every answer
/// comes within the deadline (never a hang), and readiness is 503.
fn assert_outage_answers(
    during_outage: &[&Attempt],
    slowest: Duration,
    deadline: Duration,
    ready_codes: &[u16],
    state: &str,
) {
    assert!(
        !during_outage.is_empty(),
        "the client posted while Postgres was {state}"
    );
    for attempt in during_outage {
        assert!(
            matches!(
                attempt.outcome,
                Outcome::Refused {
                    status: 503,
                    problem_json: true,
                    retry_after: true
                }
            ),
            "503 problem+json with Retry-After while Postgres is {state}: {attempt:?}"
        );
    }
    assert!(
        slowest <= deadline + Duration::from_secs(1),
        "every answer within the deadline: {slowest:?}"
    );
    assert!(
        ready_codes.iter().all(|&code| code == 503),
        "{ready_codes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_cut_off_under_load_gives_quick_503s_never_a_202_and_service_resumes_by_itself() {
    // Arrange: Postgres behind a proxy the test can cut.
    let (proxy, settings, direct) = behind_proxy().await;
    let deadline = settings.database.acquire_timeout + settings.database.statement_timeout;
    let app = TestApp::spawn_with(settings, true).await;
    let agent = app.agent().await;
    let load = Load::start(Plan::new(&[&app], &agent).without_retry());
    load.wait_accepted(100, Duration::from_secs(10)).await;

    // Act: cut Postgres off for 3 s, probing readiness meanwhile.
    proxy.cut();
    let cut = Instant::now();
    let ready_codes = readiness_codes_for(&app, Duration::from_secs(3)).await;
    proxy.restore();
    let restored = Instant::now();
    load.wait_accepted(100, Duration::from_secs(15)).await;
    let report = load.stop().await;
    let drained_in = wait_drained(&direct, Duration::from_secs(20)).await;
    let rows = stored_rows(&direct).await;

    // Assert
    let ledger = Ledger::against_queue(&report.sent(), &rows, &format!("{agent}_queue")).await;
    ledger.print("postgres cut off");
    // A request that started after the cut cannot commit (a small margin covers link tasks
    // still being torn down when `cut` returns).
    let during_outage = report.within(cut + Duration::from_millis(20), restored);
    let slowest = during_outage.iter().map(|a| a.elapsed()).max().unwrap();
    let first_202_after = report.first_accepted_after(restored);
    println!(
        "  answers {:?}; during the outage {} requests, slowest answer {slowest:?} \
         (deadline {deadline:?}); first 202 {first_202_after:?} after the restore; drained in {drained_in:?}",
        report.outcomes(),
        during_outage.len(),
    );
    assert_outage_answers(
        &during_outage,
        slowest,
        deadline,
        &ready_codes,
        "unreachable",
    );
    assert!(
        report.attempts.iter().all(|a| matches!(
            a.outcome,
            Outcome::Accepted(_) | Outcome::Refused { status: 503, .. }
        )),
        "only 202 or 503, never a hang or another error: {:?}",
        report.outcomes()
    );
    ledger.assert_nothing_lost();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_gone_silent_under_load_gives_503s_within_the_deadline_and_half_open_links_do_not_stall_the_gateway()
 {
    // Arrange: Postgres behind a proxy that can turn into a black hole.
    let (proxy, mut settings, direct) = behind_proxy().await;
    // sqlx refills `min_connections` with a 5-minute connect deadline; on a black hole that
    // connect holds a pool slot for those 5 minutes (bounded, and sqlx's own). Without it the
    // check below sees only the gateway's own connections.
    settings.database.min_connections = 0;
    let deadline = settings.database.acquire_timeout + settings.database.statement_timeout;
    let app = TestApp::spawn_with(settings, true).await;
    let agent = app.agent().await;
    let load = Load::start(Plan::new(&[&app], &agent).without_retry());
    load.wait_accepted(100, Duration::from_secs(10)).await;

    // Act: with inserts slowed down (so that the writer's connections are mid-query, not
    // being returned to the pool, when the fault strikes), every connection goes silent for
    // 3 s; then new connections work, but the old ones stay silent for good (half-open, as
    // after a failover behind a stateful firewall).
    slow_inserts(&direct, true).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.stall();
    let stalled = Instant::now();
    let ready_codes = readiness_codes_for(&app, Duration::from_secs(3)).await;
    proxy.restore_new_only();
    let restored = Instant::now();
    slow_inserts(&direct, false).await;
    load.wait_accepted(100, Duration::from_secs(15)).await;
    let report = load.stop().await;
    let drained_in = wait_drained(&direct, Duration::from_secs(20)).await;
    let rows = stored_rows(&direct).await;
    let deliveries = consume(
        &format!("{agent}_queue"),
        &report.sent().accepted,
        Duration::from_secs(20),
    )
    .await;

    let stuck_in = wait_pool_released(&app).await;
    // Assert
    let ledger = Ledger::reconcile(&report.sent(), &rows, &deliveries);
    ledger.print("postgres silent, then half-open");
    let during_outage = report.within(stalled + Duration::from_millis(20), restored);
    let slowest = report.attempts.iter().map(|a| a.elapsed()).max().unwrap();
    let first_202_after = report.first_accepted_after(restored);
    println!(
        "  answers {:?}; during the outage {} requests; slowest answer of the run {slowest:?} \
         (deadline {deadline:?}); first 202 {first_202_after:?} after the restore; drained in \
         {drained_in:?}; pool connections back {stuck_in:?} after the drain",
        report.outcomes(),
        during_outage.len(),
    );
    assert_outage_answers(&during_outage, slowest, deadline, &ready_codes, "silent");
    ledger.assert_nothing_lost();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_caught_on_a_half_open_database_link_recovers_and_drains_the_backlog() {
    // Arrange: Postgres and RabbitMQ behind proxies; a backlog built while the broker is cut.
    let (db_proxy, mut settings, direct) = behind_proxy().await;
    let broker_proxy = Proxy::start("127.0.0.1:5672").await;
    settings.amqp.url = broker_proxy.route(&amqp_url());
    settings.amqp.confirm_timeout = Duration::from_secs(2);
    settings.amqp.reconnect_max = Duration::from_millis(500);
    // Small passes, so that the relay is in the middle of one whenever the fault strikes.
    settings.relay.batch_size = 10;
    settings.database.min_connections = 0; // as in the test above
    let app = TestApp::spawn_with(settings, true).await;
    let agent = app.agent().await;
    broker_proxy.cut();
    let load = Load::start(Plan::new(&[&app], &agent).without_retry());
    load.wait_accepted(400, Duration::from_secs(15)).await;
    let report = load.stop().await;

    // Act: the broker returns and the relay starts draining; then the database fails over:
    // its sessions end, and the gateway's links to it go silent for good (half-open).
    broker_proxy.restore();
    let relaying = || metric(&app, "vos_relay_republished_total");
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

    // Assert
    let ledger = Ledger::against_queue(&report.sent(), &rows, &format!("{agent}_queue")).await;
    ledger.print("relay on a half-open database link");
    println!(
        "  answers {:?}; drained in {drained_in:?} after the failover; {in_use} pool \
         connections in use after the drain",
        report.outcomes()
    );
    ledger.assert_nothing_lost();
    assert!(
        ledger.duplicated as f64 <= retry_publishes(&scrape(&app).await),
        "every duplicate comes from a retried publish: {ledger}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn results_that_arrive_while_postgres_is_cut_off_are_recorded_once_it_returns() {
    // Arrange: three published notifications; Postgres behind a proxy the test can cut.
    let (proxy, settings, direct) = behind_proxy().await;
    let app = TestApp::spawn_with(settings, true).await;
    let broker = Broker::connect().await;
    let agent = app.agent().await;
    let mut accepted = Vec::new();
    for _ in 0..3 {
        accepted.push(app.accept_published(&agent).await);
    }
    let queue = app.settings.amqp.results_queue.clone();

    // Act: the agent answers all three while Postgres is cut off; it returns 3 s later.
    proxy.cut();
    for notification in &accepted {
        let result = completed_result(notification, &agent, json!({"n": 1}));
        broker
            .publish_result(&queue, &serde_json::to_vec(&result).unwrap(), None)
            .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.restore();

    // Assert: each result is recorded once, none is dropped, the queue is empty.
    wait_for("results recorded", 3.0, Duration::from_secs(20), || async {
        metric_labelled(
            &scrape(&app).await,
            "vos_results_total",
            r#"outcome="completed""#,
        )
    })
    .await;
    let completed: i64 = sqlx::query_scalar(
        "select count(*) from notifications where agent_id = $1 and outcome = 'completed'",
    )
    .bind(&agent)
    .fetch_one(&direct)
    .await
    .unwrap();
    assert_eq!(completed, 3);
    let metrics = scrape(&app).await;
    assert_eq!(metric_value(&metrics, "vos_results_dropped_total"), 0.0);
    assert_eq!(broker.queue_depth(&queue).await, 0);
}
