//! The parameters every analysis shares: the period it looks at and its buckets. Durations are
//! written like `5m`, `1h`, `24h`, `7d`; whatever breaks a rule is a 422 naming the field.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use crate::domain::ValidationError;

/// The longest period an analysis may cover: what the indexes serve in seconds (docs/analytics.md).
pub const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// Buckets from a minute to a day, and at most this many in one answer (7 days of 5 minutes).
pub const MIN_BUCKET: Duration = Duration::from_secs(60);
pub const MAX_BUCKET: Duration = Duration::from_secs(24 * 3600);
pub const MAX_BUCKETS: u64 = 2016;

/// The period an analysis covers: `[from, until]`, `until` being when it was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl Period {
    /// The `window` up to now.
    pub fn last(window: Duration) -> Self {
        // Microseconds, as Postgres stores them: the bounds an answer shows are the ones used.
        let until = Utc::now().trunc_subsecs(6);
        let from = until - chrono::Duration::from_std(window).expect("at most 7 days");
        Self { from, until }
    }

    pub fn length(&self) -> Duration {
        (self.until - self.from).to_std().unwrap_or_default()
    }
}

/// A duration parameter such as `window=24h`; `default` when absent.
pub fn duration(
    field: &'static str,
    value: Option<&str>,
    default: Duration,
) -> Result<Duration, ValidationError> {
    let Some(value) = value else {
        return Ok(default);
    };
    let parsed = humantime::parse_duration(value.trim())
        .map_err(|_| ValidationError::new(field, "must be a duration such as 5m, 1h, 24h or 7d"))?;
    if parsed.is_zero() {
        return Err(ValidationError::new(field, "must be longer than 0"));
    }
    Ok(parsed)
}

/// `window` (or `since`): a duration of at most 7 days, ending now.
pub fn period(
    field: &'static str,
    value: Option<&str>,
    default: Duration,
) -> Result<Period, ValidationError> {
    let window = duration(field, value, default)?;
    if window > MAX_WINDOW {
        return Err(ValidationError::new(field, "must be at most 7d"));
    }
    Ok(Period::last(window))
}

/// `bucket`: between a minute and a day, whole seconds, and at most [`MAX_BUCKETS`] of them
/// in `period`.
pub fn bucket(
    value: Option<&str>,
    default: Duration,
    period: &Period,
) -> Result<Duration, ValidationError> {
    let bucket = duration("bucket", value, default)?;
    if !(MIN_BUCKET..=MAX_BUCKET).contains(&bucket) || bucket.subsec_nanos() != 0 {
        return Err(ValidationError::new(
            "bucket",
            "must be whole seconds between 1m and 1d",
        ));
    }
    if period.length().as_secs().div_ceil(bucket.as_secs()) > MAX_BUCKETS {
        return Err(ValidationError::new(
            "bucket",
            "gives more than 2016 buckets in the window; choose a longer bucket",
        ));
    }
    Ok(bucket)
}

/// A non-negative finite number within `max`, such as `min_avg_ms=1000`; `0` when absent.
pub fn threshold(
    field: &'static str,
    value: Option<&str>,
    max: f64,
) -> Result<f64, ValidationError> {
    let Some(value) = value else {
        return Ok(0.0);
    };
    match value.trim().parse::<f64>() {
        Ok(number) if number.is_finite() && (0.0..=max).contains(&number) => Ok(number),
        _ => Err(ValidationError::new(
            field,
            "must be a number from 0 up to its maximum (100 for a percentage)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_window_is_a_positive_duration_of_at_most_seven_days() {
        assert_eq!(
            period("window", Some("7d"), HOUR).unwrap().length(),
            MAX_WINDOW
        );
        assert_eq!(period("window", None, HOUR).unwrap().length(), HOUR);
        for bad in ["8d", "0s", "soon", "-1h", ""] {
            let error = period("window", Some(bad), HOUR).unwrap_err();
            assert_eq!(error.field, "window", "{bad}");
        }
    }

    #[test]
    fn a_bucket_is_a_minute_to_a_day_and_at_most_2016_of_them() {
        let week = Period::last(MAX_WINDOW);
        assert_eq!(
            bucket(Some("5m"), HOUR, &week).unwrap(),
            Duration::from_secs(300)
        );
        for bad in ["4m", "30s", "2d", "90s500ms"] {
            assert!(bucket(Some(bad), HOUR, &week).is_err(), "{bad}");
        }
        let day = Period::last(Duration::from_secs(86_400));
        assert!(bucket(Some("1m"), HOUR, &day).is_ok(), "1440 buckets");
        assert!(bucket(Some("1m"), HOUR, &week).is_err(), "10080 buckets");
    }

    #[test]
    fn a_threshold_is_a_finite_number_within_its_maximum() {
        assert_eq!(threshold("min_error_rate", Some("5"), 100.0), Ok(5.0));
        assert_eq!(threshold("min_error_rate", None, 100.0), Ok(0.0));
        for bad in ["101", "-1", "NaN", "inf", "five"] {
            assert!(
                threshold("min_error_rate", Some(bad), 100.0).is_err(),
                "{bad}"
            );
        }
    }
}
