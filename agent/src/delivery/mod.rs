//! One delivery, from arrival to acknowledgement: read it, drop duplicates, run the handler
//! with retries ([`attempts`]), answer and dead-letter ([`replies`]), and only then ack.

mod attempts;
mod replies;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use lapin::message::Delivery;
use tracing::{Instrument, Span};
use vos_protocol::{AgentResult, Notification, Outcome};

use crate::{
    config::Settings,
    context::Calls,
    dedup::Dedup,
    handler::BoxHandler,
    metrics::Metrics,
    publish::Publisher,
    trace::{self, Remote},
};
use replies::as_object;

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
