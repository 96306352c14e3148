//! What each mode runs: `smoke` (CI, a couple of minutes) and `full` (the committed report).

use std::time::Duration;

use serde::Serialize;

/// How long and how widely a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Short runs with gates enforced (CI).
    Smoke,
    /// Longer runs at more load points (the committed report).
    Full,
}

/// Durations, client counts and arrival rates of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The mode.
    pub mode: Mode,
    /// Warm-up before each scenario is measured.
    pub warmup: Duration,
    /// Measured time per scenario.
    pub duration: Duration,
    /// Closed-loop scenarios are measured in this many interleaved slices per target (each with
    /// its share of the warm-up and of the duration).
    pub rounds: usize,
    /// Client counts for closed-loop runs against the servers with binary tensors.
    pub binary_concurrency: Vec<usize>,
    /// Client counts for the (slower) JSON runs.
    pub json_concurrency: Vec<usize>,
    /// Open-loop arrival rates, as fractions of each server's own saturation throughput.
    pub open_loop_fractions: Vec<f64>,
    /// Sessions the in-process baseline runs (each with one intra-op thread).
    pub instances: usize,
    /// `performance` in the model.toml Outpost serves; `None`: the shipped default, nothing
    /// about scheduling configured.
    pub outpost_performance: Option<String>,
}

impl Plan {
    /// The plan of `mode` on a machine with `cores` CPUs.
    pub fn for_mode(mode: Mode, cores: usize) -> Plan {
        let instances = cores.max(1);
        match mode {
            Mode::Smoke => Plan {
                mode,
                warmup: Duration::from_millis(500),
                duration: Duration::from_secs(3),
                rounds: 3,
                binary_concurrency: vec![1, 2 * instances],
                json_concurrency: vec![2 * instances],
                open_loop_fractions: vec![0.5, 0.9],
                instances,
                outpost_performance: None,
            },
            Mode::Full => Plan {
                mode,
                warmup: Duration::from_secs(2),
                duration: Duration::from_secs(15),
                rounds: 5,
                binary_concurrency: vec![1, instances, 2 * instances, 4 * instances],
                json_concurrency: vec![1, 2 * instances],
                open_loop_fractions: vec![0.25, 0.5, 0.7, 0.85, 0.95, 1.05],
                instances,
                outpost_performance: None,
            },
        }
    }
}
