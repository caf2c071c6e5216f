//! `vos-gateway agents`: register and list agents straight in the database, for deployments
//! that set their agents up before any admin key is at hand (the compose stack's demo agent).
//! The same as `PUT /api/v1/agents/{agent_id}`; running gateways see it within
//! `[auth] refresh_interval` and declare the queue on first use.

use clap::Subcommand;

use super::{Exit, error_chain};
use crate::{
    config::Settings,
    domain::{AgentId, QueueType},
    store::agents,
};

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Register an agent, or update its description and queue type.
    Register {
        #[arg(value_name = "AGENT_ID")]
        agent_id: String,
        /// What the agent does, for people reading the list.
        #[arg(long)]
        description: Option<String>,
        /// `classic` (what agents built from the seed declare) or `quorum` (replicated).
        /// Omitted: the type the agent is already registered with, or for a new agent
        /// `[amqp] queue_type`.
        #[arg(long, value_parser = ["classic", "quorum"])]
        queue_type: Option<String>,
    },
    /// List registered agents.
    List,
}

pub(super) async fn agents(settings: Settings, command: AgentsCommand) -> Exit {
    let pool = match super::prepared_pool(&settings).await {
        Ok(pool) => pool,
        Err(exit) => return exit,
    };
    let done = match command {
        AgentsCommand::Register {
            agent_id,
            description,
            queue_type,
        } => {
            let queue_type = queue_type.as_deref().map(QueueType::parse);
            let default = settings.amqp.queue_type;
            register(
                &pool,
                &agent_id,
                description.as_deref(),
                queue_type,
                default,
            )
            .await
        }
        AgentsCommand::List => list(&pool).await,
    };
    pool.close().await;
    match done {
        Ok(()) => Exit::Success,
        Err(message) => Exit::Failure(message),
    }
}

async fn register(
    pool: &sqlx::PgPool,
    agent_id: &str,
    description: Option<&str>,
    queue_type: Option<QueueType>,
    default: QueueType,
) -> Result<(), String> {
    let agent_id = AgentId::parse(agent_id).map_err(|error| error.to_string())?;
    let queue_type = match queue_type {
        Some(queue_type) => queue_type,
        None => agents::find(pool, agent_id.as_str())
            .await
            .map_err(|error| error_chain(&error))?
            .map_or(default, |record| record.queue_type),
    };
    let (record, created) = agents::upsert(pool, &agent_id, description, queue_type)
        .await
        .map_err(|error| error_chain(&error))?;
    let verb = if created { "registered" } else { "updated" };
    eprintln!(
        "{verb} {} ({} queue {}_queue)",
        record.agent_id.as_str(),
        record.queue_type.as_str(),
        record.agent_id.as_str()
    );
    Ok(())
}

async fn list(pool: &sqlx::PgPool) -> Result<(), String> {
    let records = agents::all(pool)
        .await
        .map_err(|error| error_chain(&error))?;
    println!("AGENT ID                          QUEUE TYPE  REGISTERED AT");
    for record in records {
        println!(
            "{:<32}  {:<10}  {}",
            record.agent_id.as_str(),
            record.queue_type.as_str(),
            record
                .registered_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }
    Ok(())
}
