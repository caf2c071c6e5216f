//! Results: what agents answered, recorded on the notification's row, once.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;

/// One result to record, as the results consumer read it.
#[derive(Debug, Clone)]
pub struct NewResult {
    pub notification_id: Uuid,
    pub agent_id: String,
    pub outcome: &'static str,
    /// JSON text of the result object, if any.
    pub result: Option<String>,
    pub error: Option<String>,
    /// JSON text of the tool calls and of the LLM usage.
    pub tools: String,
    pub llm: String,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
}

/// A result that was recorded, with what the metrics need of its notification.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Recorded {
    pub notification_id: Uuid,
    pub agent_id: String,
    pub notification_type: String,
    pub accepted_at: DateTime<Utc>,
    pub result_recorded_at: DateTime<Utc>,
}

/// What became of a batch: recorded, already answered before (duplicates), or for no
/// notification of that agent (unknown).
#[derive(Debug, Default)]
pub struct Batch {
    pub recorded: Vec<Recorded>,
    pub duplicates: Vec<Uuid>,
    pub unknown: Vec<Uuid>,
}

/// Records a batch in one statement. A row takes a result only once (`outcome is null`) and
/// only from its own agent, so a duplicate or a forged result changes nothing.
pub async fn record(pool: &PgPool, results: &[NewResult]) -> Result<Batch, StoreError> {
    let column = |f: fn(&NewResult) -> Option<String>| results.iter().map(f).collect::<Vec<_>>();
    let ids: Vec<Uuid> = results.iter().map(|r| r.notification_id).collect();
    let recorded: Vec<Recorded> = sqlx::query_as(
        // The rows are locked in `notification_id` order before they are updated, as the
        // publish-outcome recorder locks them (see `pending_locked_in_order` in
        // `store/notifications`): both touch a row within milliseconds, and locking in two
        // orders deadlocks.
        "with r as ( \
             select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
                 $6::text[], $7::text[], $8::timestamptz[], $9::timestamptz[]) \
                 as r(id, agent_id, outcome, result, error, tools, llm, started_at, completed_at) \
         ), locked as ( \
             select n.notification_id from notifications n \
             join r on n.notification_id = r.id and n.agent_id = r.agent_id \
             where n.outcome is null \
             order by n.notification_id for update of n \
         ) \
         update notifications n set outcome = r.outcome, result = r.result::json, \
             error = r.error, tools = r.tools::json, llm = r.llm::json, \
             started_at = r.started_at, completed_at = r.completed_at, result_recorded_at = now() \
         from locked join r on r.id = locked.notification_id \
         where n.notification_id = locked.notification_id and n.agent_id = r.agent_id \
         returning n.notification_id, n.agent_id, n.notification_type, n.accepted_at, \
             n.result_recorded_at",
    )
    .bind(&ids)
    .bind(column(|r| Some(r.agent_id.clone())))
    .bind(column(|r| Some(r.outcome.to_owned())))
    .bind(column(|r| r.result.clone()))
    .bind(column(|r| r.error.clone()))
    .bind(column(|r| Some(r.tools.clone())))
    .bind(column(|r| Some(r.llm.clone())))
    .bind(results.iter().map(|r| r.started_at).collect::<Vec<_>>())
    .bind(results.iter().map(|r| r.completed_at).collect::<Vec<_>>())
    // Planned on every batch, not prepared once per connection: a plan Postgres settled on
    // while the table was small (after a deploy, or a benchmark's truncate) scans it whole,
    // and stays cached as the table grows; the end-to-end benchmark recorded 293 results a
    // second with the rest queueing. The plan costs far less than the batch.
    .persistent(false)
    .fetch_all(pool)
    .await?;
    let mut batch = Batch {
        recorded,
        ..Batch::default()
    };
    if batch.recorded.len() == results.len() {
        return Ok(batch);
    }
    // The rest were answered before, or name no notification of their agent.
    let left: Vec<&NewResult> = results
        .iter()
        .filter(|r| {
            !batch
                .recorded
                .iter()
                .any(|d| d.notification_id == r.notification_id)
        })
        .collect();
    let left_ids: Vec<Uuid> = left.iter().map(|r| r.notification_id).collect();
    let left_agents: Vec<&str> = left.iter().map(|r| r.agent_id.as_str()).collect();
    let known: Vec<Uuid> = sqlx::query_scalar(
        "select n.notification_id from notifications n \
         join unnest($1::uuid[], $2::text[]) as r(id, agent_id) \
           on n.notification_id = r.id and n.agent_id = r.agent_id",
    )
    .bind(&left_ids)
    .bind(&left_agents)
    .fetch_all(pool)
    .await?;
    for id in left_ids {
        if known.contains(&id) {
            batch.duplicates.push(id);
        } else {
            batch.unknown.push(id);
        }
    }
    Ok(batch)
}
