//! An agent's registration and live status, as the agents API shows it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{
    broker::AdminError,
    domain::QueueType,
    error::ApiError,
    state::AppState,
    store::agents::{self, AgentRecord},
};

/// A registered agent, its queue and its traffic.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentView {
    pub agent_id: String,
    pub description: Option<String>,
    pub queue: String,
    pub queue_type: QueueType,
    pub registered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Whether anything consumes the queue (`consumers > 0`); null when the broker cannot be
    /// asked right now.
    pub up: Option<bool>,
    pub consumers: Option<u32>,
    /// Messages ready in the queue.
    pub queue_depth: Option<u32>,
    /// Whether the queue exists on the broker (null when the broker cannot be asked).
    pub queue_exists: Option<bool>,
    /// Notifications for this agent still pending in the outbox.
    pub backlog: i64,
    pub last_published_at: Option<DateTime<Utc>>,
    pub last_hour: LastHour,
}

/// Notifications for the agent accepted in the last hour, by where they are now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LastHour {
    pub accepted: i64,
    pub published: i64,
    pub failed: i64,
}

/// The registration, the queue as the broker sees it, and the figures from Postgres.
pub(super) async fn view(state: &AppState, record: AgentRecord) -> Result<AgentView, ApiError> {
    let queue = record.agent_id.queue_name();
    let (live, activity) = tokio::join!(
        state.queues.inspect(&queue),
        agents::activity(&state.pool, record.agent_id.as_str())
    );
    let activity = activity?;
    let (exists, consumers, depth) = match live {
        Ok(status) => (Some(true), Some(status.consumers), Some(status.messages)),
        Err(AdminError::NotFound) => (Some(false), Some(0), Some(0)),
        Err(_) => (None, None, None),
    };
    Ok(AgentView {
        agent_id: record.agent_id.as_str().to_owned(),
        description: record.description,
        queue,
        queue_type: record.queue_type,
        registered_at: record.registered_at,
        updated_at: record.updated_at,
        up: consumers.map(|consumers| consumers > 0),
        consumers,
        queue_depth: depth,
        queue_exists: exists,
        backlog: activity.backlog,
        last_published_at: activity.last_published_at,
        last_hour: LastHour {
            accepted: activity.accepted_last_hour,
            published: activity.published_last_hour,
            failed: activity.failed_last_hour,
        },
    })
}
