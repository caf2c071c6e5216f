//! The ledger of a fault test, after RabbitMQ's Jepsen suite: every 202 the client received is
//! reconciled against the rows in Postgres and against the messages consumed from the agent's
//! queue, and the differences are counted rather than eyeballed.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    time::Duration,
};

use futures::StreamExt;
use lapin::{
    Connection, ConnectionProperties,
    options::{BasicCancelOptions, BasicConsumeOptions},
    types::FieldTable,
};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::load::LoadReport;
use crate::helpers::amqp_url;

/// A notification row, keyed by the payload number the load generator gave it.
#[derive(Debug, Clone)]
pub struct StoredRow {
    pub notification_id: Uuid,
    pub n: i64,
}

/// A message consumed from the agent's queue.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub notification_id: Uuid,
    pub n: i64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ledger {
    /// Distinct payload numbers the client tried to post.
    pub attempted: usize,
    /// Notifications answered 202.
    pub accepted: usize,
    /// Accepted notifications with a row in Postgres.
    pub stored: usize,
    /// Accepted notifications consumed from RabbitMQ at least once.
    pub delivered: usize,
    /// Accepted notifications missing from Postgres or never consumed.
    pub lost: usize,
    /// Deliveries beyond the first of one notification id (a publish retried after its
    /// confirm was not recorded); consumers drop them by `message_id`.
    pub duplicated: usize,
    /// Payload numbers stored under more than one notification id: the client retried after
    /// an ambiguous failure (no answer) although the first attempt had committed.
    pub retried: usize,
    /// Notifications stored without a 202 reaching the client (an ambiguous failure that had
    /// committed). Allowed by the contract, and delivered like any other.
    pub recovered: usize,
    /// Messages consumed that match no row, or carry a payload number the client never
    /// posted: never allowed.
    pub unexpected: usize,
}

impl Ledger {
    /// Consumes `queue` (waiting up to 20 s for every accepted notification) and reconciles.
    pub async fn against_queue(report: &LoadReport, rows: &[StoredRow], queue: &str) -> Self {
        let deliveries = consume(queue, &report.accepted_ids(), Duration::from_secs(20)).await;
        Self::reconcile(report, rows, &deliveries)
    }

    pub fn reconcile(report: &LoadReport, rows: &[StoredRow], deliveries: &[Delivery]) -> Self {
        let accepted = report.accepted_ids();
        let stored_ids: HashSet<Uuid> = rows.iter().map(|row| row.notification_id).collect();
        let mut consumed: HashMap<Uuid, usize> = HashMap::new();
        for delivery in deliveries {
            *consumed.entry(delivery.notification_id).or_default() += 1;
        }
        let mut ids_per_n: HashMap<i64, usize> = HashMap::new();
        for row in rows {
            *ids_per_n.entry(row.n).or_default() += 1;
        }
        let numbers = report.numbers();
        let stored = accepted.iter().filter(|id| stored_ids.contains(id)).count();
        let delivered = accepted
            .iter()
            .filter(|id| consumed.contains_key(id))
            .count();
        let lost = accepted
            .iter()
            .filter(|id| !stored_ids.contains(id) || !consumed.contains_key(id))
            .count();
        Self {
            attempted: numbers.len(),
            accepted: accepted.len(),
            stored,
            delivered,
            lost,
            duplicated: consumed.values().map(|times| times - 1).sum(),
            retried: ids_per_n.values().filter(|&&ids| ids > 1).count(),
            recovered: stored_ids.difference(&accepted).count(),
            unexpected: deliveries
                .iter()
                .filter(|d| !stored_ids.contains(&d.notification_id) || !numbers.contains(&d.n))
                .count(),
        }
    }

    /// Prints the ledger on one line (visible with `--nocapture`, and in CI logs on failure).
    pub fn print(&self, test: &str) {
        println!("ledger [{test}]: {self}");
    }
}

impl fmt::Display for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "attempted={} accepted={} stored={} delivered={} lost={} duplicated={} retried={} \
             recovered={} unexpected={}",
            self.attempted,
            self.accepted,
            self.stored,
            self.delivered,
            self.lost,
            self.duplicated,
            self.retried,
            self.recovered,
            self.unexpected
        )
    }
}

/// Every notification row, with its payload number.
pub async fn stored_rows(db: &PgPool) -> Vec<StoredRow> {
    let rows: Vec<(Uuid, Option<i64>)> =
        sqlx::query_as("select notification_id, (payload->>'n')::bigint from notifications")
            .fetch_all(db)
            .await
            .expect("reading notifications");
    rows.into_iter()
        .map(|(notification_id, n)| StoredRow {
            notification_id,
            n: n.unwrap_or(-1),
        })
        .collect()
}

pub async fn pending_rows(db: &PgPool) -> Option<i64> {
    sqlx::query_scalar("select count(*) from notifications where status = 'pending'")
        .fetch_one(db)
        .await
        .ok()
}

/// Waits until the outbox holds no pending row; returns how long that took.
pub async fn wait_drained(db: &PgPool, within: Duration) -> Duration {
    let started = tokio::time::Instant::now();
    let mut pending = None;
    while started.elapsed() < within {
        pending = pending_rows(db).await;
        if pending == Some(0) {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the outbox did not drain within {within:?}: {pending:?} rows still pending");
}

/// Consumes `queue` until every id in `expected` has arrived and the queue stays quiet for
/// a moment (so that duplicates are counted too), or until `within` has passed.
pub async fn consume(queue: &str, expected: &HashSet<Uuid>, within: Duration) -> Vec<Delivery> {
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("consumer connection");
    let channel = connection.create_channel().await.expect("consumer channel");
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "fault-ledger".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consuming the agent queue");
    let quiet = Duration::from_millis(750);
    let deadline = tokio::time::Instant::now() + within;
    let mut deliveries = Vec::new();
    let mut seen = HashSet::new();
    loop {
        let wait = if expected.is_subset(&seen) {
            quiet
        } else {
            deadline.saturating_duration_since(tokio::time::Instant::now())
        };
        match tokio::time::timeout(wait, consumer.next()).await {
            Ok(Some(Ok(delivery))) => {
                let body: Value =
                    serde_json::from_slice(&delivery.data).expect("message body is JSON");
                let notification_id = body["notification_id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .expect("message carries its notification id");
                seen.insert(notification_id);
                deliveries.push(Delivery {
                    notification_id,
                    n: body["payload"]["n"].as_i64().unwrap_or(-1),
                });
            }
            Ok(Some(Err(error))) => panic!("consumer failed: {error}"),
            Ok(None) | Err(_) => break,
        }
    }
    let _ = channel
        .basic_cancel("fault-ledger".into(), BasicCancelOptions::default())
        .await;
    let _ = connection.close(200, "ledger complete".into()).await;
    deliveries
}
