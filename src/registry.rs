//! Registered agents, in memory: the request path and the relay ask here whether an agent
//! exists, what queue it has, and take from its rate-limit bucket. Postgres holds the truth
//! (`agents`); each replica reloads its copy when the table's version moves.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::{
    background::Stage,
    config::Settings,
    domain::QueueType,
    ratelimit::{Limiter, Rate},
    store::{
        Schema, StoreError, agents,
        changes::{self, Loaded, Table},
    },
};

/// One registered agent.
#[derive(Debug)]
pub struct Registration {
    pub queue_type: QueueType,
    /// The agent's bucket (`[rate_limit] per_agent`); `None` when unlimited.
    pub limiter: Option<Arc<Limiter>>,
}

/// Shared by every request; cheap to clone.
#[derive(Clone)]
pub struct Registry(Arc<Inner>);

struct Inner {
    rate: Option<Rate>,
    agents: RwLock<Arc<HashMap<String, Arc<Registration>>>>,
    loaded: Loaded,
}

impl Registry {
    pub fn new(rate: Option<Rate>) -> Self {
        Self(Arc::new(Inner {
            rate,
            agents: RwLock::default(),
            loaded: Loaded::default(),
        }))
    }

    /// Starts mirroring `agents`.
    pub fn spawn(
        pool: PgPool,
        settings: &Settings,
        schema: Schema,
        shutdown: CancellationToken,
    ) -> (Self, Stage) {
        let registry = Self::new(settings.rate_limit.per_agent);
        let reload = {
            let (registry, pool) = (registry.clone(), pool.clone());
            move || {
                let (registry, pool) = (registry.clone(), pool.clone());
                async move { registry.reload(&pool).await }
            }
        };
        let stage = changes::mirror(
            pool,
            Table::Agents,
            schema,
            settings.auth.refresh_interval,
            settings.database.deadline() + Duration::from_secs(1),
            shutdown,
            reload,
        );
        (registry, stage)
    }

    /// Whether the registrations have been read at least once.
    pub fn is_loaded(&self) -> bool {
        self.0.loaded.get()
    }

    /// Waits until the registrations are loaded, at most `within`; whether they are.
    pub async fn wait_loaded(&self, within: Duration) -> bool {
        self.0.loaded.wait(within).await
    }

    /// The agent's registration, if it is registered.
    pub fn get(&self, agent_id: &str) -> Option<Arc<Registration>> {
        self.0
            .agents
            .read()
            .expect("registry lock")
            .get(agent_id)
            .cloned()
    }

    /// The queue type of a registered agent, to declare its queue with; `None` when it is not
    /// registered (then no queue is declared for it).
    pub fn queue_type(&self, agent_id: &str) -> Option<QueueType> {
        self.get(agent_id).map(|agent| agent.queue_type)
    }

    /// Reads every registration again; an agent still registered keeps its bucket.
    pub async fn reload(&self, pool: &PgPool) -> Result<(), StoreError> {
        let records = agents::all(pool).await?;
        let previous = self.0.agents.read().expect("registry lock").clone();
        let next = records
            .into_iter()
            .map(|record| {
                let id = record.agent_id.as_str().to_owned();
                let limiter = previous
                    .get(&id)
                    .map(|old| old.limiter.clone())
                    .unwrap_or_else(|| {
                        self.0
                            .rate
                            .map(|rate| Arc::new(Limiter::new("agent", rate)))
                    });
                let registration = Registration {
                    queue_type: record.queue_type,
                    limiter,
                };
                (id, Arc::new(registration))
            })
            .collect();
        *self.0.agents.write().expect("registry lock") = Arc::new(next);
        self.0.loaded.set();
        Ok(())
    }
}
