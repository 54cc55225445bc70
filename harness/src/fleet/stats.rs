//! Distributions of durations over a fleet: nearest-rank percentiles and a histogram with
//! round bucket widths ([`Distribution`]). Pure functions of the values; nothing here
//! knows what was measured.

use serde::Serialize;

/// Most buckets a [`Distribution`]'s histogram has.
pub const MAX_BUCKETS: u64 = 20;

/// How values in milliseconds are spread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distribution {
    /// How many values.
    pub count: usize,
    /// The smallest, in ms.
    pub min_ms: u64,
    /// The median (nearest rank), in ms.
    pub p50_ms: u64,
    /// The 90th percentile (nearest rank), in ms.
    pub p90_ms: u64,
    /// The 99th percentile (nearest rank), in ms.
    pub p99_ms: u64,
    /// The largest, in ms.
    pub max_ms: u64,
    /// The mean, in ms.
    pub mean_ms: f64,
    /// Equal-width buckets from the one holding the smallest value to the one holding the
    /// largest; the width is 1, 2 or 5 times a power of ten, the smallest such that at
    /// most [`MAX_BUCKETS`] buckets cover the values, and buckets start at multiples of it.
    pub histogram: Vec<Bucket>,
}

/// Values in `from_ms..to_ms` (start included, end excluded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Start, in ms.
    pub from_ms: u64,
    /// End (excluded), in ms.
    pub to_ms: u64,
    /// How many values fall in it.
    pub count: usize,
}

impl Distribution {
    /// The distribution of `values` (ms), or `None` when there are none.
    pub fn of(values: &[u64]) -> Option<Self> {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        let (&min_ms, &max_ms) = (sorted.first()?, sorted.last()?);
        let sum: u128 = sorted.iter().map(|&v| u128::from(v)).sum();
        let (start, width) = buckets_for(min_ms, max_ms);
        let buckets = (max_ms - start) / width + 1;
        let mut histogram: Vec<Bucket> = (0..buckets)
            .map(|i| Bucket {
                from_ms: start + i * width,
                to_ms: start + (i + 1) * width,
                count: 0,
            })
            .collect();
        for &value in &sorted {
            if let Some(bucket) = usize::try_from((value - start) / width)
                .ok()
                .and_then(|i| histogram.get_mut(i))
            {
                bucket.count += 1;
            }
        }
        Some(Distribution {
            count: sorted.len(),
            min_ms,
            p50_ms: percentile(&sorted, 50),
            p90_ms: percentile(&sorted, 90),
            p99_ms: percentile(&sorted, 99),
            max_ms,
            mean_ms: sum as f64 / sorted.len() as f64,
            histogram,
        })
    }
}

/// The nearest-rank `p`th percentile of `sorted` (not empty, ascending): the value at rank
/// ⌈p/100 · n⌉.
pub fn percentile(sorted: &[u64], p: u32) -> u64 {
    let n = sorted.len();
    let rank = (usize::try_from(p).unwrap_or(100) * n)
        .div_ceil(100)
        .clamp(1, n);
    sorted[rank - 1]
}

/// The first bucket's start and the buckets' width for values from `min` to `max`: the
/// smallest width of 1, 2 or 5 times a power of ten (ms) with which at most
/// [`MAX_BUCKETS`] buckets, the first starting at a multiple of the width, cover them.
fn buckets_for(min: u64, max: u64) -> (u64, u64) {
    let mut power = 1u64;
    loop {
        for step in [1u64, 2, 5] {
            let width = step.saturating_mul(power);
            let start = min / width * width;
            if (max - start) / width < MAX_BUCKETS {
                return (start, width);
            }
        }
        power = power.saturating_mul(10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_one_to_a_hundred_are_the_ranks() {
        let values: Vec<u64> = (1..=100).collect();
        let d = Distribution::of(&values).unwrap();
        assert_eq!(
            (d.min_ms, d.p50_ms, d.p90_ms, d.p99_ms, d.max_ms),
            (1, 50, 90, 99, 100)
        );
        assert_eq!(d.count, 100);
        assert!((d.mean_ms - 50.5).abs() < 1e-9);
    }

    #[test]
    fn percentiles_of_a_few_values_round_up_to_a_value_that_exists() {
        let d = Distribution::of(&[300, 100, 200]).unwrap();
        assert_eq!((d.p50_ms, d.p90_ms, d.p99_ms), (200, 300, 300));
        let one = Distribution::of(&[7]).unwrap();
        assert_eq!(
            (one.min_ms, one.p50_ms, one.p99_ms, one.max_ms),
            (7, 7, 7, 7)
        );
    }

    #[test]
    fn no_values_is_no_distribution() {
        assert_eq!(Distribution::of(&[]), None);
    }

    #[test]
    fn the_histogram_has_round_widths_and_counts_every_value_once() {
        let values = [0, 999, 1000, 1999, 2500, 18_999, 19_000];
        let d = Distribution::of(&values).unwrap();
        // 19 000 / 1000 = 19 < 20 buckets: width 1000, buckets 0..20 000.
        assert_eq!(d.histogram.len(), 20);
        assert_eq!(
            d.histogram[0],
            Bucket {
                from_ms: 0,
                to_ms: 1000,
                count: 2
            }
        );
        assert_eq!(d.histogram[1].count, 2);
        assert_eq!(d.histogram[2].count, 1);
        assert_eq!(d.histogram[18].count, 1);
        assert_eq!(
            d.histogram[19],
            Bucket {
                from_ms: 19_000,
                to_ms: 20_000,
                count: 1
            }
        );
        assert_eq!(
            d.histogram.iter().map(|b| b.count).sum::<usize>(),
            values.len()
        );
    }

    #[test]
    fn the_histogram_starts_at_the_bucket_of_the_smallest_value() {
        let d = Distribution::of(&[2_130, 3_650, 7_530]).unwrap();
        // 2 000..8 000 in 500 ms buckets: 12 of them, the first holding the smallest.
        assert_eq!(d.histogram.first().unwrap().from_ms, 2_000);
        assert_eq!(d.histogram.last().unwrap().to_ms, 8_000);
        assert_eq!(d.histogram.len(), 12);
        assert_eq!(d.histogram[0].count, 1);
    }

    #[test]
    fn bucket_widths_step_one_two_five() {
        assert_eq!(buckets_for(0, 0), (0, 1));
        assert_eq!(buckets_for(0, 19), (0, 1));
        assert_eq!(buckets_for(0, 20), (0, 2));
        assert_eq!(buckets_for(0, 40), (0, 5));
        assert_eq!(buckets_for(0, 100), (0, 10));
        assert_eq!(buckets_for(0, 4_321), (0, 500));
        assert_eq!(buckets_for(0, 60_000), (0, 5_000));
        assert_eq!(buckets_for(59_000, 60_000), (59_000, 100));
    }
}
