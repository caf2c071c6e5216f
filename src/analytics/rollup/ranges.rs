//! Which ranges of time a rollup step rolls, and at which grain: whole 5-minute buckets as
//! such, the bucket still open by the minute (`super::roll`).

use chrono::{DateTime, Utc};

use super::sql::Grain;
use crate::analytics::{BUCKET_DELTA, bucket_floor};

/// The buckets and minutes to roll again (their starts, as [`super::sql::changed_buckets`]
/// gives them: 5-minute buckets before `open`, the bucket still open, and minutes from there)
/// as few ranges of one grain each: neighbours of the same grain joined.
pub(super) fn ranges(
    mut starts: Vec<DateTime<Utc>>,
    open: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>, Grain)> {
    starts.sort();
    let mut ranges: Vec<(DateTime<Utc>, DateTime<Utc>, Grain)> = Vec::new();
    for start in starts {
        let grain = if start < open {
            Grain::Bucket
        } else {
            Grain::Minute
        };
        let end = start + grain.width();
        match ranges.last_mut() {
            Some((_, last_end, last_grain)) if *last_end == start && *last_grain == grain => {
                *last_end = end;
            }
            _ => ranges.push((start, end, grain)),
        }
    }
    ranges
}

/// `[until, next)` in the pieces it is rolled in: the minutes up to the end of the bucket
/// `until` is in, the whole buckets after, and the minutes of the bucket `next` is in.
pub(super) fn pieces(
    until: DateTime<Utc>,
    next: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>, Grain)> {
    let open = bucket_floor(until);
    let first_whole = if open < until {
        open + BUCKET_DELTA
    } else {
        open
    };
    let last_open = bucket_floor(next);
    if last_open < first_whole {
        return vec![(until, next, Grain::Minute)];
    }
    [
        (until, first_whole, Grain::Minute),
        (first_whole, last_open, Grain::Bucket),
        (last_open, next, Grain::Minute),
    ]
    .into_iter()
    .filter(|(start, end, _)| start < end)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::at;

    #[test]
    fn a_step_rolls_whole_buckets_as_such_and_the_rest_by_the_minute() {
        let pieces = |until, next| pieces(at(until), at(next));
        assert_eq!(
            pieces("2026-11-30T10:02:00Z", "2026-11-30T10:04:00Z"),
            [(
                at("2026-11-30T10:02:00Z"),
                at("2026-11-30T10:04:00Z"),
                Grain::Minute
            )]
        );
        assert_eq!(
            pieces("2026-11-30T10:02:00Z", "2026-11-30T10:17:00Z"),
            [
                (
                    at("2026-11-30T10:02:00Z"),
                    at("2026-11-30T10:05:00Z"),
                    Grain::Minute
                ),
                (
                    at("2026-11-30T10:05:00Z"),
                    at("2026-11-30T10:15:00Z"),
                    Grain::Bucket
                ),
                (
                    at("2026-11-30T10:15:00Z"),
                    at("2026-11-30T10:17:00Z"),
                    Grain::Minute
                ),
            ]
        );
        assert_eq!(
            pieces("2026-11-30T10:00:00Z", "2026-11-30T11:00:00Z"),
            [(
                at("2026-11-30T10:00:00Z"),
                at("2026-11-30T11:00:00Z"),
                Grain::Bucket
            )]
        );
    }

    #[test]
    fn changed_neighbours_of_one_grain_are_rolled_again_as_one_range() {
        let changed = vec![
            at("2026-11-30T10:06:00Z"),
            at("2026-11-30T09:55:00Z"),
            at("2026-11-30T09:50:00Z"),
            at("2026-11-30T10:05:00Z"),
            at("2026-11-30T09:30:00Z"),
        ];
        assert_eq!(
            ranges(changed, at("2026-11-30T10:05:00Z")),
            [
                (
                    at("2026-11-30T09:30:00Z"),
                    at("2026-11-30T09:35:00Z"),
                    Grain::Bucket
                ),
                (
                    at("2026-11-30T09:50:00Z"),
                    at("2026-11-30T10:00:00Z"),
                    Grain::Bucket
                ),
                (
                    at("2026-11-30T10:05:00Z"),
                    at("2026-11-30T10:07:00Z"),
                    Grain::Minute
                ),
            ]
        );
    }
}
