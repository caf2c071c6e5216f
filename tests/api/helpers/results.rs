//! Playing the agent's side of the response hop: result documents published to a gateway's
//! results queue the way an agent publishes them.

use lapin::{
    BasicProperties,
    options::{BasicPublishOptions, ConfirmSelectOptions},
    types::{AMQPValue, FieldTable},
};
use serde_json::{Value, json};

use super::Broker;

/// A `completed` result for an accepted notification (the 202 body), with one tool call and
/// one language-model call.
pub fn completed_result(accepted: &Value, agent: &str, result: Value) -> Value {
    json!({
        "notification_id": accepted["notification_id"],
        "agent_id": agent,
        "status": "completed",
        "result": result,
        "tools": [{"name": "get_weather", "duration_ms": 12.5, "status": "ok"}],
        "llm": [{"model": "demo-llm", "input_tokens": 42, "output_tokens": 7}],
        "started_at": "2099-01-01T00:00:00.000Z",
        "finished_at": "2099-01-01T00:00:00.250Z",
    })
}

/// A `failed` result for an accepted notification.
pub fn failed_result(accepted: &Value, agent: &str, error: &str) -> Value {
    json!({
        "notification_id": accepted["notification_id"],
        "agent_id": agent,
        "status": "failed",
        "error": error,
        "started_at": "2099-01-01T00:00:00Z",
        "finished_at": "2099-01-01T00:00:01Z",
    })
}

impl Broker {
    /// Publishes `body` to `queue` as an agent answers: persistent, with a `traceparent`
    /// header when given, and waits for the broker's confirm.
    pub async fn publish_result(&self, queue: &str, body: &[u8], traceparent: Option<&str>) {
        let channel = self.fresh_channel().await;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirm mode");
        let mut headers = FieldTable::default();
        if let Some(traceparent) = traceparent {
            headers.insert(
                "traceparent".into(),
                AMQPValue::LongString(traceparent.into()),
            );
        }
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(uuid::Uuid::new_v4().to_string().into())
            .with_headers(headers);
        let confirm = channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await
            .expect("publish");
        let confirmation = tokio::time::timeout(std::time::Duration::from_secs(10), confirm)
            .await
            .expect("confirmed in time")
            .expect("confirmed");
        assert!(confirmation.is_ack(), "the broker refused the result");
        let _ = channel.close(200, "published".into()).await;
    }
}
