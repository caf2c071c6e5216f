//! What leaves the agent for a delivery: the result, the dead letter, and the ack or nack.

use lapin::{
    message::Delivery,
    options::{BasicAckOptions, BasicNackOptions},
};
use tracing::Span;
use vos_protocol::{AgentResult, RESULTS_QUEUE};

use super::Worker;
use crate::{
    publish::{self, Publisher, Routed},
    trace::{self, Remote},
};

impl Worker {
    /// Sends the original message to the dead-letter queue; `false` if that failed.
    pub(super) async fn dead_letter(
        &self,
        publisher: &Publisher,
        delivery: &Delivery,
        error: &str,
        attempts: u32,
    ) -> bool {
        let properties = publish::dead_letter_properties(&delivery.properties, error, attempts);
        match publisher
            .publish(&self.settings.dead_letters, &delivery.data, properties)
            .await
        {
            Ok(Routed::Queued) => {
                self.metrics.dead_lettered();
                true
            }
            // Deleted since the session declared it: a new session declares it again, and the
            // delivery (back on the queue) is dead-lettered then.
            Ok(Routed::Unroutable) => {
                tracing::warn!("the dead-letter queue is gone; reconnecting to declare it");
                publisher.queue_lost().cancel();
                false
            }
            Err(error) => {
                tracing::warn!(error = %error, "dead-lettering failed; the delivery goes back to the queue");
                false
            }
        }
    }

    /// Sends the result to `reply_to` (or `vos.results`); `false` if that failed.
    pub(super) async fn answer(
        &self,
        publisher: &Publisher,
        delivery: &Delivery,
        remote: &Remote,
        span: &Span,
        answer: &AgentResult,
    ) -> bool {
        let reply_to = delivery
            .properties
            .reply_to()
            .as_ref()
            .map(|queue| queue.as_str())
            .filter(|queue| !queue.is_empty())
            .unwrap_or(RESULTS_QUEUE);
        let body = serde_json::to_vec(answer).expect("a result always serialises");
        let correlation_id = delivery
            .properties
            .correlation_id()
            .as_ref()
            .map(|id| id.as_str());
        let properties = publish::result_properties(
            correlation_id,
            &trace::traceparent(span, remote),
            &self.settings.agent_id,
        );
        match publisher.publish(reply_to, &body, properties).await {
            Ok(Routed::Queued) => true,
            // `vos.results` is declared by every session: gone means deleted since.
            Ok(Routed::Unroutable) if reply_to == RESULTS_QUEUE => {
                tracing::warn!("the results queue is gone; reconnecting to declare it");
                publisher.queue_lost().cancel();
                false
            }
            // Another reply queue is the sender's to declare. Retrying cannot create it, and
            // holding the delivery would block it forever.
            Ok(Routed::Unroutable) => {
                tracing::warn!(reply_to, "no queue took the result; it is dropped");
                true
            }
            Err(error) => {
                tracing::warn!(error = %error, "publishing the result failed; the delivery goes back to the queue");
                false
            }
        }
    }

    pub(super) async fn ack(&self, delivery: &Delivery) -> bool {
        let acked = tokio::time::timeout(
            self.settings.network_timeout,
            delivery.acker.ack(BasicAckOptions::default()),
        )
        .await;
        let ok = matches!(acked, Ok(Ok(_)));
        if !ok {
            // The channel is gone: the broker redelivers the message to the next session.
            tracing::warn!(delivery_tag = delivery.delivery_tag, "ack failed");
        }
        ok
    }

    /// Hands the delivery back to the queue (it counts as an earlier attempt when it returns).
    pub(super) async fn requeue(&self, delivery: &Delivery) {
        let requeue = BasicNackOptions {
            requeue: true,
            ..Default::default()
        };
        let _ =
            tokio::time::timeout(self.settings.network_timeout, delivery.acker.nack(requeue)).await;
    }
}

/// The handler's value as the result object: a non-object is wrapped as `{"value": …}`.
pub(super) fn as_object(value: &serde_json::Value) -> Box<serde_json::value::RawValue> {
    let object = if value.is_object() {
        serde_json::value::to_raw_value(value)
    } else {
        serde_json::value::to_raw_value(&serde_json::json!({ "value": value }))
    };
    object.expect("a JSON value always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_that_is_not_an_object_is_wrapped() {
        assert_eq!(as_object(&serde_json::json!({"a": 1})).get(), r#"{"a":1}"#);
        assert_eq!(as_object(&serde_json::json!(5)).get(), r#"{"value":5}"#);
    }
}
