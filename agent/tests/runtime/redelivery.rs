//! Attempts made on an earlier delivery of the same message count towards `max_attempts`:
//! a message that keeps crashing or stalling agents ends in the dead-letter queue.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use serde_json::json;
use vos_protocol::Outcome;

use crate::support::{self, Broker, DEADLINE, Running, header};

#[tokio::test]
async fn attempts_made_before_a_redelivery_count_towards_max_attempts() {
    let agent_id = support::unique("redeliver");
    redelivery_counts(Broker::new(&agent_id).await).await;
}

#[tokio::test]
async fn on_a_quorum_queue_the_gateway_declared_attempts_before_a_redelivery_count_too() {
    let agent_id = support::unique("redeliverq");
    redelivery_counts(Broker::quorum(&agent_id).await).await;
}

/// Classic queues say `redelivered`; quorum queues may also count in `x-delivery-count`
/// (depending on the RabbitMQ version and how the message came back); either way it counts.
async fn redelivery_counts(broker: Broker) {
    // Arrange: a first agent starts the notification and is stopped before it finishes.
    let agent_id = broker.agent_id.clone();
    let (started, mut starts) = tokio::sync::mpsc::unbounded_channel::<()>();
    let first = Running::start(
        support::agent(&agent_id)
            .capacity(1)
            .drain_timeout(Duration::from_millis(100))
            .handler(move |_ctx: vos_agent::Context, _| {
                let started = started.clone();
                async move {
                    let _ = started.send(());
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(json!({}))
                }
            })
            .build()
            .unwrap(),
    );
    let id = broker.notify("slow", json!({})).await;
    tokio::time::timeout(DEADLINE, starts.recv())
        .await
        .expect("the first agent starts it")
        .unwrap();
    first.stop().await;
    let attempts = Arc::new(AtomicU32::new(0));
    let counted = attempts.clone();

    // Act: a second agent, allowed two attempts in all, always fails.
    let second = Running::start(
        support::agent(&agent_id)
            .max_attempts(2)
            .handler(move |ctx: vos_agent::Context, _| {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    Err::<serde_json::Value, _>(format!("attempt {}", ctx.attempt()).into())
                }
            })
            .build()
            .unwrap(),
    );
    let (result, _) = broker.result().await;

    // Assert
    assert_eq!(result.notification_id, id);
    assert_eq!(result.status, Outcome::Failed);
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        1,
        "one attempt was already spent"
    );
    assert_eq!(result.error.as_deref(), Some("attempt 2"));
    let dead = broker.next(&broker.dead_letters(), DEADLINE).await.unwrap();
    assert_eq!(header(&dead, "x-vos-attempts").as_deref(), Some("2"));
    second.stop().await;
    broker.cleanup().await;
}
