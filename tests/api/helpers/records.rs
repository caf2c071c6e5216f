//! What a run left in Postgres and RabbitMQ, read for the [ledger](super::Ledger).

use std::{collections::HashSet, time::Duration};

use futures::StreamExt;
use lapin::{
    Connection, ConnectionProperties,
    options::{BasicCancelOptions, BasicConsumeOptions},
    types::FieldTable,
};
use serde_json::Value;
use sqlx::PgPool;
use tokio::time::Instant;
use uuid::Uuid;

use super::{Delivery, StoredRow, amqp_url};

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

/// Rows the relay has yet to publish; `None` while the database cannot be read.
pub async fn pending_rows(db: &PgPool) -> Option<i64> {
    sqlx::query_scalar("select count(*) from notifications where status = 'pending'")
        .fetch_one(db)
        .await
        .ok()
}

/// Waits until the outbox holds no pending row; returns how long that took.
pub async fn wait_drained(db: &PgPool, within: Duration) -> Duration {
    let started = Instant::now();
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
    let deadline = Instant::now() + within;
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("consumer connection");
    // The gateway declares the queue with its first publish, which may still be to come;
    // consuming a queue that does not exist closes the channel, so each try gets a new one.
    let (channel, mut consumer) = loop {
        let channel = connection.create_channel().await.expect("consumer channel");
        let options = BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        match channel
            .basic_consume(
                queue.into(),
                "ledger".into(),
                options,
                FieldTable::default(),
            )
            .await
        {
            Ok(consumer) => break (channel, consumer),
            Err(error) if Instant::now() >= deadline => panic!("consuming {queue}: {error}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let quiet = Duration::from_millis(750);
    let mut deliveries = Vec::new();
    let mut seen = HashSet::new();
    loop {
        let wait = if expected.is_subset(&seen) {
            quiet
        } else {
            deadline.saturating_duration_since(Instant::now())
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
        .basic_cancel("ledger".into(), BasicCancelOptions::default())
        .await;
    let _ = connection.close(200, "ledger complete".into()).await;
    deliveries
}
