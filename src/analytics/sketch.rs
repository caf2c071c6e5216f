//! Percentiles from sketches: log-scale histograms whose bins grow by 2 % (as DDSketch), so
//! that a bucket's durations can be stored as a few dozen `(bin, count)` pairs and any number
//! of buckets merged by adding counts. A value read back from its bin is within 1 % of the
//! value put in, whatever its size; averages and maxima are kept exactly beside the sketch.
//!
//! Every p95 an analysis returns comes from a sketch, whether its rows were read from
//! `notifications` or from the rollups, so that an answer does not change when a bucket is
//! rolled up.

/// The growth of the bins: bin `i` holds the values in `(γ^(i−1), γ^i]`.
pub const GAMMA: f64 = 1.02;
/// The largest relative error of a value read back from its bin: `(γ − 1) / (γ + 1)`.
pub const RELATIVE_ERROR: f64 = (GAMMA - 1.0) / (GAMMA + 1.0);
const _: () = assert!(RELATIVE_ERROR < 0.01);

/// The bin of the duration `ms` (an SQL expression), as a `smallint`. Durations under 0.01 ms,
/// including negative ones (the agent's clock), share the lowest bin; an hour is bin 763.
pub fn bin(ms: &str) -> String {
    format!("ceil(ln(greatest({ms}, 0.01)) / ln({GAMMA}))::smallint")
}

/// The value bin `bin` stands for: the point of `(γ^(i−1), γ^i]` nearest, relatively, to any
/// value in it.
fn value(bin: &str) -> String {
    format!("2 * power({GAMMA}::float8, {bin}) / (1 + {GAMMA})")
}

/// The 95th percentile of each group of `bins` (a relation with the columns `keys`, `bin` and
/// `n`, one row per group and bin): the columns `keys` and `p95_ms`.
///
/// Interpolated between the two ranks around `0.95 × (count − 1)`, like `percentile_cont`,
/// each rank's value read from its bin. Callers keep it in a `materialized` CTE: joined to
/// their other per-group figures, Postgres misjudges how many groups match and would
/// compute it again for each.
pub fn p95(bins: &str, keys: &str) -> String {
    format!(
        "select {keys}, v0 + (r - floor(r)) * (v1 - v0) as p95_ms \
         from (select {keys}, (0.95 * (max(total) - 1))::float8 as r, \
                   min(value) filter (where upto > floor(0.95 * (total - 1))) as v0, \
                   min(value) filter (where upto > ceil(0.95 * (total - 1))) as v1 \
               from (select {keys}, {value}::float8 as value, \
                         sum(n) over (partition by {keys}) as total, \
                         sum(n) over (partition by {keys} order by bin) as upto \
                     from {bins}) ranked \
               group by {keys}) ranks",
        value = value("bin"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the SQL computes, in Rust.
    fn bin_of(ms: f64) -> i32 {
        (ms.max(0.01).ln() / GAMMA.ln()).ceil() as i32
    }

    fn value_of(bin: i32) -> f64 {
        2.0 * GAMMA.powi(bin) / (1.0 + GAMMA)
    }

    #[test]
    fn a_value_read_back_from_its_bin_is_within_one_percent() {
        let mut ms = 0.02;
        while ms < 3_600_000.0 {
            let back = value_of(bin_of(ms));
            assert!(
                (back - ms).abs() <= RELATIVE_ERROR * ms * 1.000_001,
                "{ms} came back as {back}"
            );
            ms *= 1.013;
        }
        assert!(bin_of(3_600_000.0) < i16::MAX as i32);
        assert_eq!(bin_of(-5.0), bin_of(0.0));
    }
}
