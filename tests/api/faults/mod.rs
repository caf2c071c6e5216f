//! The delivery contract under faults, proved with counts. Each test runs a client that posts
//! continuously, injects one fault, and reconciles every 202 against the rows in Postgres and
//! the messages consumed from RabbitMQ (the [`Ledger`], after RabbitMQ's own Jepsen suite).
//! The ledger is printed (`cargo test faults -- --nocapture`) and asserted.
//!
//! - the real broker stopped and started again (`rabbitmqctl stop_app` / `start_app`);
//! - Postgres cut off by a TCP proxy, then restored;
//! - the gateway process killed with SIGKILL, then started again;
//! - SIGTERM under load;
//! - two gateway processes on one database and one broker, whose broker link is cut.

mod broker;
mod database;
mod lifecycle;
mod load;
mod report;

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use self::{
    load::{Load, Plan},
    report::{Attempt, Outcome},
};
use lapin::options::QueueDeleteOptions;

use crate::helpers::{
    Broker, GatewayClient, GatewayProcess, Ledger, Proxy, StoppedBroker, TestApp, TestDatabase,
    amqp_url, closed_port, consume, metric, metric_labelled, metric_value, pending_rows, scrape,
    services_lock_async, stored_rows, test_settings, wait_drained, wait_for,
};

/// Publishes that may have put a second copy of a message in a queue: relay republishes, and
/// publishes whose fate was unknown (connection lost or no confirm in time). Every duplicate
/// delivery must be explained by one of them.
fn retry_publishes(exposition: &str) -> f64 {
    let failures = |reason| metric_labelled(exposition, "vos_publish_failures_total", reason);
    metric_value(exposition, "vos_relay_republished_total")
        + failures("reason=\"unavailable\"")
        + failures("reason=\"timeout\"")
}

/// Waits until the gateway is connected to the broker; returns how long that took.
async fn wait_amqp_connected(gateway: &GatewayClient, within: Duration) -> Duration {
    let connected = || metric(gateway, "vos_amqp_connected");
    wait_for("vos_amqp_connected", 1.0, within, connected).await
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
