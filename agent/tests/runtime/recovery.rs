//! lapin ends a consumer's stream when the broker cancels it; the runtime must notice and
//! reconnect rather than sit on a dead stream. Deleting the queue under the consumer makes
//! RabbitMQ cancel it, without stopping the broker.

use std::time::{Duration, Instant};

use lapin::options::QueueDeleteOptions;
use serde_json::json;
use vos_protocol::Outcome;

use crate::support::{self, Broker, DEADLINE, Running};

#[tokio::test]
async fn a_consumer_cancelled_by_the_broker_is_replaced_by_a_new_session() {
    // Arrange
    let agent_id = support::unique("recover");
    let broker = Broker::new(&agent_id).await;
    let agent = support::agent(&agent_id)
        .handler(vos_agent::demo::handle)
        .build()
        .unwrap();
    let metrics = agent.metrics().clone();
    let running = Running::start(agent);
    broker.notify("echo", json!({})).await;
    broker.result().await;

    // Act: the queue disappears under the consumer, and comes back.
    broker
        .channel()
        .queue_delete(
            broker.queue().as_str().into(),
            QueueDeleteOptions::default(),
        )
        .await
        .unwrap();
    broker.declare(&broker.queue()).await;
    let started = Instant::now();
    while broker.depth(&broker.queue()).await.1 == 0 {
        assert!(started.elapsed() < DEADLINE, "the agent consumes again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = broker.notify("echo", json!({"after": "reconnect"})).await;
    let (result, _) = broker.result().await;

    // Assert
    assert_eq!(result.notification_id, id);
    assert_eq!(result.status, Outcome::Completed);
    let connected = format!("vos_agent_amqp_connected{{agent_id=\"{agent_id}\"}} 1");
    assert!(metrics.encode().contains(&connected));
    running.stop().await;
    broker.cleanup().await;
}

#[tokio::test]
async fn a_dead_letter_queue_deleted_while_running_is_declared_again_and_nothing_is_lost() {
    // Arrange
    let agent_id = support::unique("dlqgone");
    let broker = Broker::new(&agent_id).await;
    let running = Running::start(
        support::agent(&agent_id)
            .max_attempts(1)
            .handler(vos_agent::demo::handle)
            .build()
            .unwrap(),
    );
    broker.notify("echo", json!({})).await;
    broker.result().await;
    broker
        .channel()
        .queue_delete(
            broker.dead_letters().as_str().into(),
            QueueDeleteOptions::default(),
        )
        .await
        .unwrap();

    // Act
    let id = broker.notify("fail", json!({})).await;
    let (result, _) = broker.result().await;

    // Assert
    assert_eq!(result.notification_id, id);
    assert_eq!(result.status, Outcome::Failed);
    let dead = broker
        .next(&broker.dead_letters(), DEADLINE)
        .await
        .expect("dead-lettered once the queue is back");
    let body: serde_json::Value = serde_json::from_slice(&dead.data).unwrap();
    assert_eq!(body["notification_id"], id.to_string());
    running.stop().await;
    assert_eq!(broker.depth(&broker.queue()).await.0, 0);
    broker.cleanup().await;
}
