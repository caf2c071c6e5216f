//! The agent's settings and the builder that checks them.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use vos_protocol::Notification;

use crate::{
    AgentError, Context,
    handler::{BoxHandler, Handler, HandlerResult},
};

/// The URL used when neither the builder nor `AMQP_URL` gives one.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Everything a running agent needs to know; fixed once built.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub agent_id: String,
    pub queue: String,
    pub dead_letters: String,
    pub amqp_url: String,
    /// Prefetch and the bound on concurrent handlers: one number, so that the broker never
    /// hands this process more than it will work on at once.
    pub capacity: u16,
    pub max_attempts: u32,
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    /// Deadline for connect, declare, qos, consume, ack and each publish confirm.
    pub network_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// How long shutdown waits for in-flight handlers before closing anyway.
    pub drain_timeout: Duration,
    /// How many completed message ids are remembered for de-duplication.
    pub dedup_window: usize,
}

/// Builds an [`Agent`](crate::Agent); see [`Agent::builder`](crate::Agent::builder). The
/// settings live here and `build` lives with the agent, so this module knows nothing of it.
pub struct AgentBuilder {
    settings: Settings,
    metrics_addr: Option<String>,
    handler: Option<BoxHandler>,
}

impl AgentBuilder {
    pub(crate) fn new(agent_id: &str) -> Self {
        let amqp_url = std::env::var("AMQP_URL")
            .ok()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_AMQP_URL.to_owned());
        Self {
            settings: Settings {
                agent_id: agent_id.to_owned(),
                queue: vos_protocol::agent_queue(agent_id),
                dead_letters: vos_protocol::dead_letter_queue(agent_id),
                amqp_url,
                capacity: 8,
                max_attempts: 3,
                retry_backoff: Duration::from_millis(200),
                retry_backoff_max: Duration::from_secs(30),
                network_timeout: Duration::from_secs(10),
                reconnect_min: Duration::from_millis(250),
                reconnect_max: Duration::from_secs(15),
                drain_timeout: Duration::from_secs(30),
                dedup_window: 10_000,
            },
            metrics_addr: None,
            handler: None,
        }
    }

    /// The broker; defaults to `AMQP_URL`, then [`DEFAULT_AMQP_URL`].
    pub fn amqp_url(mut self, url: impl Into<String>) -> Self {
        self.settings.amqp_url = url.into();
        self
    }

    /// Prefetch, and the most handlers running at once (default 8).
    pub fn capacity(mut self, capacity: u16) -> Self {
        self.settings.capacity = capacity;
        self
    }

    /// Attempts in all, across redeliveries, before a notification is dead-lettered (default 3).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.settings.max_attempts = attempts;
        self
    }

    /// The pause after the first failed attempt; it doubles per attempt, up to 30 s.
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.settings.retry_backoff = backoff;
        self
    }

    /// Deadline for every network wait (default 10 s).
    pub fn network_timeout(mut self, deadline: Duration) -> Self {
        self.settings.network_timeout = deadline;
        self
    }

    /// How long shutdown lets in-flight handlers finish (default 30 s).
    pub fn drain_timeout(mut self, deadline: Duration) -> Self {
        self.settings.drain_timeout = deadline;
        self
    }

    /// Completed message ids remembered to drop duplicates (default 10 000).
    pub fn dedup_window(mut self, ids: usize) -> Self {
        self.settings.dedup_window = ids;
        self
    }

    /// Serve Prometheus `GET /metrics` on this address (`127.0.0.1:0` picks a free port;
    /// [`Agent::metrics_addr`] tells which).
    pub fn metrics_addr(mut self, addr: impl Into<String>) -> Self {
        self.metrics_addr = Some(addr.into());
        self
    }

    /// The work: called once per attempt with a fresh [`Context`](crate::Context).
    pub fn handler<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Context, Notification) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.handler = Some(Arc::new(handler) as Arc<dyn Handler>);
        self
    }

    /// Checks the settings and binds the metrics listener (if any): what `build` makes an
    /// agent of.
    pub(crate) fn finish(self) -> Result<Built, AgentError> {
        let settings = self.settings;
        let id = &settings.agent_id;
        // The id names queues and label values: keep it to what a queue name can safely hold.
        if id.is_empty()
            || id.len() > 200
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(AgentError::Config(
                "agent id must be 1-200 characters of A-Z a-z 0-9 - _ .".into(),
            ));
        }
        if settings.capacity == 0 {
            return Err(AgentError::Config("capacity must be at least 1".into()));
        }
        if settings.max_attempts == 0 {
            return Err(AgentError::Config("max_attempts must be at least 1".into()));
        }
        if settings.network_timeout.is_zero() {
            return Err(AgentError::Config("network_timeout must not be 0".into()));
        }
        let handler = self.handler.ok_or(AgentError::NoHandler)?;
        let metrics_listener = match self.metrics_addr {
            Some(addr) => Some(bind(&addr)?),
            None => None,
        };
        Ok(Built {
            settings,
            handler,
            metrics_listener,
        })
    }
}

/// A builder's checked settings, handler and bound metrics listener.
pub(crate) struct Built {
    pub settings: Settings,
    pub handler: BoxHandler,
    pub metrics_listener: Option<std::net::TcpListener>,
}

fn bind(addr: &str) -> Result<std::net::TcpListener, AgentError> {
    let error = |source| AgentError::MetricsBind {
        addr: addr.to_owned(),
        source,
    };
    let parsed: SocketAddr = addr.parse().map_err(|_| {
        error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not an IP:port address",
        ))
    })?;
    let listener = std::net::TcpListener::bind(parsed).map_err(error)?;
    listener.set_nonblocking(true).map_err(error)?;
    Ok(listener)
}
