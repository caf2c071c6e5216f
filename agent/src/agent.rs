//! The agent: a supervisor that keeps a session open (reconnecting with capped, jittered
//! backoff) until shutdown, and the optional metrics endpoint.

use std::{future::Future, net::SocketAddr, sync::Arc};

use tokio_util::sync::CancellationToken;

use crate::{
    AgentError,
    config::{AgentBuilder, Built, Settings},
    dedup::Dedup,
    delivery::Worker,
    handler::BoxHandler,
    metrics::{Metrics, server},
    session::{End, Session},
};

/// A built agent; [`Agent::run`] consumes its queue until shutdown.
pub struct Agent {
    worker: Arc<Worker>,
    metrics_listener: Option<std::net::TcpListener>,
    metrics_addr: Option<SocketAddr>,
}

impl AgentBuilder {
    /// Checks the settings and binds the metrics listener (if any).
    pub fn build(self) -> Result<Agent, AgentError> {
        let Built {
            settings,
            handler,
            metrics_listener,
        } = self.finish()?;
        Ok(Agent::new(settings, handler, metrics_listener))
    }
}

impl Agent {
    /// Starts configuring the agent `agent_id`, which consumes `{agent_id}_queue`.
    pub fn builder(agent_id: &str) -> AgentBuilder {
        AgentBuilder::new(agent_id)
    }

    fn new(
        settings: Settings,
        handler: BoxHandler,
        metrics_listener: Option<std::net::TcpListener>,
    ) -> Self {
        let metrics = Metrics::new(&settings.agent_id);
        metrics.set_capacity(settings.capacity);
        let metrics_addr = metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok());
        Self {
            worker: Arc::new(Worker {
                dedup: Dedup::new(settings.dedup_window),
                settings: Arc::new(settings),
                handler,
                metrics,
            }),
            metrics_listener,
            metrics_addr,
        }
    }

    pub fn agent_id(&self) -> &str {
        &self.worker.settings.agent_id
    }

    /// The queue consumed: `{agent_id}_queue`.
    pub fn queue(&self) -> &str {
        &self.worker.settings.queue
    }

    /// Where `GET /metrics` is served, when a metrics address was given.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// This agent's metrics (also what `GET /metrics` serves).
    pub fn metrics(&self) -> &Metrics {
        &self.worker.metrics
    }

    /// Consumes until `shutdown` resolves, then stops taking deliveries, lets in-flight
    /// handlers finish (within the drain timeout), and closes the connection.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
        let settings = self.worker.settings.clone();
        tracing::info!(
            agent_id = %settings.agent_id,
            queue = %settings.queue,
            capacity = settings.capacity,
            max_attempts = settings.max_attempts,
            "agent starting"
        );
        let stop = CancellationToken::new();
        let server = self.metrics_listener.map(|listener| {
            let metrics = self.worker.metrics.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                if let Err(error) = server::serve(listener, metrics, stop).await {
                    tracing::error!(error = %error, "metrics endpoint failed");
                }
            })
        });
        let supervisor = supervise(&self.worker, &stop);
        tokio::pin!(supervisor);
        tokio::select! {
            _ = &mut supervisor => {}
            _ = shutdown => {
                tracing::info!("shutdown requested");
                stop.cancel();
                supervisor.await;
            }
        }
        stop.cancel();
        if let Some(server) = server {
            let _ = server.await;
        }
        tracing::info!(agent_id = %settings.agent_id, "agent stopped");
        Ok(())
    }
}

/// Opens sessions until `stop`, reconnecting with backoff after each failure.
async fn supervise(worker: &Arc<Worker>, stop: &CancellationToken) {
    let settings = &worker.settings;
    let mut backoff = settings.reconnect_min;
    while !stop.is_cancelled() {
        let opened = tokio::select! {
            opened = Session::open(settings) => opened,
            _ = stop.cancelled() => return,
        };
        match opened {
            Ok(session) => {
                backoff = settings.reconnect_min;
                worker.metrics.set_connected(true);
                tracing::info!(queue = %settings.queue, "connected; consuming");
                let end = session.serve(worker, stop).await;
                worker.metrics.set_connected(false);
                match end {
                    End::Shutdown => return,
                    End::Failed(error) => {
                        tracing::warn!(error = %error, "session ended; reconnecting")
                    }
                }
            }
            Err(error) => tracing::warn!(error = %error, "cannot open a session"),
        }
        tokio::select! {
            _ = tokio::time::sleep(jitter(backoff)) => {}
            _ = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(settings.reconnect_max);
    }
}

/// Between 50% and 100% of `base`, so that agents do not reconnect in lockstep.
fn jitter(base: std::time::Duration) -> std::time::Duration {
    base.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}
