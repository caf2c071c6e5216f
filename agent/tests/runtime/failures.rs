//! Handlers that fail, and messages that cannot be read: retries, the dead-letter queue, and
//! the `failed` result.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use lapin::{BasicProperties, types::AMQPValue};
use serde_json::json;
use vos_protocol::Outcome;

use crate::support::{self, Broker, DEADLINE, Running, header};

#[tokio::test]
async fn a_failing_handler_is_tried_max_attempts_times_then_dead_lettered_and_reported_failed() {
    // Arrange
    let agent_id = support::unique("fail");
    let broker = Broker::new(&agent_id).await;
    let attempts = Arc::new(AtomicU32::new(0));
    let counted = attempts.clone();
    let agent = support::agent(&agent_id)
        .max_attempts(3)
        .handler(move |_ctx: vos_agent::Context, _| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                Err::<serde_json::Value, _>("the weather service is down".into())
            }
        })
        .build()
        .unwrap();
    let running = Running::start(agent);

    // Act
    let id = broker.notify("weather", json!({"city": "Oslo"})).await;
    let (result, _) = broker.result().await;

    // Assert
    assert_eq!(result.notification_id, id);
    assert_eq!(result.status, Outcome::Failed);
    assert_eq!(result.error.as_deref(), Some("the weather service is down"));
    assert!(result.result.is_none());
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    let dead = broker
        .next(&broker.dead_letters(), DEADLINE)
        .await
        .expect("the notification is dead-lettered");
    let body: serde_json::Value = serde_json::from_slice(&dead.data).unwrap();
    assert_eq!(body["notification_id"], id.to_string());
    assert_eq!(body["payload"], json!({"city": "Oslo"}));
    assert_eq!(header(&dead, "x-vos-attempts").as_deref(), Some("3"));
    assert_eq!(
        header(&dead, "x-vos-error").as_deref(),
        Some("the weather service is down")
    );
    assert_eq!(
        header(&dead, "traceparent"),
        Some(support::traceparent()),
        "the original headers are kept"
    );
    assert_eq!(
        dead.properties.message_id().as_ref().unwrap().as_str(),
        id.to_string()
    );
    assert_eq!(*dead.properties.delivery_mode(), Some(2));
    let span = support::span_where(|span| {
        support::attribute(span, "messaging.message.id").as_deref() == Some(&id.to_string())
    })
    .await;
    assert!(
        matches!(span.status, opentelemetry::trace::Status::Error { .. }),
        "{:?}",
        span.status
    );
    assert_eq!(
        support::attribute(&span, "error.type").as_deref(),
        Some("handler_failed")
    );
    assert_eq!(
        support::attribute(&span, "vos.attempts").as_deref(),
        Some("3")
    );
    running.stop().await;
    assert_eq!(broker.depth(&broker.queue()).await.0, 0, "acknowledged");
    broker.cleanup().await;
}

#[tokio::test]
async fn the_demo_fail_type_fails_every_attempt_with_demo_failure() {
    // Arrange
    let agent_id = support::unique("demofail");
    let broker = Broker::new(&agent_id).await;
    let running = Running::start(
        support::agent(&agent_id)
            .max_attempts(2)
            .handler(vos_agent::demo::handle)
            .build()
            .unwrap(),
    );

    // Act
    broker.notify("fail", json!({})).await;
    let (result, _) = broker.result().await;

    // Assert
    assert_eq!(result.status, Outcome::Failed);
    assert_eq!(result.error.as_deref(), Some("demo failure"));
    assert!(
        broker
            .next(&broker.dead_letters(), DEADLINE)
            .await
            .is_some()
    );
    running.stop().await;
    broker.cleanup().await;
}

#[tokio::test]
async fn a_malformed_body_is_dead_lettered_at_once_without_calling_the_handler() {
    // Arrange
    let agent_id = support::unique("malformed");
    let broker = Broker::new(&agent_id).await;
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let running = Running::start(
        support::agent(&agent_id)
            .max_attempts(3)
            .handler(move |_ctx: vos_agent::Context, _| {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    Ok(json!({}))
                }
            })
            .build()
            .unwrap(),
    );
    let id = uuid::Uuid::new_v4();
    let readable_id = json!({"notification_id": id, "secret": "not a notification"});
    let properties = |message_id: &str| {
        broker.properties(
            message_id,
            AMQPValue::LongString(support::traceparent().into()),
        )
    };

    // Act
    broker
        .publish(
            &serde_json::to_vec(&readable_id).unwrap(),
            properties(&id.to_string()),
        )
        .await;
    broker
        .publish(b"\x00 not json at all", BasicProperties::default())
        .await;
    let (result, _) = broker.result().await;
    let first = broker.next(&broker.dead_letters(), DEADLINE).await;
    let second = broker.next(&broker.dead_letters(), DEADLINE).await;

    // Assert
    assert_eq!(result.notification_id, id);
    assert_eq!(result.status, Outcome::Failed);
    let error = result.error.unwrap();
    assert!(error.contains("not a notification"), "{error}");
    assert!(!error.contains("secret"), "no payload in the error");
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.data, serde_json::to_vec(&readable_id).unwrap());
    assert_eq!(second.data, b"\x00 not json at all");
    assert_eq!(header(&second, "x-vos-attempts").as_deref(), Some("0"));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "never handled");
    assert!(
        broker
            .next(&broker.results.clone(), Duration::from_millis(300))
            .await
            .is_none(),
        "no result for a body without an id"
    );
    running.stop().await;
    assert_eq!(
        broker.depth(&broker.queue()).await.0,
        0,
        "both acknowledged"
    );
    broker.cleanup().await;
}
