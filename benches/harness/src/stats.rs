//! What one scenario measured: a latency histogram (HDR, microseconds), successes, errors by
//! cause, and the server's resource use over the scenario.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies above this are clamped (recorded as this value).
const HIGHEST_TRACKED_US: u64 = 120_000_000;

/// Collects the outcome of every request of one scenario.
pub struct Recorder {
    latencies: Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Recorder {
        Recorder {
            latencies: Histogram::new_with_bounds(1, HIGHEST_TRACKED_US, 3)
                .expect("valid histogram bounds"),
            errors: BTreeMap::new(),
        }
    }

    /// Counts an answered request that took `latency`.
    pub fn success(&mut self, latency: Duration) {
        let micros = (latency.as_micros() as u64).clamp(1, HIGHEST_TRACKED_US);
        self.latencies.saturating_record(micros);
    }

    /// Counts a failed request under `cause` ("HTTP 503", "connect", "timeout", ...).
    pub fn error(&mut self, cause: impl Into<String>) {
        *self.errors.entry(cause.into()).or_default() += 1;
    }

    /// Adds `other`'s counts and latencies.
    pub fn merge(&mut self, other: &Recorder) {
        self.latencies
            .add(&other.latencies)
            .expect("histograms with the same bounds");
        for (cause, count) in &other.errors {
            *self.errors.entry(cause.clone()).or_default() += count;
        }
    }

    /// Answered requests.
    pub fn successes(&self) -> u64 {
        self.latencies.len()
    }

    /// Percentiles of the answered requests' latencies.
    pub fn latency(&self) -> LatencySummary {
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            p50_ms: ms(self.latencies.value_at_quantile(0.50)),
            p90_ms: ms(self.latencies.value_at_quantile(0.90)),
            p99_ms: ms(self.latencies.value_at_quantile(0.99)),
            max_ms: ms(self.latencies.max()),
            mean_ms: self.latencies.mean() / 1000.0,
        }
    }

    /// Failed requests by cause.
    pub fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }
}

/// Latency percentiles of the successful requests.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    /// Median, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
}

/// How load was applied.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LoadShape {
    /// A fixed number of clients, each sending its next request when the last one is answered.
    Closed {
        /// Clients.
        concurrency: usize,
    },
    /// Requests sent at a fixed rate whatever the answers do; latency counts from the planned
    /// send time, so queueing shows.
    Open {
        /// Requests sent per second.
        rate_per_s: f64,
    },
}

/// Resource use of the serving process over one scenario, read from /proc.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ProcessUsage {
    /// Peak resident memory, MiB.
    pub peak_rss_mib: f64,
    /// CPU time used, seconds.
    pub cpu_seconds: f64,
}

/// Everything one scenario measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// Unique name, used by ratios: `<target>/<protocol>/<load>`.
    pub name: String,
    /// The server or baseline measured.
    pub target: String,
    /// `binary`, `json`, `camera` or `direct`.
    pub protocol: String,
    /// How load was applied.
    pub load: LoadShape,
    /// Measured seconds.
    pub duration_s: f64,
    /// Answered requests.
    pub successes: u64,
    /// Answered requests per second.
    pub throughput_per_s: f64,
    /// Latency percentiles.
    pub latency: LatencySummary,
    /// Failed requests by cause.
    pub errors: BTreeMap<String, u64>,
    /// The server process's resource use, for servers.
    pub server: Option<ProcessUsage>,
}

impl ScenarioResult {
    /// Summarises a recorder's contents; the name is `<target>/<protocol>/<load>`.
    pub fn from_recorder(
        target: &str,
        protocol: &str,
        load: LoadShape,
        recorder: &Recorder,
        elapsed: Duration,
        server: Option<ProcessUsage>,
    ) -> ScenarioResult {
        let load_name = match load {
            LoadShape::Closed { concurrency } => format!("c{concurrency}"),
            LoadShape::Open { rate_per_s } => format!("rate{rate_per_s:.0}"),
        };
        let seconds = elapsed.as_secs_f64().max(1e-9);
        ScenarioResult {
            name: format!("{target}/{protocol}/{load_name}"),
            target: target.to_string(),
            protocol: protocol.to_string(),
            load,
            duration_s: seconds,
            successes: recorder.successes(),
            throughput_per_s: recorder.successes() as f64 / seconds,
            latency: recorder.latency(),
            errors: recorder.errors().clone(),
            server,
        }
    }

    /// Failed requests, all causes.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// The median of `values` (the mean of the middle two for an even count; NaN for none): the
/// figure the side-by-side programs report over their rounds.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if !n.is_multiple_of(2) => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_results_read_back_from_their_json() {
        let mut recorder = Recorder::new();
        recorder.success(Duration::from_millis(4));
        recorder.error("HTTP 503");
        let result = ScenarioResult::from_recorder(
            "outpost",
            "binary",
            LoadShape::Open { rate_per_s: 120.0 },
            &recorder,
            Duration::from_secs(2),
            Some(ProcessUsage {
                peak_rss_mib: 80.5,
                cpu_seconds: 0.25,
            }),
        );
        let back: ScenarioResult =
            serde_json::from_str(&serde_json::to_string(&result).unwrap()).unwrap();
        assert_eq!(back.name, result.name);
        assert_eq!(back.load, result.load);
        assert_eq!(back.latency, result.latency);
        assert_eq!(back.errors, result.errors);
        assert_eq!(back.server, result.server);
    }

    #[test]
    fn percentiles_and_errors_are_kept() {
        let mut a = Recorder::new();
        for ms in 1..=100 {
            a.success(Duration::from_millis(ms));
        }
        a.error("HTTP 503");
        let mut b = Recorder::new();
        b.error("HTTP 503");
        b.error("timeout");
        a.merge(&b);
        let latency = a.latency();
        assert!((latency.p50_ms - 50.0).abs() < 0.1, "{latency:?}");
        assert!((latency.p99_ms - 99.0).abs() < 0.1, "{latency:?}");
        assert!((latency.max_ms - 100.0).abs() < 0.1, "{latency:?}");
        assert_eq!(a.successes(), 100);
        assert_eq!(a.errors()["HTTP 503"], 2);
        assert_eq!(a.errors()["timeout"], 1);
    }
}
