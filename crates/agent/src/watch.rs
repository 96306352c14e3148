//! Watching a promoted version through the server's Prometheus text: per model version, the
//! requests that succeeded and failed (`outpost_inference_requests_total`) and the latency
//! histogram of successful ones (`outpost_inference_request_duration_seconds`), summed over
//! protocols and endpoints. The new version's figures since promotion are judged against the
//! previous version's: its share of failed requests, and its p99 latency (estimated from the
//! histogram as Prometheus' `histogram_quantile` does).

use std::collections::BTreeMap;

/// One version's counts, as read at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VersionFigures {
    /// Successful requests.
    pub success: u64,
    /// Failed requests.
    pub failure: u64,
    /// Cumulative latency buckets: upper bound (seconds) to count, `+Inf` last.
    pub buckets: BTreeMap<OrderedBound, u64>,
}

/// A bucket's upper bound, ordered (`+Inf` is the largest).
#[derive(Debug, Clone, Copy)]
pub struct OrderedBound(pub f64);

impl PartialEq for OrderedBound {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for OrderedBound {}

impl PartialOrd for OrderedBound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedBound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The value of `name="..."` in a label set.
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &labels[start..];
    Some(&rest[..rest.find('"')?])
}

impl VersionFigures {
    /// The figures of `version` of `model` in Prometheus text `text`.
    pub fn read(text: &str, model: &str, version: u64) -> VersionFigures {
        let version = version.to_string();
        let mut figures = VersionFigures::default();
        for line in text.lines() {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Some((name, labels)) = series.split_once('{') else {
                continue;
            };
            if label(labels, "model") != Some(model) || label(labels, "version") != Some(&version) {
                continue;
            }
            let Ok(value) = value.trim().parse::<f64>() else {
                continue;
            };
            let count = value as u64;
            match name {
                "outpost_inference_requests_total" => match label(labels, "status") {
                    Some("success") => figures.success += count,
                    Some("failure") => figures.failure += count,
                    _ => {}
                },
                "outpost_inference_request_duration_seconds_bucket" => {
                    let bound = match label(labels, "le") {
                        Some("+Inf") => f64::INFINITY,
                        Some(le) => match le.parse() {
                            Ok(b) => b,
                            Err(_) => continue,
                        },
                        None => continue,
                    };
                    *figures.buckets.entry(OrderedBound(bound)).or_default() += count;
                }
                _ => {}
            }
        }
        figures
    }

    /// What happened between `earlier` and `self` (counts never go back within one server
    /// process; a restarted server starts again from zero, so a drop counts from zero).
    pub fn since(&self, earlier: &VersionFigures) -> VersionFigures {
        let restarted = self.success < earlier.success || self.failure < earlier.failure;
        if restarted {
            return self.clone();
        }
        VersionFigures {
            success: self.success - earlier.success,
            failure: self.failure - earlier.failure,
            buckets: self
                .buckets
                .iter()
                .map(|(b, n)| (*b, n.saturating_sub(*earlier.buckets.get(b).unwrap_or(&0))))
                .collect(),
        }
    }

    /// Requests answered, successful or not.
    pub fn requests(&self) -> u64 {
        self.success + self.failure
    }

    /// Failed share of requests, 0 without requests.
    pub fn error_rate(&self) -> f64 {
        if self.requests() == 0 {
            0.0
        } else {
            self.failure as f64 / self.requests() as f64
        }
    }

    /// The `q` quantile of latency in seconds, interpolated within its bucket; `None`
    /// without successful requests.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = *self.buckets.get(&OrderedBound(f64::INFINITY))?;
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let mut lower = 0.0;
        let mut below = 0u64;
        for (bound, count) in &self.buckets {
            if *count as f64 >= rank {
                if bound.0.is_infinite() {
                    return Some(lower);
                }
                let inside = (*count - below) as f64;
                let fraction = if inside > 0.0 {
                    (rank - below as f64) / inside
                } else {
                    1.0
                };
                return Some(lower + (bound.0 - lower) * fraction);
            }
            lower = bound.0;
            below = *count;
        }
        Some(lower)
    }
}

/// The bounds a watched version must stay within.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatchBounds {
    /// Requests needed before judging.
    pub min_requests: u64,
    /// Largest rise in failed share, percentage points.
    pub max_error_rate_increase_percent: f64,
    /// Largest rise in p99 latency, percent.
    pub max_p99_increase_percent: f64,
}

/// A judgement of the new version's figures since promotion against the previous version's.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Too few requests to judge yet.
    TooFewRequests(u64),
    /// Within bounds.
    Healthy,
    /// Worse than allowed, and how.
    Worse(String),
}

