//! A fixed-bucket latency histogram for the status page's percentiles: lock-free counts per
//! bucket (bounds growing by a quarter from 100 µs to about 30 s, one bucket above), read as
//! cumulative counts, and the quantiles of the requests between two reads (the difference of
//! their counts), interpolated within the bucket the rank falls in. Prometheus keeps its own,
//! coarser histogram (`request_metrics`); this one is always on, /metrics or not.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets with an upper bound; one more holds everything above the last bound.
const BOUNDED_BUCKETS: usize = 57;
/// The first bucket's upper bound.
const FIRST_BOUND_US: f64 = 100.0;
/// Each bound over the one before.
const GROWTH: f64 = 1.25;

/// The upper bound of bucket `index` in microseconds (`f64::INFINITY` for the last).
fn upper_bound_us(index: usize) -> f64 {
    if index >= BOUNDED_BUCKETS {
        f64::INFINITY
    } else {
        FIRST_BOUND_US * GROWTH.powi(index as i32)
    }
}

/// The bucket a duration falls in: the first whose upper bound it does not exceed.
fn bucket_of(duration: Duration) -> usize {
    let us = duration.as_secs_f64() * 1e6;
    if us <= FIRST_BOUND_US {
        return 0;
    }
    let index = ((us / FIRST_BOUND_US).ln() / GROWTH.ln()).ceil() as usize;
    // The logarithm can land one off at a bound; settle it against the bounds themselves.
    let index = index.min(BOUNDED_BUCKETS);
    if index > 0 && us <= upper_bound_us(index - 1) {
        index - 1
    } else {
        index
    }
}

/// Counts of durations per bucket, updated from any thread.
#[derive(Debug)]
pub(crate) struct LatencyHistogram {
    counts: [AtomicU64; BOUNDED_BUCKETS + 1],
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl LatencyHistogram {
    /// Counts one duration.
    pub(crate) fn observe(&self, duration: Duration) {
        self.counts[bucket_of(duration)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts as they are now.
    pub(crate) fn counts(&self) -> LatencyCounts {
        LatencyCounts {
            counts: self
                .counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

/// Counts per bucket, as read at one moment (or the difference of two reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyCounts {
    counts: Vec<u64>,
}

impl Default for LatencyCounts {
    fn default() -> Self {
        LatencyCounts {
            counts: vec![0; BOUNDED_BUCKETS + 1],
        }
    }
}

impl LatencyCounts {
    /// Durations counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// What was counted after `earlier` was read; when a bucket went down (the counts started
    /// again: a version reloaded), everything now counted.
    pub(crate) fn since(&self, earlier: &LatencyCounts) -> LatencyCounts {
        let went_down = self
            .counts
            .iter()
            .zip(&earlier.counts)
            .any(|(now, then)| now < then);
        if went_down {
            return self.clone();
        }
        LatencyCounts {
            counts: self
                .counts
                .iter()
                .zip(&earlier.counts)
                .map(|(now, then)| now - then)
                .collect(),
        }
    }

    /// Adds another set of counts (another version of the same model).
    pub(crate) fn add(&mut self, other: &LatencyCounts) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
    }

    /// The duration below which the fraction `q` (0 to 1) of the counted durations fall,
    /// interpolated linearly within its bucket; `None` when nothing was counted. A rank in the
    /// last, unbounded bucket answers that bucket's lower bound.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
        let mut below = 0u64;
        for (index, &count) in self.counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            if (below + count) as f64 >= rank {
                let lower = if index == 0 {
                    0.0
                } else {
                    upper_bound_us(index - 1)
                };
                let upper = upper_bound_us(index);
                if upper.is_infinite() {
                    return Some(Duration::from_secs_f64(lower / 1e6));
                }
                let within = (rank - below as f64) / count as f64;
                return Some(Duration::from_secs_f64(
                    (lower + within * (upper - lower)) / 1e6,
                ));
            }
            below += count;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: f64) -> Duration {
        Duration::from_secs_f64(value / 1000.0)
    }

    #[test]
    fn each_duration_lands_in_the_bucket_whose_bounds_hold_it() {
        for us in [
            1.0,
            99.0,
            100.0,
            100.5,
            125.0,
            126.0,
            4_000.0,
            29_000_000.0,
            1e9,
        ] {
            let index = bucket_of(Duration::from_secs_f64(us / 1e6));
            assert!(us <= upper_bound_us(index), "{us} µs in bucket {index}");
            if index > 0 {
                assert!(us > upper_bound_us(index - 1), "{us} µs in bucket {index}");
            }
        }
        assert_eq!(bucket_of(Duration::from_secs(3600)), BOUNDED_BUCKETS);
    }

    #[test]
    fn quantiles_fall_within_a_bucket_of_the_true_values() {
        let histogram = LatencyHistogram::default();
        // 1..=1000 ms: the true p50 is 500 ms, the p99 990 ms.
        for i in 1..=1000 {
            histogram.observe(ms(f64::from(i)));
        }
        let counts = histogram.counts();
        assert_eq!(counts.total(), 1000);
        let p50 = counts.quantile(0.5).unwrap().as_secs_f64() * 1000.0;
        let p99 = counts.quantile(0.99).unwrap().as_secs_f64() * 1000.0;
        assert!(
            (500.0 / GROWTH..=500.0 * GROWTH).contains(&p50),
            "p50 {p50}"
        );
        assert!(
            (990.0 / GROWTH..=990.0 * GROWTH).contains(&p99),
            "p99 {p99}"
        );
        assert!(p50 < p99);
        assert_eq!(LatencyCounts::default().quantile(0.5), None);
    }

    #[test]
    fn the_counts_since_an_earlier_read_are_the_requests_in_between() {
        let histogram = LatencyHistogram::default();
        for _ in 0..100 {
            histogram.observe(ms(1.0));
        }
        let earlier = histogram.counts();
        for _ in 0..10 {
            histogram.observe(ms(200.0));
        }
        let between = histogram.counts().since(&earlier);
        assert_eq!(between.total(), 10);
        let p50 = between.quantile(0.5).unwrap().as_secs_f64() * 1000.0;
        assert!(
            (200.0 / GROWTH..=200.0 * GROWTH).contains(&p50),
            "p50 {p50}"
        );
        // Counts that started again (a reloaded version) are taken whole.
        let restarted = LatencyHistogram::default();
        restarted.observe(ms(5.0));
        assert_eq!(restarted.counts().since(&earlier).total(), 1);
    }
}
