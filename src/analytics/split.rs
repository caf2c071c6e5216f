//! Which part of a window the rollups answer and which part `notifications` does.
//!
//! The rollups hold whole 5-minute buckets, then the minutes of the bucket that has not
//! closed yet, up to a minute or two ago (`super::rollup`). An analysis reads from them the
//! rolled buckets that lie wholly inside its window, `[lo, hi)`, and reads the rest of the
//! window, `[from, lo)` and `[hi, until]`, from the journeys themselves: the first, partial
//! bucket and the last minute or two. Every statement takes the split as `$4` and `$5`, after
//! the period (`$1`, `$2`) and the scope (`$3`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{AnalyticsError, BUCKET, BUCKET_DELTA, Period, bucket_floor, minute_floor};

/// `[lo, hi)`: the buckets read from the rollups; empty (`lo == hi`) when none are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub lo: DateTime<Utc>,
    pub hi: DateTime<Utc>,
}

impl Split {
    /// Everything from `notifications`.
    pub fn none(period: Period) -> Self {
        Self {
            lo: period.from,
            hi: period.from,
        }
    }

    /// The split of `period` given what the rollups cover now (read in the analysis'
    /// snapshot). `unit` is the analysis' own bucket, if it has one: the rollups serve it only
    /// if it is made of whole 5-minute buckets.
    pub async fn of(
        db: &mut PgConnection,
        period: Period,
        unit: Option<Duration>,
    ) -> Result<Self, AnalyticsError> {
        if unit.is_some_and(|unit| unit.as_secs() % BUCKET.as_secs() != 0) {
            return Ok(Self::none(period));
        }
        let covered: Option<(DateTime<Utc>, DateTime<Utc>)> =
            sqlx::query_as("select rolled_from, rolled_until from rollup_progress")
                .fetch_optional(db)
                .await?;
        Ok(covered.map_or(Self::none(period), |(from, until)| {
            Self::within(period, from, until)
        }))
    }

    /// The rolled buckets of `period` inside `[rolled_from, rolled_until)`: from its first
    /// whole 5-minute bucket to its last whole minute. Before the 5-minute bucket
    /// `rolled_until` is in, the rollups hold only whole 5-minute buckets, so a window that
    /// ends there ends its split on one.
    pub fn within(period: Period, rolled_from: DateTime<Utc>, rolled_until: DateTime<Utc>) -> Self {
        let first = bucket_floor(period.from);
        let lo = if first < period.from {
            first + BUCKET_DELTA
        } else {
            first
        };
        let last = minute_floor(period.until);
        let hi = if last >= bucket_floor(rolled_until) {
            last.min(rolled_until)
        } else {
            bucket_floor(period.until)
        };
        if lo < rolled_from || hi <= lo {
            Self::none(period)
        } else {
            Self { lo, hi }
        }
    }

    /// The same, ending on a whole 5-minute bucket: for `rollup_agents`, whose p95s cannot be
    /// added up from minutes.
    pub fn whole_buckets(self) -> Self {
        Self {
            lo: self.lo,
            hi: bucket_floor(self.hi).max(self.lo),
        }
    }
}

/// The rows whose `column` is in the period but not in the rolled buckets.
pub fn raw(column: &str) -> String {
    format!("(({column} >= $1 and {column} < $4) or ({column} >= $5 and {column} <= $2))")
}

/// The rollup rows of the rolled buckets.
pub const ROLLED: &str = "bucket_start >= $4 and bucket_start < $5";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::at;

    #[test]
    fn the_rollups_answer_the_whole_rolled_buckets_inside_the_window() {
        let period = Period {
            from: at("2026-11-30T10:02:30Z"),
            until: at("2026-11-30T11:02:30Z"),
        };
        let rolled = |from, until| Split::within(period, at(from), at(until));

        let split = rolled("2026-11-29T00:00:00Z", "2026-11-30T10:55:00Z");
        assert_eq!(split.lo, at("2026-11-30T10:05:00Z"));
        assert_eq!(split.hi, at("2026-11-30T10:55:00Z"));
        let caught_up = rolled("2026-11-29T00:00:00Z", "2026-11-30T12:00:00Z");
        assert_eq!(
            caught_up.hi,
            at("2026-11-30T11:00:00Z"),
            "the last bucket is partial"
        );
        let in_minutes = rolled("2026-11-29T00:00:00Z", "2026-11-30T11:03:00Z");
        assert_eq!(
            in_minutes.hi,
            at("2026-11-30T11:02:00Z"),
            "the last minute is partial"
        );
        let minutes = rolled("2026-11-29T00:00:00Z", "2026-11-30T11:01:00Z");
        assert_eq!(minutes.hi, at("2026-11-30T11:01:00Z"));
        assert_eq!(minutes.whole_buckets().hi, at("2026-11-30T11:00:00Z"));
        let past = Period {
            from: at("2026-11-30T09:02:30Z"),
            until: at("2026-11-30T10:02:30Z"),
        };
        assert_eq!(
            Split::within(past, at("2026-11-29T00:00:00Z"), at("2026-11-30T11:01:00Z")).hi,
            at("2026-11-30T10:00:00Z"),
            "before the last bucket the rollups hold no minutes"
        );
        for (from, until) in [
            ("2026-11-30T10:30:00Z", "2026-11-30T11:00:00Z"),
            ("2026-11-29T00:00:00Z", "2026-11-30T10:00:00Z"),
        ] {
            assert_eq!(rolled(from, until), Split::none(period), "{from}..{until}");
        }
    }
}
