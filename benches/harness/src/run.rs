//! One harness run: the in-process baseline, then Outpost, then the Python baseline, each
//! through the scenarios of the plan, on the same model, input and thread count.

use std::path::{Path, PathBuf};
use std::time::Duration;

use outpost_core::NamedTensor;
use outpost_testkit::fixtures::write_repository;
use outpost_testkit::TestServer;
use thiserror::Error;

use crate::inprocess::InProcessModel;
use crate::load::{LoadGenerator, RequestTemplate};
use crate::plan::Plan;
use crate::procfs::{resident_kib, UsageSampler};
use crate::python_baseline::{self, PythonServer};
use crate::ratios;
use crate::stats::{LoadShape, ScenarioResult};
use crate::targets::{infer_request, Protocol};

#[derive(Debug, Error)]
pub enum RunError {
    #[error("in-process baseline: {0}")]
    InProcess(#[from] outpost_core::BackendError),
    #[error("outpost: {0}")]
    Outpost(#[from] outpost_testkit::TestServerError),
    #[error(transparent)]
    Python(#[from] python_baseline::PythonBaselineError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What a run is given.
pub struct RunInputs {
    pub repo_root: PathBuf,
    pub outpost_binary: PathBuf,
    pub model_path: PathBuf,
    /// The model's input; renamed to the model's first input.
    pub input: NamedTensor,
    pub plan: Plan,
    pub with_python: bool,
}

/// Resident memory of a server once loaded and warmed, before load.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IdleMemory {
    pub target: String,
    pub idle_rss_mib: f64,
}

/// Everything a run measured.
pub struct RunOutcome {
    pub scenarios: Vec<ScenarioResult>,
    pub idle_memory: Vec<IdleMemory>,
    pub ort_version: String,
    pub python_versions: Option<String>,
}

pub fn run(inputs: &RunInputs) -> Result<RunOutcome, RunError> {
    let plan = &inputs.plan;
    let mut scenarios = Vec::new();
    let mut idle_memory = Vec::new();

    eprintln!("in-process ONNX Runtime baseline");
    let in_process = InProcessModel::load(&inputs.model_path, plan.instances, 1)?;
    let ort_version = in_process.ort_version.clone();
    let input = NamedTensor::new(in_process.input_name(), inputs.input.tensor.clone());
    let output_name = in_process.output_name().to_string();
    let mut thread_counts = vec![1, plan.instances];
    thread_counts.dedup();
    for threads in thread_counts {
        let (recorder, elapsed) =
            in_process.closed_loop(&input, threads, plan.warmup, plan.duration);
        let result = ScenarioResult::from_recorder(
            "in-process",
            "direct",
            LoadShape::Closed {
                concurrency: threads,
            },
            &recorder,
            elapsed,
            None,
        );
        report_progress(&result);
        scenarios.push(result);
    }
    drop(in_process);

    let generator = LoadGenerator::new()?;
    let traffic = Traffic {
        input: &input,
        output_name: &output_name,
        plan,
        generator: &generator,
    };

    eprintln!("outpost");
    let dir = tempfile::tempdir()?;
    let repo = dir.path().join("repo");
    let config = format!(
        "backend = \"ort\"\ninstances = {}\n[threads]\nintra_op = 1\ninter_op = 1\n",
        plan.instances
    );
    write_repository(&repo, &[("bench", &inputs.model_path, &config)]);
    let outpost = TestServer::start(&inputs.outpost_binary, &repo, &["--log-level", "warn"])?;
    let pid = outpost.pid();
    traffic.measure_server(
        "outpost",
        pid,
        &outpost.base_url,
        &mut scenarios,
        &mut idle_memory,
    );
    drop(outpost);

    let mut python_versions = None;
    if inputs.with_python {
        eprintln!("python baseline");
        let python = python_baseline::ensure_environment(&inputs.repo_root)?;
        python_versions = Some(python_baseline::package_versions(&python));
        let server = PythonServer::start(&python, &inputs.repo_root, &inputs.model_path, 1)?;
        traffic.measure_server(
            "python",
            server.pid(),
            &server.base_url,
            &mut scenarios,
            &mut idle_memory,
        );
    }
    Ok(RunOutcome {
        scenarios,
        idle_memory,
        ort_version,
        python_versions,
    })
}

/// The requests and plan every server is measured with.
struct Traffic<'a> {
    input: &'a NamedTensor,
    output_name: &'a str,
    plan: &'a Plan,
    generator: &'a LoadGenerator,
}

impl Traffic<'_> {
    /// Runs the plan's scenarios against one server.
    fn measure_server(
        &self,
        target: &str,
        pid: u32,
        base_url: &str,
        scenarios: &mut Vec<ScenarioResult>,
        idle_memory: &mut Vec<IdleMemory>,
    ) {
        let (plan, generator) = (self.plan, self.generator);
        let request =
            |protocol| infer_request(base_url, "bench", self.input, self.output_name, protocol);
        let binary = request(Protocol::Binary);
        let json = request(Protocol::Json);
        // One answered request first: the idle figure is of a warmed, ready server.
        generator.closed_loop(&binary, 1, Duration::ZERO, Duration::from_millis(1));
        idle_memory.push(IdleMemory {
            target: target.to_string(),
            idle_rss_mib: resident_kib(pid).unwrap_or(0) as f64 / 1024.0,
        });

        let closed = |template: &RequestTemplate, protocol: Protocol, concurrency: usize| {
            let sampler = UsageSampler::start(pid);
            let (recorder, elapsed) =
                generator.closed_loop(template, concurrency, plan.warmup, plan.duration);
            let result = ScenarioResult::from_recorder(
                target,
                protocol.name(),
                LoadShape::Closed { concurrency },
                &recorder,
                elapsed,
                Some(sampler.finish()),
            );
            report_progress(&result);
            result
        };
        for &concurrency in &plan.binary_concurrency {
            scenarios.push(closed(&binary, Protocol::Binary, concurrency));
        }
        for &concurrency in &plan.json_concurrency {
            scenarios.push(closed(&json, Protocol::Json, concurrency));
        }
        let Some(saturation) = ratios::saturation(scenarios, target, Protocol::Binary.name())
        else {
            return;
        };
        for &fraction in &plan.open_loop_fractions {
            let rate = (saturation * fraction).max(1.0);
            let sampler = UsageSampler::start(pid);
            let (recorder, elapsed) = generator.open_loop(&binary, rate, plan.duration);
            let result = ScenarioResult::from_recorder(
                target,
                Protocol::Binary.name(),
                LoadShape::Open { rate_per_s: rate },
                &recorder,
                elapsed,
                Some(sampler.finish()),
            );
            report_progress(&result);
            scenarios.push(result);
        }
    }
}

fn report_progress(result: &ScenarioResult) {
    eprintln!(
        "  {:<34} {:>8.1}/s  p50 {:>8.2} ms  p99 {:>8.2} ms  errors {}",
        result.name,
        result.throughput_per_s,
        result.latency.p50_ms,
        result.latency.p99_ms,
        result.error_count()
    );
}

/// The repository's root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
