//! `GET /api/v1/analytics/anomalies`: per agent, the 5-minute windows whose error rate or p95
//! end-to-end latency is far from that agent's own baseline over the window.
//!
//! The rule is the one of the Prometheus recording and alert rules (`deploy/prometheus/`), so
//! both flag the same windows:
//!
//! - per agent and 5-minute bucket of `result_recorded_at`: results, the share `failed`, and
//!   the p95 of acceptance → result recorded (from a sketch: within 1 %);
//! - the baseline: the average and (population) standard deviation of those 5-minute values
//!   over the agent's buckets with results in the window;
//! - `z = (value − average) / max(stddev, floor)`, the floor being 10 % of the average but at
//!   least 10 ms for latency, and 0.02 for the error ratio (a flat baseline does not turn
//!   noise into huge scores);
//! - a bucket is flagged when `z ≥ 3` for either, with at least 30 results in it.
//!
//! One outlier among `n` buckets scores at most `√(n − 1)`: a window needs at least 10 buckets
//! with results (50 minutes) before anything can be flagged.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::{
    AgentScope, Analytics, AnalyticsError, BUCKET_ORIGIN, Period, Split, capped, scope, sketch,
    split::{self, ROLLED},
};

/// The rule's constants (shared with `deploy/prometheus/recording.yml`).
pub const BUCKET_SECONDS: u64 = super::BUCKET.as_secs();
pub const Z_THRESHOLD: f64 = 3.0;
pub const MIN_RESULTS: i64 = 30;
/// Most flagged windows in one answer.
pub const LIMIT: i64 = 500;

/// One flagged window of one agent.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Anomaly {
    pub agent_id: String,
    /// `[bucket_start, bucket_start + 5 min)`.
    pub bucket_start: DateTime<Utc>,
    pub results: i64,
    /// In percent, like the error-rates analysis.
    pub error_rate: f64,
    pub p95_ms: f64,
    pub baseline_error_rate: f64,
    pub baseline_p95_ms: f64,
    pub error_z: f64,
    pub latency_z: f64,
}

/// The rule as applied, for the reader of an answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rule {
    pub bucket_seconds: u64,
    pub z_threshold: f64,
    pub min_results: i64,
}

/// The answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Anomalies {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub rule: Rule,
    /// By bucket, then agent.
    pub anomalies: Vec<Anomaly>,
    pub truncated: bool,
}

impl Analytics {
    pub async fn anomalies(
        &self,
        scope: &AgentScope,
        period: Period,
    ) -> Result<Anomalies, AnalyticsError> {
        let rows = self
            .read(1, period, None, async |db, split| {
                fetch(db, scope, period, split, LIMIT + 1).await
            })
            .await?;
        let (anomalies, truncated) = capped(rows, LIMIT);
        Ok(Anomalies {
            from: period.from,
            until: period.until,
            rule: Rule {
                bucket_seconds: BUCKET_SECONDS,
                z_threshold: Z_THRESHOLD,
                min_results: MIN_RESULTS,
            },
            anomalies,
            truncated,
        })
    }
}

/// A rolled bucket's figures are read as they were rolled (`rollup_agents`, whole 5-minute
/// buckets only); the others' p95 comes from their sketch, computed the same way.
async fn fetch(
    db: &mut PgConnection,
    agents: &AgentScope,
    period: Period,
    split: Split,
    limit: i64,
) -> Result<Vec<Anomaly>, AnalyticsError> {
    let split = split.whole_buckets();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql()))
        .bind(period.from)
        .bind(period.until)
        .bind(agents.patterns())
        .bind(split.lo)
        .bind(split.hi)
        .bind(MIN_RESULTS)
        .bind(Z_THRESHOLD)
        .bind(limit)
        .fetch_all(db)
        .await?)
}

/// `$1`, `$2`: the period; `$3`: the scope; `$4`, `$5`: the split; `$6`: the least results;
/// `$7`: the z threshold; `$8`: the limit.
pub(super) fn sql() -> String {
    let in_scope = scope::condition("$3");
    let keys = "agent_id, bucket_start";
    format!(
        "with raw as ( \
             select agent_id collate \"C\" as agent_id, \
                 date_bin(interval '{BUCKET_SECONDS} seconds', result_recorded_at, \
                     {BUCKET_ORIGIN}) as bucket_start, \
                 outcome, \
                 extract(epoch from result_recorded_at - accepted_at)::float8 * 1000 as ms \
             from notifications \
             where {raw} and {in_scope}), \
         counts as materialized ( \
             select {keys}, count(*) as results, count(*) filter (where outcome = 'failed') \
                 as failed \
             from raw group by 1, 2), \
         bins as materialized ( \
             select {keys}, {bin} as bin, count(*) as n from raw group by 1, 2, 3), \
         percentiles as materialized ({p95}), \
         buckets as ( \
             select agent_id, bucket_start, results, failed::float8 / results as error_ratio, \
                 e2e_p95_ms as p95_ms \
             from rollup_agents where {ROLLED} and {in_scope} \
             union all \
             select c.agent_id, c.bucket_start, c.results, \
                 c.failed::float8 / c.results, p.p95_ms \
             from counts c join percentiles p using ({keys})), \
         baselines as ( \
             select agent_id, avg(p95_ms) as p95_avg, stddev_pop(p95_ms) as p95_sd, \
                 avg(error_ratio) as ratio_avg, stddev_pop(error_ratio) as ratio_sd \
             from buckets group by agent_id), \
         scored as ( \
             select b.agent_id, b.bucket_start, b.results, \
                 b.error_ratio * 100 as error_rate, b.p95_ms, \
                 s.ratio_avg * 100 as baseline_error_rate, s.p95_avg as baseline_p95_ms, \
                 (b.error_ratio - s.ratio_avg) / greatest(s.ratio_sd, 0.02) as error_z, \
                 (b.p95_ms - s.p95_avg) / greatest(s.p95_sd, 0.1 * s.p95_avg, 10) as latency_z \
             from buckets b join baselines s using (agent_id)) \
         select * from scored \
         where results >= $6 and (error_z >= $7 or latency_z >= $7) \
         order by bucket_start, agent_id \
         limit $8",
        raw = split::raw("result_recorded_at"),
        bin = sketch::bin("ms"),
        p95 = sketch::p95("bins", keys),
    )
}
