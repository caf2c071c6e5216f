//! One delivery, from arrival to acknowledgement: read it, drop duplicates, run the handler
//! with retries, answer, dead-letter what failed every attempt, and only then ack.

use std::{
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::FutureExt;
use lapin::{
    message::Delivery,
    options::{BasicAckOptions, BasicNackOptions},
    types::AMQPValue,
};
use tracing::{Instrument, Span};
use vos_protocol::{AgentResult, Notification, Outcome, RESULTS_QUEUE};

use crate::{
    config::Settings,
    context::{Calls, Context},
    dedup::Dedup,
    handler::BoxHandler,
    metrics::Metrics,
    publish::{self, MAX_ERROR_LEN, Publisher, Routed},
    trace::{self, Remote},
};

/// Notification type label for a body that could not be read.
const UNREADABLE: &str = "_invalid";

/// What every delivery task shares, across sessions.
pub(crate) struct Worker {
    pub settings: Arc<Settings>,
    pub handler: BoxHandler,
    pub dedup: Arc<Dedup>,
    pub metrics: Metrics,
}

/// How the handler's attempts ended.
enum Verdict {
    Completed(serde_json::Value),
    /// Every attempt failed: the last error, and how many attempts there were in all.
    GaveUp(String, u32),
}

impl Worker {
    /// Handles one delivery to the end: acknowledged, or handed back to the queue.
    pub(crate) async fn process(self: Arc<Self>, publisher: Arc<Publisher>, delivery: Delivery) {
        let remote = trace::remote(delivery.properties.headers().as_ref());
        let span = trace::process_span(
            &self.settings.agent_id,
            &self.settings.queue,
            delivery.delivery_tag,
            &delivery.properties,
            delivery.data.len(),
            &remote,
        );
        let _in_use = self.metrics.in_use();
        self.settle(&publisher, &delivery, &remote, &span)
            .instrument(span.clone())
            .await;
    }

    async fn settle(
        &self,
        publisher: &Publisher,
        delivery: &Delivery,
        remote: &Remote,
        span: &Span,
    ) {
        let started = Instant::now();
        let started_at = chrono::Utc::now();
        let notification: Notification = match serde_json::from_slice(&delivery.data) {
            Ok(notification) => notification,
            Err(error) => {
                return self
                    .unreadable(publisher, delivery, remote, span, &error)
                    .await;
            }
        };
        let kind = notification.notification_type.as_str();
        span.record("vos.notification_type", kind);
        let id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string())
            .unwrap_or_else(|| notification.notification_id.to_string());
        let Some(claim) = self.dedup.claim(&id) else {
            span.record("vos.duplicate", true);
            self.metrics.duplicate_dropped();
            tracing::info!(notification_id = %notification.notification_id, "duplicate delivery dropped");
            self.ack(delivery).await;
            return;
        };
        self.metrics.received(kind);
        let calls = Arc::new(Mutex::new(Calls::default()));
        let verdict = self.attempt(&notification, delivery, &calls, span).await;
        let taken = std::mem::take(&mut *calls.lock().unwrap_or_else(|p| p.into_inner()));
        let (status, result, error) = match &verdict {
            Verdict::Completed(value) => (Outcome::Completed, Some(as_object(value)), None),
            Verdict::GaveUp(error, _) => (Outcome::Failed, None, Some(error.clone())),
        };
        let answer = AgentResult {
            notification_id: notification.notification_id,
            agent_id: self.settings.agent_id.clone(),
            status,
            result,
            error,
            tools: taken.tools,
            llm: taken.llm,
            started_at,
            finished_at: chrono::Utc::now(),
        };
        if let Verdict::GaveUp(error, attempts) = &verdict {
            trace::fail(span, "handler_failed");
            if !self
                .dead_letter(publisher, delivery, error, *attempts)
                .await
            {
                return self.requeue(delivery).await;
            }
        }
        if !self
            .answer(publisher, delivery, remote, span, &answer)
            .await
        {
            return self.requeue(delivery).await;
        }
        if self.ack(delivery).await {
            claim.complete();
            self.metrics
                .processed(kind, status.as_str(), started.elapsed());
            tracing::info!(
                notification_id = %notification.notification_id,
                outcome = status.as_str(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "notification settled"
            );
        }
    }

    /// Runs the handler until it succeeds or `max_attempts` attempts (counting those made on
    /// earlier deliveries of this message) have failed, pausing between attempts.
    async fn attempt(
        &self,
        notification: &Notification,
        delivery: &Delivery,
        calls: &Arc<Mutex<Calls>>,
        span: &Span,
    ) -> Verdict {
        let max = self.settings.max_attempts;
        let earlier = earlier_attempts(delivery);
        let mut attempt = earlier;
        let mut last_error = String::from("the message was delivered too many times");
        while attempt < max {
            attempt += 1;
            let ctx = Context::new(
                &self.settings.agent_id,
                notification.notification_id,
                &notification.correlation_id,
                attempt,
                calls.clone(),
                self.metrics.clone(),
            );
            // A panicking handler fails its attempt; it must not leave the delivery unsettled.
            let outcome = AssertUnwindSafe(self.handler.call(ctx, notification.clone()))
                .catch_unwind()
                .await;
            match outcome {
                Ok(Ok(value)) => {
                    // Recorded once: recording a field again adds a second attribute with the same key.
                    span.record("vos.attempts", attempt);
                    return Verdict::Completed(value);
                }
                Ok(Err(error)) => last_error = error.to_string(),
                Err(_) => last_error = "the handler panicked".into(),
            }
            // The error text is the handler's own and may quote its input: not logged.
            tracing::warn!(
                notification_id = %notification.notification_id,
                attempt,
                max_attempts = max,
                "handler attempt failed"
            );
            if attempt < max {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
        }
        span.record("vos.attempts", attempt);
        Verdict::GaveUp(
            publish::truncate(&last_error, MAX_ERROR_LEN).to_owned(),
            attempt.max(earlier),
        )
    }

    /// `retry_backoff`, doubled per attempt, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.settings
            .retry_backoff
            .saturating_mul(factor)
            .min(self.settings.retry_backoff_max)
    }

    /// A body that is not a notification cannot succeed on retry: dead-letter it at once, and
    /// report it failed if its id can be read.
    async fn unreadable(
        &self,
        publisher: &Publisher,
        delivery: &Delivery,
        remote: &Remote,
        span: &Span,
        error: &serde_json::Error,
    ) {
        trace::fail(span, "invalid_message");
        // serde's messages can quote the input: only the category is kept.
        let reason = if error.is_data() {
            "the message body is JSON but not a notification"
        } else {
            "the message body is not valid JSON"
        };
        tracing::warn!(
            delivery_tag = delivery.delivery_tag,
            reason,
            "unreadable delivery"
        );
        self.metrics.received(UNREADABLE);
        let started_at = chrono::Utc::now();
        if !self.dead_letter(publisher, delivery, reason, 0).await {
            return self.requeue(delivery).await;
        }
        if let Some(notification_id) = readable_id(&delivery.data) {
            let answer = AgentResult {
                notification_id,
                agent_id: self.settings.agent_id.clone(),
                status: Outcome::Failed,
                result: None,
                error: Some(reason.to_owned()),
                tools: Vec::new(),
                llm: Vec::new(),
                started_at,
                finished_at: chrono::Utc::now(),
            };
            if !self
                .answer(publisher, delivery, remote, span, &answer)
                .await
            {
                return self.requeue(delivery).await;
            }
        }
        if self.ack(delivery).await {
            self.metrics.processed(UNREADABLE, "failed", Duration::ZERO);
        }
    }

    /// Sends the original message to the dead-letter queue; `false` if that failed.
    async fn dead_letter(
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
            Ok(_) => {
                self.metrics.dead_lettered();
                true
            }
            Err(error) => {
                tracing::warn!(error = %error, "dead-lettering failed; the delivery goes back to the queue");
                false
            }
        }
    }

    /// Sends the result to `reply_to` (or `vos.results`); `false` if that failed.
    async fn answer(
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
            // Retrying cannot create the queue; holding the delivery would block it forever.
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

    async fn ack(&self, delivery: &Delivery) -> bool {
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
    async fn requeue(&self, delivery: &Delivery) {
        let requeue = BasicNackOptions {
            requeue: true,
            ..Default::default()
        };
        let _ =
            tokio::time::timeout(self.settings.network_timeout, delivery.acker.nack(requeue)).await;
    }
}

/// Attempts made on earlier deliveries: quorum queues count them in `x-delivery-count`; a
/// classic queue only says `redelivered`, which means at least one.
fn earlier_attempts(delivery: &Delivery) -> u32 {
    let counted = delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|headers| headers.inner().get("x-delivery-count").and_then(as_count));
    match counted {
        Some(count) => count,
        None => u32::from(delivery.redelivered),
    }
}

fn as_count(value: &AMQPValue) -> Option<u32> {
    let count: i64 = match value {
        AMQPValue::ShortShortInt(v) => (*v).into(),
        AMQPValue::ShortShortUInt(v) => (*v).into(),
        AMQPValue::ShortInt(v) => (*v).into(),
        AMQPValue::ShortUInt(v) => (*v).into(),
        AMQPValue::LongInt(v) => (*v).into(),
        AMQPValue::LongUInt(v) => (*v).into(),
        AMQPValue::LongLongInt(v) => *v,
        _ => return None,
    };
    u32::try_from(count.max(0)).ok()
}

/// The handler's value as the result object: a non-object is wrapped as `{"value": …}`.
fn as_object(value: &serde_json::Value) -> Box<serde_json::value::RawValue> {
    let object = if value.is_object() {
        serde_json::value::to_raw_value(value)
    } else {
        serde_json::value::to_raw_value(&serde_json::json!({ "value": value }))
    };
    object.expect("a JSON value always serialises")
}

/// The `notification_id` of a body that is not a whole notification, if it has one.
fn readable_id(body: &[u8]) -> Option<uuid::Uuid> {
    #[derive(serde::Deserialize)]
    struct Id {
        notification_id: uuid::Uuid,
    }
    serde_json::from_slice::<Id>(body)
        .ok()
        .map(|id| id.notification_id)
}

#[cfg(test)]
mod tests {
    use lapin::{BasicProperties, types::FieldTable};

    use super::*;

    fn delivery(redelivered: bool, count: Option<AMQPValue>) -> Delivery {
        let mut delivery = Delivery::mock(1, "".into(), "q".into(), redelivered, Vec::new());
        if let Some(count) = count {
            let mut headers = FieldTable::default();
            headers.insert("x-delivery-count".into(), count);
            delivery.properties = BasicProperties::default().with_headers(headers);
        }
        delivery
    }

    #[test]
    fn earlier_attempts_come_from_the_delivery_count_or_the_redelivered_flag() {
        assert_eq!(earlier_attempts(&delivery(false, None)), 0);
        assert_eq!(earlier_attempts(&delivery(true, None)), 1);
        assert_eq!(
            earlier_attempts(&delivery(true, Some(AMQPValue::LongLongInt(4)))),
            4
        );
        assert_eq!(
            earlier_attempts(&delivery(true, Some(AMQPValue::LongInt(2)))),
            2
        );
    }

    #[test]
    fn a_result_that_is_not_an_object_is_wrapped() {
        assert_eq!(as_object(&serde_json::json!({"a": 1})).get(), r#"{"a":1}"#);
        assert_eq!(as_object(&serde_json::json!(5)).get(), r#"{"value":5}"#);
    }
}
