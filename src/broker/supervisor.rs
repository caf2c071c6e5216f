//! The supervisor: opens sessions, and reconnects with jittered backoff when one fails.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::{sync::mpsc, time::timeout};

use super::{
    PublishJob, PublishResult,
    session::{End, Session},
};
use crate::{config::AmqpSettings, metrics::Metrics};

/// Runs sessions until the job queue closes, reconnecting with backoff in between.
pub(super) async fn supervise(
    mut jobs: mpsc::Receiver<PublishJob>,
    settings: AmqpSettings,
    metrics: Metrics,
    connected: Arc<AtomicBool>,
    poll_queues_every: Duration,
) {
    let mut backoff = settings.reconnect_min;
    let mut ever_connected = false;
    loop {
        match timeout(settings.connect_timeout, Session::open(&settings)).await {
            Ok(Ok(session)) => {
                if ever_connected {
                    metrics.amqp_reconnects.inc();
                }
                ever_connected = true;
                backoff = settings.reconnect_min;
                connected.store(true, Ordering::Relaxed);
                metrics.amqp_connected.set(1);
                tracing::info!("connected to RabbitMQ");
                let end = session
                    .serve(&mut jobs, &settings, &metrics, poll_queues_every)
                    .await;
                connected.store(false, Ordering::Relaxed);
                metrics.amqp_connected.set(0);
                match end {
                    End::Drained => return,
                    End::Failed(reason) => {
                        tracing::warn!(%reason, "RabbitMQ session ended; reconnecting")
                    }
                }
            }
            Ok(Err(error)) => tracing::warn!(error = %error, "cannot connect to RabbitMQ"),
            Err(_) => {
                tracing::warn!(timeout = ?settings.connect_timeout, "connecting to RabbitMQ timed out")
            }
        }
        // Until the next attempt, answer jobs at once: their rows stay pending for the relay.
        let pause = tokio::time::sleep(jitter(backoff));
        tokio::pin!(pause);
        loop {
            tokio::select! {
                _ = &mut pause => break,
                job = jobs.recv() => match job {
                    Some(job) => job.answer(PublishResult::Unavailable),
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(settings.reconnect_max);
    }
}

/// Between 50% and 100% of `base`, so that replicas do not reconnect in lockstep.
fn jitter(base: Duration) -> Duration {
    base.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}
