//! The runtime's error types.

/// What a handler returns when an attempt fails. Its `Display` text becomes the `error` of a
/// `failed` result, so it should say what went wrong without internals or payload data.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why an [`Agent`](crate::Agent) could not be built or could not run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("invalid agent configuration: {0}")]
    Config(String),
    #[error("no handler was given to the agent builder")]
    NoHandler,
    #[error("cannot bind the metrics endpoint {addr}: {source}")]
    MetricsBind {
        addr: String,
        source: std::io::Error,
    },
}

/// Why one AMQP session ended (the supervisor reconnects after any of these).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    #[error("{step}: {source}")]
    Amqp {
        step: &'static str,
        source: lapin::Error,
    },
    #[error("{0}: the broker did not answer in time")]
    Timeout(&'static str),
    #[error("{0}")]
    Lost(String),
}

/// Why a confirmed publish did not succeed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PublishError {
    #[error("publish failed: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker nacked the publish")]
    Nacked,
    #[error("no publisher confirm within the deadline")]
    Timeout,
    #[error("the channel is not in confirm mode")]
    NotConfirmed,
}
