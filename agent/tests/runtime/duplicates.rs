//! The gateway publishes at least once: a message id seen before is acknowledged unhandled.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use lapin::types::AMQPValue;
use serde_json::json;

use crate::support::{self, Broker, Running};

#[tokio::test]
async fn a_duplicate_message_id_is_handled_once_and_answered_once() {
    // Arrange
    let agent_id = support::unique("dup");
    let broker = Broker::new(&agent_id).await;
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let agent = support::agent(&agent_id)
        .capacity(4)
        .handler(move |_ctx: vos_agent::Context, _| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(json!({"done": true}))
            }
        })
        .build()
        .unwrap();
    let metrics = agent.metrics().clone();
    let running = Running::start(agent);
    let (id, body) = broker.notification("echo", json!({}));
    let properties = || {
        broker.properties(
            &id.to_string(),
            AMQPValue::LongString(support::traceparent().into()),
        )
    };

    // Act: once while the first is in progress, once after it completed.
    broker.publish(&body, properties()).await;
    broker.publish(&body, properties()).await;
    let (result, _) = broker.result().await;
    broker.publish(&body, properties()).await;
    let again = broker
        .next(&broker.results.clone(), Duration::from_millis(500))
        .await;

    // Assert
    assert_eq!(result.notification_id, id);
    assert!(again.is_none(), "one result only");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    running.stop().await;
    assert_eq!(broker.depth(&broker.queue()).await.0, 0, "duplicates acked");
    let text = metrics.encode();
    assert!(
        text.contains(&format!(
            "vos_agent_duplicates_dropped_total{{agent_id=\"{agent_id}\"}} 2"
        )),
        "{text}"
    );
    broker.cleanup().await;
}
