//! The kind of queue an agent's notifications go to.

use serde::{Deserialize, Serialize};

/// RabbitMQ's queue types an agent's queue can have. The default for registrations that name
/// none is `[amqp] queue_type` (quorum unless configured otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// A single-node queue; what agents built from the seed declare.
    Classic,
    /// RabbitMQ's replicated queue type (Raft); works unreplicated on one node.
    Quorum,
}

impl QueueType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Classic => "classic",
            Self::Quorum => "quorum",
        }
    }

    /// The stored form back; anything unknown is `classic`, what RabbitMQ assumes without
    /// an `x-queue-type` argument.
    pub fn parse(value: &str) -> Self {
        if value == "quorum" {
            Self::Quorum
        } else {
            Self::Classic
        }
    }
}
