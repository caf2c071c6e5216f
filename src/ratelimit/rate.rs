//! [`Rate`]: what a limit is configured as, `N/s`, `N/m` or `N/h`.

use std::{fmt, num::NonZeroU32, str::FromStr, time::Duration};

/// A rate as configured: "N/s", "N/m" or "N/h" (N a positive integer), or "off". Burst = N: a
/// caller idle for a whole period may spend all N at once, then one every period / N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per period, and the burst.
    pub count: NonZeroU32,
    /// One second, minute or hour when parsed.
    pub period: Duration,
}

/// The units a rate may be written in, and their periods.
const UNITS: [(&str, Duration); 3] = [
    ("s", Duration::from_secs(1)),
    ("m", Duration::from_secs(60)),
    ("h", Duration::from_secs(3600)),
];

impl Rate {
    /// governor's quota for this rate: one cell every `period / count`, burst `count`. Built
    /// from the emission interval, so there is no `per_second` to misread.
    pub(crate) fn quota(self) -> governor::Quota {
        // Parsing rejects intervals under 1 ns; a hand-built Rate gets governor's own floor.
        let interval = (self.period / self.count.get()).max(Duration::from_nanos(1));
        governor::Quota::with_period(interval)
            .expect("the interval is at least 1 ns")
            .allow_burst(self.count)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let Some((count, unit)) = text.trim().split_once('/') else {
            return Err(format!(
                "rate {text:?} is not N/s, N/m or N/h (write \"off\" for no limit)"
            ));
        };
        let Some(&(_, period)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!("rate {text:?}: the unit {unit:?} is not s, m or h"));
        };
        let count: u32 = count.parse().map_err(|_| {
            format!(
                "rate {text:?}: {count:?} is not a whole number from 1 to {}",
                u32::MAX
            )
        })?;
        let Some(count) = NonZeroU32::new(count) else {
            return Err(format!(
                "rate {text:?}: the count must be at least 1 (write \"off\" for no limit)"
            ));
        };
        // governor measures in nanoseconds; a finer interval would silently become 1 ns.
        if period.as_nanos() < u128::from(count.get()) {
            return Err(format!(
                "rate {text:?}: more than one request per nanosecond cannot be measured"
            ));
        }
        Ok(Self { count, period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match UNITS.iter().find(|(_, period)| *period == self.period) {
            Some((unit, _)) => write!(f, "{}/{unit}", self.count),
            // Only a hand-built Rate gets here; say what it is even if it will not parse.
            None => write!(f, "{}/{:?}", self.count, self.period),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(count: u32, secs: u64) -> Rate {
        Rate {
            count: NonZeroU32::new(count).unwrap(),
            period: Duration::from_secs(secs),
        }
    }

    #[test]
    fn well_formed_rates_parse_and_print_back() {
        for (text, expected) in [
            ("100/s", rate(100, 1)),
            ("6000/m", rate(6000, 60)),
            ("5/h", rate(5, 3600)),
            ("1/s", rate(1, 1)),
            (" 7/m ", rate(7, 60)),
            ("4294967295/h", rate(u32::MAX, 3600)),
        ] {
            assert_eq!(text.parse::<Rate>(), Ok(expected), "{text:?}");
            assert_eq!(expected.to_string(), text.trim());
        }
    }

    #[test]
    fn malformed_rates_are_rejected_with_a_reason() {
        for (text, reason) in [
            ("0/s", "at least 1"),
            ("-1/s", "whole number"),
            ("10/d", "unit \"d\""),
            ("10", "not N/s"),
            ("abc", "not N/s"),
            ("4294967296/s", "whole number"),
            ("off", "not N/s"),
            ("", "not N/s"),
            ("10/", "unit \"\""),
            ("/s", "whole number"),
            ("1.5/s", "whole number"),
            ("10/S", "unit \"S\""),
            ("2000000000/s", "per nanosecond"),
        ] {
            let error = text.parse::<Rate>().expect_err(text);
            assert!(error.contains(reason), "{text:?}: {error}");
        }
    }

    #[test]
    fn the_quota_spaces_requests_evenly_and_allows_the_whole_count_at_once() {
        let quota = rate(100, 1).quota();
        assert_eq!(quota.replenish_interval(), Duration::from_millis(10));
        assert_eq!(quota.burst_size().get(), 100);
        assert_eq!(
            rate(5, 3600).quota().replenish_interval(),
            Duration::from_secs(720)
        );
    }
}