/// Judges `new` (since promotion) against `previous` (its figures while it served).
pub fn judge(new: &VersionFigures, previous: &VersionFigures, bounds: &WatchBounds) -> Verdict {
    if new.requests() < bounds.min_requests {
        return Verdict::TooFewRequests(new.requests());
    }
    let (new_rate, old_rate) = (new.error_rate() * 100.0, previous.error_rate() * 100.0);
    if new_rate - old_rate > bounds.max_error_rate_increase_percent {
        return Verdict::Worse(format!(
            "{new_rate:.1} % of its {} requests failed, against {old_rate:.1} % for the previous version (bound: +{} points)",
            new.requests(),
            bounds.max_error_rate_increase_percent
        ));
    }
    if previous.success >= bounds.min_requests && new.success >= bounds.min_requests {
        if let (Some(new_p99), Some(old_p99)) = (new.quantile(0.99), previous.quantile(0.99)) {
            if new_p99 > old_p99 * (1.0 + bounds.max_p99_increase_percent / 100.0) {
                return Verdict::Worse(format!(
                    "p99 latency {:.1} ms, against {:.1} ms for the previous version (bound: +{} %)",
                    new_p99 * 1e3,
                    old_p99 * 1e3,
                    bounds.max_p99_increase_percent
                ));
            }
        }
    }
    Verdict::Healthy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(version: u64, success: u64, failure: u64, buckets: &[(&str, u64)]) -> String {
        let mut out = String::new();
        for (status, n) in [("success", success), ("failure", failure)] {
            out += &format!("outpost_inference_requests_total{{model=\"m\",version=\"{version}\",protocol=\"http\",endpoint=\"infer\",status=\"{status}\"}} {n}\n");
        }
        for (le, n) in buckets {
            out += &format!("outpost_inference_request_duration_seconds_bucket{{model=\"m\",version=\"{version}\",protocol=\"http\",endpoint=\"infer\",le=\"{le}\"}} {n}\n");
        }
        out += "outpost_inference_requests_total{model=\"other\",version=\"1\",protocol=\"http\",endpoint=\"infer\",status=\"failure\"} 99\n";
        out
    }

    #[test]
    fn reads_counts_and_estimates_quantiles() {
        let figures = VersionFigures::read(
            &text(2, 100, 3, &[("0.001", 50), ("0.002", 99), ("+Inf", 100)]),
            "m",
            2,
        );
        assert_eq!((figures.success, figures.failure), (100, 3));
        let p50 = figures.quantile(0.5).unwrap();
        assert!((p50 - 0.001).abs() < 1e-9, "{p50}");
        let p99 = figures.quantile(0.99).unwrap();
        assert!((p99 - 0.002).abs() < 1e-9, "{p99}");
        assert_eq!(
            VersionFigures::read(&text(2, 1, 1, &[]), "m", 3),
            VersionFigures::default()
        );
    }

    #[test]
    fn judges_error_rate_and_latency() {
        let bounds = WatchBounds {
            min_requests: 20,
            max_error_rate_increase_percent: 2.0,
            max_p99_increase_percent: 50.0,
        };
        let old = VersionFigures::read(
            &text(
                1,
                1000,
                0,
                &[("0.004", 990), ("0.008", 1000), ("+Inf", 1000)],
            ),
            "m",
            1,
        );
        let at = |s, f, b: &[(&str, u64)]| VersionFigures::read(&text(2, s, f, b), "m", 2);
        assert_eq!(
            judge(&at(5, 5, &[]), &old, &bounds),
            Verdict::TooFewRequests(10)
        );
        assert!(
            matches!(judge(&at(50, 10, &[("+Inf", 50)]), &old, &bounds), Verdict::Worse(w) if w.contains("failed"))
        );
        let slow = at(
            100,
            0,
            &[
                ("0.004", 0),
                ("0.008", 0),
                ("0.016", 0),
                ("0.032", 100),
                ("+Inf", 100),
            ],
        );
        assert!(matches!(judge(&slow, &old, &bounds), Verdict::Worse(w) if w.contains("p99")));
        let same = at(100, 0, &[("0.004", 99), ("0.008", 100), ("+Inf", 100)]);
        assert_eq!(judge(&same, &old, &bounds), Verdict::Healthy);
        let later = at(150, 0, &[("0.004", 149), ("0.008", 150), ("+Inf", 150)]);
        assert_eq!(later.since(&same).success, 50);
    }
}
