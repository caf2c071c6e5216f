//! The summary report (`GET /api/v1/reports/summary`, `vos-gateway report`): one [`Summary`]
//! read in one snapshot, rendered as JSON or as Markdown ([`super::markdown`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    AgentScope, Analytics, AnalyticsError, Period,
    error_rates::{self, Buckets, ErrorRate, Order},
    slow_operations::{self, SlowOperation},
    usage::{self, AgentLoad, HourCount, ModelUsage, ToolUse, Totals, TypeCount},
};

/// Rows of the slowest operations and of the worst error-rate windows.
const WORST: i64 = 5;
/// The buckets of the worst error-rate windows.
const ERROR_BUCKET: Duration = Duration::from_secs(300);
/// The statements one report runs (for its client-side deadline).
const STATEMENTS: u32 = 8;

/// Everything the report says about a period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub totals: Totals,
    /// Most busy first (time worked), at most 10.
    pub busiest_agents: Vec<AgentLoad>,
    /// Most requested first, at most 10.
    pub notification_types: Vec<TypeCount>,
    /// Most called first, at most 20.
    pub tools: Vec<ToolUse>,
    /// Most called first, at most 20.
    pub llm: Vec<ModelUsage>,
    /// Every hour of the period with notifications, in order.
    pub peak_hours: Vec<HourCount>,
    /// The slow-operations analysis, the 5 slowest.
    pub slowest_operations: Vec<SlowOperation>,
    /// The error-rates analysis (5-minute buckets), the 5 worst windows with errors.
    pub worst_error_windows: Vec<ErrorRate>,
}

impl Analytics {
    pub async fn summary(
        &self,
        scope: &AgentScope,
        period: Period,
    ) -> Result<Summary, AnalyticsError> {
        let worst = Buckets {
            period,
            bucket: ERROR_BUCKET,
            // Windows with at least one error.
            min_error_rate: f64::MIN_POSITIVE,
            order: Order::Worst,
            limit: WORST,
        };
        self.read(STATEMENTS, period, Some(ERROR_BUCKET), async |db, split| {
            Ok(Summary {
                from: period.from,
                until: period.until,
                totals: usage::totals(db, scope, period, split).await?,
                busiest_agents: usage::busiest_agents(db, scope, period, split).await?,
                notification_types: usage::notification_types(db, scope, period, split).await?,
                tools: usage::tools(db, scope, period, split).await?,
                llm: usage::llm(db, scope, period, split).await?,
                peak_hours: usage::peak_hours(db, scope, period, split).await?,
                slowest_operations: slow_operations::fetch(db, scope, period, split, 0.0, WORST)
                    .await?,
                worst_error_windows: error_rates::fetch(db, scope, &worst, split).await?,
            })
        })
        .await
    }
}
