//! The status page's series: each read of the status takes a sample of every version's counts
//! (requests, failures, latency buckets) when the last sample is at least [`MIN_SPACING`] old,
//! turns the change since the last sample into one point per model (requests and failures per
//! second, the p50/p99 of the requests answered in between) and keeps the points of the last
//! [`WINDOW`]; only the last sample's counts are kept. No timer: while nobody reads, nothing is
//! sampled, and the first read after a pause starts a new series.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{SeriesPoint, VersionCounts};
use crate::latency::LatencyCounts;

/// How far back the series go.
pub(crate) const WINDOW: Duration = Duration::from_secs(300);
/// Samples closer together than this are not taken (two pages open, a fast poll).
const MIN_SPACING: Duration = Duration::from_millis(900);
/// A gap longer than this between samples (nobody looked) starts the series again.
const MAX_GAP: Duration = Duration::from_secs(30);

/// Counts per model and version, as read at one moment.
type Counts = BTreeMap<(String, u64), VersionCounts>;

/// One model's point, with when its interval began (points go once that is out of the window).
struct Point {
    began: Instant,
    model: String,
    point: SeriesPoint,
}

#[derive(Default)]
struct Series {
    /// The last sample: when, and its counts.
    last: Option<(Instant, Counts)>,
    /// Every model's points, oldest first.
    points: VecDeque<Point>,
}

/// The series, and the last sample they continue from.
#[derive(Default)]
pub(crate) struct StatusHistory {
    series: Mutex<Series>,
}

impl StatusHistory {
    /// Takes a sample of `counts` (per model and version) unless the last is too recent, and
    /// answers the series per model.
    pub(crate) fn sample(&self, counts: Counts) -> BTreeMap<String, Vec<SeriesPoint>> {
        self.sample_at(Instant::now(), unix_ms(), counts)
    }

    fn sample_at(
        &self,
        now: Instant,
        now_ms: u64,
        counts: Counts,
    ) -> BTreeMap<String, Vec<SeriesPoint>> {
        let mut series = self
            .series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match series.last.take() {
            Some((at, _)) if now.duration_since(at) > MAX_GAP => {
                series.points.clear();
                series.last = Some((now, counts));
            }
            Some((at, before)) if now.duration_since(at) >= MIN_SPACING => {
                let secs = now.duration_since(at).as_secs_f64();
                for (model, point) in interval(&before, &counts, secs, now_ms) {
                    series.points.push_back(Point {
                        began: at,
                        model,
                        point,
                    });
                }
                series.last = Some((now, counts));
            }
            Some(too_recent) => series.last = Some(too_recent),
            None => series.last = Some((now, counts)),
        }
        while series
            .points
            .front()
            .is_some_and(|p| now.duration_since(p.began) > WINDOW)
        {
            series.points.pop_front();
        }
        let mut by_model: BTreeMap<String, Vec<SeriesPoint>> = BTreeMap::new();
        for Point { model, point, .. } in &series.points {
            by_model
                .entry(model.clone())
                .or_default()
                .push(point.clone());
        }
        by_model
    }
}

/// One point per model for the `secs` between the counts `before` and `after`.
fn interval(
    before: &Counts,
    after: &Counts,
    secs: f64,
    at_ms: u64,
) -> BTreeMap<String, SeriesPoint> {
    let mut totals: BTreeMap<&str, (u64, u64, LatencyCounts)> = BTreeMap::new();
    for ((model, version), now) in after {
        let then = before.get(&(model.clone(), *version));
        let (requests, failures, latency) = match then {
            // Counts that went down belong to a version loaded again: all of it is new.
            Some(then) if now.requests >= then.requests && now.failures >= then.failures => (
                now.requests - then.requests,
                now.failures - then.failures,
                now.latency.since(&then.latency),
            ),
            _ => (now.requests, now.failures, now.latency.clone()),
        };
        let total = totals.entry(model).or_default();
        total.0 += requests;
        total.1 += failures;
        total.2.add(&latency);
    }
    totals
        .into_iter()
        .map(|(model, (requests, failures, latency))| {
            let point = SeriesPoint {
                at_ms,
                secs,
                requests_per_sec: requests as f64 / secs,
                failures_per_sec: failures as f64 / secs,
                p50_ms: latency.quantile(0.5).map(as_ms),
                p99_ms: latency.quantile(0.99).map(as_ms),
            };
            (model.to_string(), point)
        })
        .collect()
}

fn as_ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis().try_into().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::LatencyHistogram;

    fn counts(requests: u64, failures: u64, latency: &LatencyHistogram) -> VersionCounts {
        VersionCounts {
            requests,
            failures,
            latency: latency.counts(),
        }
    }

    fn one(model: &str, version: u64, c: VersionCounts) -> Counts {
        BTreeMap::from([((model.to_string(), version), c)])
    }

    #[test]
    fn the_series_is_the_rate_and_latency_between_samples() {
        let history = StatusHistory::default();
        let latency = LatencyHistogram::default();
        let start = Instant::now();
        let first = history.sample_at(start, 1_000, one("m", 1, counts(0, 0, &latency)));
        assert!(first.is_empty(), "one sample is no interval yet");
        for _ in 0..20 {
            latency.observe(Duration::from_millis(10));
        }
        let second = history.sample_at(
            start + Duration::from_secs(2),
            3_000,
            one("m", 1, counts(20, 2, &latency)),
        );
        let [point] = second["m"].as_slice() else {
            panic!("{:?}", second["m"]);
        };
        assert_eq!(point.at_ms, 3_000);
        assert!((point.requests_per_sec - 10.0).abs() < 1e-9);
        assert!((point.failures_per_sec - 1.0).abs() < 1e-9);
        let p50 = point.p50_ms.unwrap();
        assert!((8.0..=12.5).contains(&p50), "{p50}");
        // Too soon after: no new sample, the same series.
        let again = history.sample_at(
            start + Duration::from_millis(2_100),
            3_100,
            one("m", 1, counts(25, 2, &latency)),
        );
        assert_eq!(again["m"].len(), 1);
    }

    #[test]
    fn a_reloaded_version_and_a_pause_start_again() {
        let history = StatusHistory::default();
        let latency = LatencyHistogram::default();
        let start = Instant::now();
        history.sample_at(start, 0, one("m", 1, counts(100, 0, &latency)));
        // The version was loaded again: its counts start from 0.
        let series = history.sample_at(
            start + Duration::from_secs(1),
            1_000,
            one("m", 1, counts(3, 0, &latency)),
        );
        assert!((series["m"][0].requests_per_sec - 3.0).abs() < 1e-9);
        // Nobody looked for a minute: the old samples go.
        let series = history.sample_at(
            start + Duration::from_secs(61),
            61_000,
            one("m", 1, counts(500, 0, &latency)),
        );
        assert!(series.is_empty(), "{series:?}");
    }

    #[test]
    fn the_window_keeps_only_the_last_minutes() {
        let history = StatusHistory::default();
        let latency = LatencyHistogram::default();
        let start = Instant::now();
        let mut series = BTreeMap::new();
        for second in 0..=400u64 {
            series = history.sample_at(
                start + Duration::from_secs(second),
                second * 1000,
                one("m", 1, counts(second, 0, &latency)),
            );
        }
        let points = &series["m"];
        assert_eq!(points.len() as u64, WINDOW.as_secs());
        assert!(points
            .iter()
            .all(|p| (p.requests_per_sec - 1.0).abs() < 1e-9));
        assert_eq!(points.last().unwrap().at_ms, 400_000);
    }
}
