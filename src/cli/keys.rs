//! `vos-gateway keys`: create, list and revoke API keys straight in the database (what an
//! operator uses before any admin key exists, or without one). Running gateways pick the
//! change up within `[auth] refresh_interval`.

use clap::{Args, Subcommand};

use super::{Exit, error_chain};
use crate::{
    auth::{self, KeyRequest},
    config::Settings,
    domain::{AgentPattern, Grant, KeyHasher, Scope},
    store::keys::{self, KeyRecord},
};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; prints the key alone on stdout (shown this once), details on stderr.
    Create(CreateArgs),
    /// List keys (never the keys themselves).
    List {
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id or by its display prefix (`vos_` + at least 4 more characters).
    Revoke {
        #[arg(value_name = "ID_OR_PREFIX")]
        key: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Who or what uses the key.
    #[arg(long)]
    name: String,
    /// notify, read or admin; repeat or separate with commas.
    #[arg(long = "scope", required = true, value_delimiter = ',', num_args = 1..)]
    scopes: Vec<Scope>,
    /// Agent id patterns the key may act on (`*` matches any run of characters); default `*`.
    #[arg(long = "agents", value_delimiter = ',', num_args = 1.., value_parser = AgentPattern::parse)]
    agents: Vec<AgentPattern>,
    /// The key's own rate limit, `N/s` (default: `[rate_limit] per_key`).
    #[arg(long, value_parser = parse_rate)]
    rate: Option<u32>,
    /// Let this key's traceparent parent the gateway's spans (internal services only).
    #[arg(long)]
    trust_trace_context: bool,
}

fn parse_rate(value: &str) -> Result<u32, String> {
    let count = value.strip_suffix("/s").unwrap_or(value);
    match count.parse::<u32>() {
        Ok(count) if count > 0 => Ok(count),
        _ => Err(format!("`{value}` is not a rate like 100/s")),
    }
}

pub(super) async fn keys(settings: Settings, command: KeysCommand) -> Exit {
    let pool = match super::prepared_pool(&settings).await {
        Ok(pool) => pool,
        Err(exit) => return exit,
    };
    let hasher = KeyHasher::new(settings.auth.pepper.expose());
    let done = match command {
        KeysCommand::Create(args) => create(&pool, &hasher, args).await,
        KeysCommand::List { json } => list(&pool, json).await,
        KeysCommand::Revoke { key } => match keys::revoke(&pool, &key).await {
            Ok(record) => {
                eprintln!("revoked {} ({})", record.display_prefix, record.name);
                Ok(())
            }
            Err(error) => Err(error_chain(&error)),
        },
    };
    pool.close().await;
    match done {
        Ok(()) => Exit::Success,
        Err(message) => Exit::Failure(message),
    }
}

async fn create(pool: &sqlx::PgPool, hasher: &KeyHasher, args: CreateArgs) -> Result<(), String> {
    let agents = if args.agents.is_empty() {
        vec![AgentPattern::any()]
    } else {
        args.agents
    };
    let request = KeyRequest {
        name: args.name,
        grant: Grant {
            scopes: args.scopes,
            agents,
            trust_trace_context: args.trust_trace_context,
        },
        rate_per_second: args.rate,
    };
    let (key, record) = auth::issue(pool, hasher, &request)
        .await
        .map_err(|error| error_chain(&error))?;
    eprintln!("created {}", describe(&record));
    println!("{}", key.expose());
    Ok(())
}

async fn list(pool: &sqlx::PgPool, json: bool) -> Result<(), String> {
    let records = keys::all(pool).await.map_err(|error| error_chain(&error))?;
    if json {
        let keys: Vec<_> = records.iter().map(|(_, record)| to_json(record)).collect();
        println!("{}", serde_json::json!({ "keys": keys }));
        return Ok(());
    }
    println!("KEY ID                                PREFIX        STATE     NAME, SCOPES, AGENTS");
    for (_, record) in &records {
        let state = if record.revoked_at.is_some() {
            "revoked"
        } else {
            "active"
        };
        println!(
            "{:<36}  {:<12}  {state:<8}  {}",
            record.key_id,
            record.display_prefix,
            describe(record)
        );
    }
    Ok(())
}

fn describe(record: &KeyRecord) -> String {
    let scopes: Vec<&str> = record.grant.scopes.iter().map(|s| s.as_str()).collect();
    let agents: Vec<&str> = record.grant.agents.iter().map(|a| a.as_str()).collect();
    let mut line = format!(
        "{} ({}): scopes {}, agents {}",
        record.display_prefix,
        record.name,
        scopes.join(","),
        agents.join(",")
    );
    if let Some(rate) = record.rate_per_second {
        line.push_str(&format!(", {rate}/s"));
    }
    if record.grant.trust_trace_context {
        line.push_str(", trusts trace context");
    }
    line
}

fn to_json(record: &KeyRecord) -> serde_json::Value {
    serde_json::json!({
        "key_id": record.key_id,
        "name": record.name,
        "display_prefix": record.display_prefix,
        "scopes": record.grant.scopes,
        "agents": record.grant.agents,
        "rate_per_second": record.rate_per_second,
        "trust_trace_context": record.grant.trust_trace_context,
        "created_at": record.created_at,
        "revoked_at": record.revoked_at,
    })
}
