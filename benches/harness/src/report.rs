//! The run's report: JSON with every figure, and Markdown with the ratios, the gates, the
//! scenarios and the machine, versions and command that produced them.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::process::Command;

use serde::Serialize;

use crate::gate::GateOutcome;
use crate::plan::Plan;
use crate::run::IdleMemory;
use crate::stats::{LoadShape, ScenarioResult};

/// Where and with what a run was made.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    /// When the run started (UTC).
    pub date_utc: String,
    /// The command line.
    pub command: String,
    /// The commit measured.
    pub git_commit: String,
    /// The CPU model.
    pub cpu: String,
    /// CPUs available.
    pub cores: usize,
    /// Memory of the machine.
    pub memory_gib: f64,
    /// The operating system.
    pub os: String,
    /// The kernel release.
    pub kernel: String,
    /// Outpost's version.
    pub outpost_version: String,
    /// The ONNX Runtime version.
    pub onnx_runtime: String,
    /// The Python baseline's package versions, when it ran.
    pub python_baseline: Option<String>,
    /// The model served.
    pub model: String,
}

impl Environment {
    /// This machine and run, serving `model`.
    pub fn describe(model: &str, onnx_runtime: &str, python: Option<String>) -> Environment {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map_or_else(
                || std::env::consts::ARCH.to_string(),
                |s| s.trim().to_string(),
            );
        let memory_kib: f64 = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let os = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default();
        Environment {
            date_utc: command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            git_commit: command_output("git", &["rev-parse", "--short", "HEAD"]),
            cpu,
            cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            memory_gib: memory_kib / 1024.0 / 1024.0,
            os,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            outpost_version: env!("CARGO_PKG_VERSION").to_string(),
            onnx_runtime: onnx_runtime.to_string(),
            python_baseline: python,
            model: model.to_string(),
        }
    }
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".into(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
}

/// The whole report, as written to `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where and with what.
    pub environment: Environment,
    /// What was planned.
    pub plan: Plan,
    /// Every ratio computed.
    pub ratios: BTreeMap<String, f64>,
    /// What became of each gate.
    pub gates: Vec<GateOutcome>,
    /// Each server's memory before load.
    pub idle_memory: Vec<IdleMemory>,
    /// Every scenario's figures.
    pub scenarios: Vec<ScenarioResult>,
}

/// What each ratio means, for the Markdown report.
fn describe_ratio(name: &str) -> &'static str {
    match name {
        "outpost_binary_vs_inprocess_throughput" => {
            "Outpost (binary tensors) / in-process ONNX Runtime, throughput at saturation"
        }
        "outpost_binary_vs_inprocess_p50" => {
            "Outpost (binary tensors) / in-process ONNX Runtime, p50 latency with one sequential client (lower is better)"
        }
        "outpost_vs_python_binary_throughput" => {
            "Outpost / Python baseline, binary tensors, throughput at saturation"
        }
        "outpost_vs_python_json_throughput" => {
            "Outpost / Python baseline, JSON tensors, throughput at saturation"
        }
        "outpost_camera_vs_binary_throughput" => {
            "Outpost camera endpoint (720p JPEG in, labels out) / binary V2 tensors, same model, throughput at saturation"
        }
        "outpost_json_vs_binary_throughput" => "Outpost JSON / Outpost binary, throughput at saturation",
        "outpost_vs_python_camera_720p_throughput" | "outpost_vs_python_camera_1080p_throughput" => {
            "Outpost camera endpoint / the Python + Pillow peer, the same JPEGs at 4 clients, throughput (median over the photos)"
        }
        "python_vs_outpost_camera_720p_p99" | "python_vs_outpost_camera_1080p_p99" => {
            "the Python + Pillow peer / Outpost camera endpoint, p99 latency at 4 clients (median over the photos; above 1: Outpost's is lower)"
        }
        "inprocess_vs_python_camera_720p_throughput" | "inprocess_vs_python_camera_1080p_throughput" => {
            "the camera path in-process (decode, resize, model; no server, protocol or load generator) / the Python peer, throughput: the most the endpoint could reach against the peer on this machine"
        }
        "outpost_vs_inprocess_camera_720p_throughput" | "outpost_vs_inprocess_camera_1080p_throughput" => {
            "Outpost camera endpoint / the camera path in-process, throughput: how much of that ceiling the server keeps"
        }
        "python_vs_outpost_peak_rss" => {
            "Python baseline / Outpost, peak resident memory under the same fixed-concurrency (closed-loop) load (how many times leaner Outpost is)"
        }
        _ => "",
    }
}

