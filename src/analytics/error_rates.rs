//! `GET /api/v1/analytics/error-rates`: per time bucket and service, requests, errors and the
//! error rate in percent. Services: `vos-gateway` (notifications accepted in the bucket, errors
//! those whose delivery failed) and each agent (results recorded in the bucket, errors those
//! whose outcome is `failed`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::{
    AgentScope, Analytics, AnalyticsError, BUCKET_ORIGIN, Period, Split, capped, scope,
    split::{self, ROLLED},
};

/// Most rows in one answer: 2016 buckets of the gateway alone fit.
pub const LIMIT: i64 = 2016;
/// The service name of the gateway's own rows.
pub const GATEWAY: &str = "vos-gateway";

/// One bucket of one service. A bucket without requests has no row.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ErrorRate {
    /// The bucket is `[bucket_start, bucket_start + bucket)`, buckets aligned on the epoch
    /// (5-minute buckets start at :00, :05, …); the first and last are cut by the window.
    pub bucket_start: DateTime<Utc>,
    /// `vos-gateway` or an agent id.
    pub service: String,
    pub requests: i64,
    pub errors: i64,
    /// `errors / requests × 100`, a float (`7` of `10` is `70.0`).
    pub error_rate: f64,
}

/// The answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorRates {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub bucket_seconds: u64,
    pub min_error_rate: f64,
    /// By bucket, then service.
    pub windows: Vec<ErrorRate>,
    /// Whether more than [`LIMIT`] rows matched (the earliest are shown).
    pub truncated: bool,
}

/// How rows are ordered before the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Time,
    /// Highest error rate first, then most errors: the report's worst windows.
    Worst,
}

impl Analytics {
    pub async fn error_rates(
        &self,
        scope: &AgentScope,
        period: Period,
        bucket: Duration,
        min_error_rate: f64,
    ) -> Result<ErrorRates, AnalyticsError> {
        let query = Buckets {
            period,
            bucket,
            min_error_rate,
            order: Order::Time,
            limit: LIMIT + 1,
        };
        let rows = self
            .read(1, period, Some(bucket), async |db, split| {
                fetch(db, scope, &query, split).await
            })
            .await?;
        let (windows, truncated) = capped(rows, LIMIT);
        Ok(ErrorRates {
            from: period.from,
            until: period.until,
            bucket_seconds: bucket.as_secs(),
            min_error_rate,
            windows,
            truncated,
        })
    }
}

pub(super) struct Buckets {
    pub period: Period,
    pub bucket: Duration,
    pub min_error_rate: f64,
    pub order: Order,
    pub limit: i64,
}

/// The rolled buckets, and two index range scans for the rest: `notifications_accepted_at`
/// for the gateway, and `notifications_result_recorded_at` for the agents. `split` must come
/// from [`Split::of`] with `query.bucket`.
pub(super) async fn fetch(
    db: &mut PgConnection,
    agents: &AgentScope,
    query: &Buckets,
    split: Split,
) -> Result<Vec<ErrorRate>, AnalyticsError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql(query.order)))
        .bind(query.period.from)
        .bind(query.period.until)
        .bind(agents.patterns())
        .bind(split.lo)
        .bind(split.hi)
        .bind(query.bucket)
        .bind(query.min_error_rate)
        .bind(query.limit)
        .fetch_all(db)
        .await?)
}

/// `$1`, `$2`: the period; `$3`: the scope; `$4`, `$5`: the split; `$6`: the bucket; `$7`:
/// `min_error_rate`; `$8`: the limit.
pub(super) fn sql(order: Order) -> String {
    let order = match order {
        Order::Time => "bucket_start, service",
        Order::Worst => "error_rate desc, errors desc, bucket_start, service",
    };
    let in_scope = scope::condition("$3");
    let bucket = |column: &str| format!("date_bin($6::interval, {column}, {BUCKET_ORIGIN})");
    // The rollups' 5-minute buckets fall whole into the analysis' buckets (a multiple of 5
    // minutes whenever the split is not empty). `::float8` before dividing: integer division
    // would make 7 of 10 errors 0 %.
    format!(
        "select bucket_start, service, requests, errors, \
             coalesce(errors::float8 * 100 / nullif(requests, 0), 0) as error_rate \
         from (select {rolled_bucket} as bucket_start, '{GATEWAY}'::text as service, \
                   sum(requests)::bigint as requests, sum(errors)::bigint as errors \
               from (select bucket_start, journeys as requests, \
                         case when status = 'failed' then journeys else 0 end as errors \
                     from rollup_journeys where {ROLLED} and {in_scope} \
                     union all \
                     select {accepted}, count(*), count(*) filter (where status = 'failed') \
                     from notifications where {raw_accepted} and {in_scope} \
                     group by 1) gateway \
               group by 1 \
               union all \
               select {rolled_bucket}, agent_id, sum(requests)::bigint, sum(errors)::bigint \
               from (select bucket_start, agent_id, results as requests, failed as errors \
                     from rollup_results where {ROLLED} and {in_scope} \
                     union all \
                     select {recorded}, agent_id collate \"C\", count(*), \
                         count(*) filter (where outcome = 'failed') \
                     from notifications where {raw_recorded} and {in_scope} \
                     group by 1, 2) agents \
               group by 1, 2) buckets \
         where coalesce(errors::float8 * 100 / nullif(requests, 0), 0) >= $7 \
         order by {order} \
         limit $8",
        rolled_bucket = bucket("bucket_start"),
        accepted = bucket("accepted_at"),
        recorded = bucket("result_recorded_at"),
        raw_accepted = split::raw("accepted_at"),
        raw_recorded = split::raw("result_recorded_at"),
    )
}
