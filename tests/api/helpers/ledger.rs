//! The ledger of a run, after RabbitMQ's Jepsen suite: every 202 the client received is
//! reconciled against the rows in Postgres and against the messages consumed from the agent's
//! queue, and the differences are counted rather than eyeballed.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    ops::Range,
    time::Duration,
};

use serde_json::Value;
use uuid::Uuid;

use super::{GatewayClient, consume, numbered_notification, queue_type_on_broker};

/// What a client did: the payload numbers it posted, and the notifications answered 202.
#[derive(Debug, Default, Clone)]
pub struct Sent {
    pub numbers: HashSet<i64>,
    pub accepted: HashSet<Uuid>,
}

impl Sent {
    pub fn extend(&mut self, other: Sent) {
        self.numbers.extend(other.numbers);
        self.accepted.extend(other.accepted);
    }
}

/// Posts a numbered notification for each of `numbers`, one after another, asserting 202.
pub async fn post_numbered(gateway: &GatewayClient, agent: &str, numbers: Range<i64>) -> Sent {
    let mut sent = Sent::default();
    for n in numbers {
        let response = gateway.notify(agent, &numbered_notification(n)).await;
        assert_eq!(response.status(), 202);
        let accepted: Value = response.json().await.unwrap();
        sent.numbers.insert(n);
        sent.accepted.insert(
            accepted["notification_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
        );
    }
    sent
}

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
    /// The consumed queue's type as the broker reports it, when the ledger read a queue.
    pub queue_type: Option<&'static str>,
}

impl Ledger {
    /// Consumes `queue` (waiting up to 20 s for every accepted notification) and reconciles.
    pub async fn against_queue(sent: &Sent, rows: &[StoredRow], queue: &str) -> Self {
        let deliveries = consume(queue, &sent.accepted, Duration::from_secs(20)).await;
        let mut ledger = Self::reconcile(sent, rows, &deliveries);
        ledger.queue_type =
            queue_type_on_broker(queue)
                .await
                .map(|queue_type| match queue_type.as_str() {
                    "classic" => "classic",
                    "quorum" => "quorum",
                    _ => "other",
                });
        ledger
    }

    pub fn reconcile(sent: &Sent, rows: &[StoredRow], deliveries: &[Delivery]) -> Self {
        let Sent { numbers, accepted } = sent;
        let stored_ids: HashSet<Uuid> = rows.iter().map(|row| row.notification_id).collect();
        let mut consumed: HashMap<Uuid, usize> = HashMap::new();
        for delivery in deliveries {
            *consumed.entry(delivery.notification_id).or_default() += 1;
        }
        let mut ids_per_n: HashMap<i64, usize> = HashMap::new();
        for row in rows {
            *ids_per_n.entry(row.n).or_default() += 1;
        }
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
            recovered: stored_ids.difference(accepted).count(),
            unexpected: deliveries
                .iter()
                .filter(|d| !stored_ids.contains(&d.notification_id) || !numbers.contains(&d.n))
                .count(),
            queue_type: None,
        }
    }

    /// The delivery contract: every 202 is stored and delivered, and nothing arrives that was
    /// never sent.
    #[track_caller]
    pub fn assert_nothing_lost(&self) {
        assert_eq!(self.lost, 0, "no accepted-then-lost: {self}");
        assert_eq!(self.stored, self.accepted, "every 202 is stored: {self}");
        assert_eq!(
            self.unexpected, 0,
            "nothing arrives that was not sent: {self}"
        );
    }

    /// Prints the ledger on one line (visible with `--nocapture`, and in CI logs on failure).
    pub fn print(&self, test: &str) {
        match &self.queue_type {
            Some(queue_type) => println!("ledger [{test}] ({queue_type} queue): {self}"),
            None => println!("ledger [{test}]: {self}"),
        }
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
