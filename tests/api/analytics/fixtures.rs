//! Journeys written straight into the test database, with known timestamps and durations, so
//! that every figure an analysis returns can be worked out by hand.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::TestApp;

/// One notification's journey: accepted, delivered (or not), answered (or not).
#[derive(Debug, Clone)]
pub struct Journey {
    pub agent: String,
    pub notification_type: String,
    pub accepted_at: DateTime<Utc>,
    /// `pending`, `published` or `failed` (undelivered).
    pub status: &'static str,
    pub answer: Option<Answer>,
}

/// The agent's answer, with its times relative to acceptance.
#[derive(Debug, Clone)]
pub struct Answer {
    pub outcome: &'static str,
    /// Acceptance → the agent starting (its clock).
    pub queued: Duration,
    /// The agent's work: `completed_at − started_at`.
    pub processing: Duration,
    /// Acceptance → the result recorded by the gateway (end to end).
    pub end_to_end: Duration,
    pub tools: Value,
    pub llm: Value,
}

pub fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}

pub fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

/// A time as the analyses write it (RFC 3339, UTC, `Z`, no trailing zero fractions).
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

impl Journey {
    /// Published and answered `completed` after `processing_ms` of work; recorded 20 ms after
    /// the work ended (10 ms of queueing before it).
    pub fn answered(agent: &str, accepted_at: DateTime<Utc>, processing_ms: i64) -> Self {
        Self {
            agent: agent.to_owned(),
            notification_type: "user_message".to_owned(),
            accepted_at,
            status: "published",
            answer: Some(Answer {
                outcome: "completed",
                queued: ms(10),
                processing: ms(processing_ms),
                end_to_end: ms(processing_ms + 20),
                tools: json!([]),
                llm: json!([]),
            }),
        }
    }

    /// Still in the outbox.
    pub fn pending(agent: &str, accepted_at: DateTime<Utc>) -> Self {
        Self {
            status: "pending",
            answer: None,
            ..Self::answered(agent, accepted_at, 0)
        }
    }

    /// Published, not answered yet.
    pub fn unanswered(agent: &str, accepted_at: DateTime<Utc>) -> Self {
        Self {
            answer: None,
            ..Self::answered(agent, accepted_at, 0)
        }
    }

    /// Its delivery failed.
    pub fn undelivered(agent: &str, accepted_at: DateTime<Utc>) -> Self {
        Self {
            status: "failed",
            answer: None,
            ..Self::answered(agent, accepted_at, 0)
        }
    }

    pub fn typed(mut self, notification_type: &str) -> Self {
        self.notification_type = notification_type.to_owned();
        self
    }

    /// Answered with the outcome `failed`.
    pub fn failed(mut self) -> Self {
        self.answer_mut().outcome = "failed";
        self
    }

    /// Recorded `end_to_end` after acceptance (the work stays as it was).
    pub fn end_to_end(mut self, end_to_end: Duration) -> Self {
        self.answer_mut().end_to_end = end_to_end;
        self
    }

    /// Recorded at `at`: accepted `end_to_end` before it.
    pub fn recorded_at(mut self, at: DateTime<Utc>) -> Self {
        self.accepted_at = at - self.answer_mut().end_to_end;
        self
    }

    /// Tools called in this order: `(name, status)`.
    pub fn tools(mut self, tools: &[(&str, &str)]) -> Self {
        self.answer_mut().tools = tools
            .iter()
            .map(|(name, status)| json!({ "name": name, "duration_ms": 5, "status": status }))
            .collect();
        self
    }

    /// Language-model calls: `(model, input tokens, output tokens)`.
    pub fn llm(mut self, calls: &[(&str, i64, i64)]) -> Self {
        self.answer_mut().llm = calls
            .iter()
            .map(|(model, input, output)| {
                json!({ "model": model, "input_tokens": input, "output_tokens": output })
            })
            .collect();
        self
    }

    /// `n` copies of this journey.
    pub fn times(self, n: usize) -> Vec<Self> {
        vec![self; n]
    }

    fn answer_mut(&mut self) -> &mut Answer {
        self.answer.as_mut().expect("an answered journey")
    }
}

/// The start of a 5-minute bucket about `hours_ago` hours back (buckets are aligned on the
/// epoch, like the analyses' `date_bin`): fixtures placed from there are well inside a
/// window of a day, whatever the time the test runs.
pub async fn bucket_hours_ago(app: &TestApp, hours_ago: i32) -> DateTime<Utc> {
    sqlx::query_scalar(
        "select date_bin(interval '5 minutes', now() - make_interval(hours => $1), \
             timestamptz '2000-01-01 00:00:00+00')",
    )
    .bind(hours_ago)
    .fetch_one(&app.db)
    .await
    .expect("a bucket start")
}

/// Inserts the journeys in one statement.
pub async fn insert(db: &PgPool, journeys: &[Journey]) {
    let column = |f: &dyn Fn(&Journey) -> Option<String>| -> Vec<Option<String>> {
        journeys.iter().map(f).collect()
    };
    let times = |f: &dyn Fn(&Journey, &Answer) -> DateTime<Utc>| -> Vec<Option<DateTime<Utc>>> {
        journeys
            .iter()
            .map(|j| j.answer.as_ref().map(|a| f(j, a)))
            .collect()
    };
    sqlx::query(
        "insert into notifications (notification_id, agent_id, notification_type, source, \
             payload, correlation_id, trace_id, span_id, trace_sampled, status, accepted_at, \
             next_attempt_at, published_at, failed_at, outcome, tools, llm, started_at, \
             completed_at, result_recorded_at) \
         select gen_random_uuid(), agent, type, 'fixtures', '{}', 'c', \
             '4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', true, status, accepted_at, \
             accepted_at + interval '1 day', \
             case when status = 'published' then accepted_at end, \
             case when status = 'failed' then accepted_at end, \
             outcome, tools::json, llm::json, started_at, completed_at, recorded_at \
         from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], \
             $6::text[], $7::text[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[]) \
             as j(agent, type, status, accepted_at, outcome, tools, llm, started_at, \
                 completed_at, recorded_at)",
    )
    .bind(column(&|j| Some(j.agent.clone())))
    .bind(column(&|j| Some(j.notification_type.clone())))
    .bind(column(&|j| Some(j.status.to_owned())))
    .bind(journeys.iter().map(|j| j.accepted_at).collect::<Vec<_>>())
    .bind(column(&|j| j.answer.as_ref().map(|a| a.outcome.to_owned())))
    .bind(column(&|j| j.answer.as_ref().map(|a| a.tools.to_string())))
    .bind(column(&|j| j.answer.as_ref().map(|a| a.llm.to_string())))
    .bind(times(&|j, a| j.accepted_at + a.queued))
    .bind(times(&|j, a| j.accepted_at + a.queued + a.processing))
    .bind(times(&|j, a| j.accepted_at + a.end_to_end))
    .execute(db)
    .await
    .expect("fixture journeys");
}