impl Report {
    /// The report as Markdown (`report.md`), linking the plot `plot_file`.
    pub fn markdown(&self, plot_file: &str) -> String {
        let env = &self.environment;
        let mut md = String::new();
        let _ = writeln!(
            md,
            "# Outpost benchmark report ({:?} mode)\n",
            self.plan.mode
        );
        let _ = writeln!(md, "- Date: {}", env.date_utc);
        let _ = writeln!(md, "- Command: `{}`", env.command);
        let _ = writeln!(md, "- Commit: {}", env.git_commit);
        let _ = writeln!(
            md,
            "- Machine: {}, {} cores, {:.1} GiB, {}, Linux {}",
            env.cpu, env.cores, env.memory_gib, env.os, env.kernel
        );
        let _ = writeln!(
            md,
            "- Outpost {}, ONNX Runtime {}",
            env.outpost_version, env.onnx_runtime
        );
        if let Some(python) = &env.python_baseline {
            let _ = writeln!(md, "- Python baseline: {python}");
        }
        let scheduling = match &self.plan.outpost_performance {
            None => "its shipped scheduling default (nothing configured: `performance = \"auto\"`)"
                .to_string(),
            Some(hint) => format!("`performance = \"{hint}\"` (set for this run)"),
        };
        let _ = writeln!(
            md,
            "- Model: {}; Outpost runs {scheduling}; the in-process baseline runs {} session(s) of 1 intra-op thread",
            env.model, self.plan.instances
        );
        let _ = writeln!(
            md,
            "- Each closed-loop scenario: {:.1} s warm-up and {:.0} s measured per target, in {} interleaved slices (the targets take turns, in rotating order, so drift in machine speed hits all alike); each open-loop scenario: {:.0} s; the load generator runs on one thread of the same machine\n",
            self.plan.warmup.as_secs_f64(),
            self.plan.duration.as_secs_f64(),
            self.plan.rounds,
            self.plan.duration.as_secs_f64()
        );

        let _ = writeln!(
            md,
            "## Ratios\n\n| ratio | value | meaning |\n|---|---|---|"
        );
        for (name, value) in &self.ratios {
            let _ = writeln!(md, "| `{name}` | {value:.3} | {} |", describe_ratio(name));
        }
        if !self.gates.is_empty() {
            let _ = writeln!(md, "\n## Gates\n\n| ratio | floor | ceiling | measured | result |\n|---|---|---|---|---|");
            for gate in &self.gates {
                let bound = |b: Option<f64>| b.map_or("-".to_string(), |v| format!("{v}"));
                let _ = writeln!(
                    md,
                    "| `{}` | {} | {} | {} | {} |",
                    gate.ratio,
                    bound(gate.floor),
                    bound(gate.ceiling),
                    gate.measured.map_or("-".into(), |v| format!("{v:.3}")),
                    if gate.passed {
                        "pass".to_string()
                    } else {
                        format!("FAIL: {}", gate.reason)
                    }
                );
            }
        }
        let _ = writeln!(
            md,
            "\n## Memory\n\nPeak RSS at fixed concurrency is over the closed-loop scenarios; the open-loop peak includes the arrival rates past saturation, where requests queue in the server.\n\n| server | idle RSS (MiB) | peak RSS, fixed concurrency (MiB) | peak RSS, open loop incl. overload (MiB) |\n|---|---|---|---|"
        );
        let peak = |target: &str, open: bool| {
            crate::ratios::peak_rss(&self.scenarios, target, open)
                .map_or("-".into(), |v| format!("{v:.1}"))
        };
        for idle in &self.idle_memory {
            let _ = writeln!(
                md,
                "| {} | {:.1} | {} | {} |",
                idle.target,
                idle.idle_rss_mib,
                peak(&idle.target, false),
                peak(&idle.target, true)
            );
        }
        let _ = writeln!(md, "\n## Scenarios\n\n| scenario | load | throughput (/s) | p50 ms | p90 ms | p99 ms | max ms | errors | server CPU ms/request | server peak RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|");
        for s in &self.scenarios {
            let load = match s.load {
                LoadShape::Closed { concurrency } => format!("{concurrency} clients"),
                LoadShape::Open { rate_per_s } => format!("{rate_per_s:.1}/s offered"),
            };
            let errors = if s.errors.is_empty() {
                "0".to_string()
            } else {
                s.errors
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let (cpu, rss) = match s.server {
                Some(u) if s.successes > 0 => (
                    format!("{:.2}", u.cpu_seconds * 1000.0 / s.successes as f64),
                    format!("{:.1}", u.peak_rss_mib),
                ),
                Some(u) => ("-".into(), format!("{:.1}", u.peak_rss_mib)),
                None => ("-".into(), "-".into()),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
                s.name,
                load,
                s.throughput_per_s,
                s.latency.p50_ms,
                s.latency.p90_ms,
                s.latency.p99_ms,
                s.latency.max_ms,
                errors,
                cpu,
                rss
            );
        }
        let _ = writeln!(
            md,
            "\n## Latency against throughput (open loop)\n\n![latency vs throughput]({plot_file})"
        );
        md
    }
}
