//! The handler's attempts: retries with backoff, counting attempts made on earlier
//! deliveries of the same message.

use std::{
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::FutureExt;
use lapin::{message::Delivery, types::AMQPValue};
use tracing::Span;
use vos_protocol::Notification;

use super::{Verdict, Worker};
use crate::{
    context::{Calls, Context},
    publish::{self, MAX_ERROR_LEN},
};

impl Worker {
    /// Runs the handler until it succeeds or `max_attempts` attempts (counting those made on
    /// earlier deliveries of this message) have failed, pausing between attempts.
    pub(super) async fn attempt(
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
}
