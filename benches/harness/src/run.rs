//! One harness run: the in-process baseline, Outpost and the Python baseline, all loaded at
//! once, through the scenarios of the plan on the same model, input and thread count. Each
//! closed-loop scenario is measured in interleaved slices across the targets, so that the ratios
//! compare them under the same machine conditions.

use std::path::{Path, PathBuf};
use std::time::Duration;

use outpost_core::NamedTensor;
use outpost_testkit::fixtures::write_repository;
use outpost_testkit::TestServer;
use thiserror::Error;

use crate::inprocess::{InProcessCamera, InProcessModel};
use crate::load::{LoadGenerator, RequestTemplate};
use crate::photos;
use crate::plan::Plan;
use crate::procfs::{resident_kib, UsageSampler};
use crate::python_baseline::{self, PythonServer};
use crate::ratios;
use crate::stats::{LoadShape, ProcessUsage, Recorder, ScenarioResult};
use crate::targets::{camera_request, infer_request, page_request, Protocol};

/// Why a run could not be made.
#[derive(Debug, Error)]
pub enum RunError {
    /// The in-process baseline could not load the model.
    #[error("in-process baseline: {0}")]
    InProcess(#[from] outpost_core::BackendError),
    /// Outpost did not start.
    #[error("outpost: {0}")]
    Outpost(#[from] outpost_testkit::TestServerError),
    /// The Python baseline did not start.
    #[error(transparent)]
    Python(#[from] python_baseline::PythonBaselineError),
    /// The camera scenario's inputs could not be used.
    #[error("camera scenario: {0}")]
    Camera(String),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What a run is given.
pub struct RunInputs {
    /// The repository, where the Python baseline lives.
    pub repo_root: PathBuf,
    /// The `outpost` binary measured.
    pub outpost_binary: PathBuf,
    /// The model served.
    pub model_path: PathBuf,
    /// The model's input; renamed to the model's first input.
    pub input: NamedTensor,
    /// What to measure.
    pub plan: Plan,
    /// Whether to run the Python baseline.
    pub with_python: bool,
    /// What the camera scenario sends.
    pub camera: CameraInputs,
}

/// What the camera scenario sends: an encoded image, to the same model declared with the image
/// processing of a `model.toml`.
pub struct CameraInputs {
    /// The `[preprocess]` and `[postprocess]` sections, as TOML.
    pub sections: String,
    /// The encoded image.
    pub image: Vec<u8>,
}

impl CameraInputs {
    /// The image sections of `config` and the bytes of `image`.
    pub fn read(config: &Path, image: &Path) -> Result<CameraInputs, RunError> {
        let text = std::fs::read_to_string(config)?;
        let table: toml::Table = text
            .parse()
            .map_err(|e| RunError::Camera(format!("{}: {e}", config.display())))?;
        let mut sections = toml::Table::new();
        for key in ["preprocess", "postprocess"] {
            let value = table.get(key).ok_or_else(|| {
                RunError::Camera(format!("{} has no [{key}] section", config.display()))
            })?;
            sections.insert(key.to_string(), value.clone());
        }
        Ok(CameraInputs {
            sections: toml::to_string(&sections).map_err(|e| RunError::Camera(e.to_string()))?,
            image: std::fs::read(image)?,
        })
    }
}

/// Resident memory of a server once loaded and warmed, before load.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IdleMemory {
    /// The server.
    pub target: String,
    /// Its resident memory, MiB.
    pub idle_rss_mib: f64,
}

/// Everything a run measured.
pub struct RunOutcome {
    /// Every scenario's figures.
    pub scenarios: Vec<ScenarioResult>,
    /// Each server's memory before load.
    pub idle_memory: Vec<IdleMemory>,
    /// The ONNX Runtime version.
    pub ort_version: String,
    /// The Python baseline's package versions, when it ran.
    pub python_versions: Option<String>,
}

/// Starts the servers and the in-process baseline, and measures every scenario of the plan.
pub fn run(inputs: &RunInputs) -> Result<RunOutcome, RunError> {
    let plan = &inputs.plan;

    eprintln!(
        "starting: in-process ONNX Runtime, outpost{}",
        if inputs.with_python {
            ", python baseline"
        } else {
            ""
        }
    );
    let in_process = InProcessModel::load(&inputs.model_path, plan.instances, 1)?;
    let ort_version = in_process.ort_version.clone();
    let input = NamedTensor::new(in_process.input_name(), inputs.input.tensor.clone());
    let output_name = in_process.output_name().to_string();

    let dir = tempfile::tempdir()?;
    let repo = dir.path().join("repo");
    // What users get: nothing about scheduling, unless the run names a `performance`.
    let performance = plan
        .outpost_performance
        .as_ref()
        .map(|hint| format!("performance = \"{hint}\"\n"))
        .unwrap_or_default();
    let config = format!(
        "backend = \"ort\"\n{performance}\n{}",
        inputs.camera.sections
    );
    write_repository(&repo, &[("bench", &inputs.model_path, &config)]);
    let outpost = TestServer::start(&inputs.outpost_binary, &repo, &["--log-level", "warn"])?;
    let python = if inputs.with_python {
        let venv_python = python_baseline::ensure_environment(&inputs.repo_root)?;
        let versions = python_baseline::package_versions(&venv_python);
        let camera_config = dir.path().join("camera.toml");
        std::fs::write(&camera_config, &inputs.camera.sections)?;
        let server = PythonServer::start(
            &venv_python,
            &inputs.repo_root,
            &inputs.model_path,
            1,
            Some(&camera_config),
        )?;
        Some((server, versions))
    } else {
        None
    };

    let generator = LoadGenerator::new()?;
    let mut targets = vec![Target::InProcess {
        model: &in_process,
        input: &input,
    }];
    let mut servers = vec![("outpost", outpost.pid(), outpost.base_url.clone())];
    if let Some((server, _)) = &python {
        servers.push(("python", server.pid(), server.base_url.clone()));
    }
    for (name, pid, base_url) in servers {
        let request = |protocol| infer_request(&base_url, "bench", &input, &output_name, protocol);
        targets.push(Target::Server {
            name,
            pid,
            binary: Box::new(request(Protocol::Binary)),
            json: Box::new(request(Protocol::Json)),
        });
    }

    // Idle memory of each server, warmed by one answered request.
    let mut idle_memory = Vec::new();
    for target in &targets {
        if let Target::Server {
            name, pid, binary, ..
        } = target
        {
            generator.closed_loop(binary, 1, Duration::ZERO, Duration::from_millis(1));
            idle_memory.push(IdleMemory {
                target: name.to_string(),
                idle_rss_mib: resident_kib(*pid).unwrap_or(0) as f64 / 1024.0,
            });
        }
    }

    let session = Session {
        plan,
        generator: &generator,
    };
    let mut scenarios = Vec::new();
    for &concurrency in &plan.binary_concurrency {
        scenarios.extend(session.closed(&targets, Protocol::Binary, concurrency));
    }
    for &concurrency in &plan.json_concurrency {
        scenarios.extend(session.closed(&targets, Protocol::Json, concurrency));
    }
    let camera = camera_request(&outpost.base_url, "bench", &inputs.camera.image);
    let binary = infer_request(
        &outpost.base_url,
        "bench",
        &input,
        &output_name,
        Protocol::Binary,
    );
    let most_clients = plan.binary_concurrency.iter().copied().max().unwrap_or(1);
    scenarios.extend(session.camera_against_binary(outpost.pid(), &camera, &binary, most_clients));
    // The status page's own requests, one client each: the page, and its figures (each read
    // takes a sample of the series, as an open page's poll does every two seconds).
    for (protocol, path) in [("status_page", "/"), ("status_data", "/status/data")] {
        let request = page_request(&outpost.base_url, path);
        scenarios.push(session.page(outpost.pid(), protocol, &request));
    }
    if let Some((server, _)) = &python {
        let photos = photos::make(&inputs.repo_root.join("tests/fixtures/images"))
            .map_err(|e| RunError::Camera(e.to_string()))?;
        let in_process_camera = in_process
            .camera(&inputs.camera.sections)
            .map_err(RunError::Camera)?;
        for photo in &photos {
            let protocol = format!("camera_{}", photo.name);
            let sides = [
                Side {
                    target: "outpost",
                    driver: Driver::Server {
                        pid: outpost.pid(),
                        request: camera_request(&outpost.base_url, "bench", &photo.jpeg),
                    },
                },
                Side {
                    target: "python",
                    driver: Driver::Server {
                        pid: server.pid(),
                        request: camera_request(&server.base_url, "bench", &photo.jpeg),
                    },
                },
                Side {
                    target: "in-process",
                    driver: Driver::InProcess {
                        camera: &in_process_camera,
                        image: &photo.jpeg,
                        threads: plan.instances,
                    },
                },
            ];
            scenarios.extend(session.interleaved(&protocol, &sides, CAMERA_CLIENTS));
        }
    }
    let saturations: Vec<Option<f64>> = targets
        .iter()
        .map(|t| ratios::saturation(&scenarios, t.name(), Protocol::Binary.name()))
        .collect();
    for &fraction in &plan.open_loop_fractions {
        for (target, saturation) in targets.iter().zip(&saturations) {
            if let (Target::Server { .. }, Some(saturation)) = (target, saturation) {
                let rate = (saturation * fraction).max(1.0);
                let result = session.open(target, rate);
                report_progress(&result);
                scenarios.push(result);
            }
        }
    }
    drop(outpost);
    Ok(RunOutcome {
        scenarios,
        idle_memory,
        ort_version,
        python_versions: python.map(|(_, versions)| versions),
    })
}

/// Clients of the camera benchmark against the Python peer.
const CAMERA_CLIENTS: usize = 4;

/// One side of an interleaved comparison: its name in the results and how its load is made.
#[derive(Clone)]
struct Side<'a> {
    target: &'static str,
    driver: Driver<'a>,
}

/// How a side's slices are driven.
#[derive(Clone)]
enum Driver<'a> {
    /// The load generator sends `request` to the server process `pid`.
    Server { pid: u32, request: RequestTemplate },
    /// `threads` threads answer `image` through the camera path in this process.
    InProcess {
        camera: &'a InProcessCamera,
        image: &'a [u8],
        threads: usize,
    },
}

/// Something the load is measured against.
enum Target<'a> {
    /// ONNX Runtime called directly from plain threads (no protocol; its scenarios are named
    /// `direct`).
    InProcess {
        model: &'a InProcessModel,
        input: &'a NamedTensor,
    },
    /// A server process, driven over HTTP.
    Server {
        name: &'static str,
        pid: u32,
        binary: Box<RequestTemplate>,
        json: Box<RequestTemplate>,
    },
}

impl Target<'_> {
    fn name(&self) -> &str {
        match self {
            Target::InProcess { .. } => "in-process",
            Target::Server { name, .. } => name,
        }
    }
}

/// What one target measured over the slices of a scenario.
struct Accumulated {
    recorder: Recorder,
    elapsed: Duration,
    usage: Option<ProcessUsage>,
}

impl Accumulated {
    fn new() -> Accumulated {
        Accumulated {
            recorder: Recorder::new(),
            elapsed: Duration::ZERO,
            usage: None,
        }
    }

    /// Adds one slice: its latencies, its length, and its process usage (peak of the peaks, sum
    /// of the CPU time).
    fn add(&mut self, recorder: &Recorder, elapsed: Duration, usage: Option<ProcessUsage>) {
        self.recorder.merge(recorder);
        self.elapsed += elapsed;
        self.usage = match (self.usage, usage) {
            (Some(seen), Some(now)) => Some(ProcessUsage {
                peak_rss_mib: seen.peak_rss_mib.max(now.peak_rss_mib),
                cpu_seconds: seen.cpu_seconds + now.cpu_seconds,
            }),
            (seen, now) => seen.or(now),
        };
    }
}

/// Runs scenarios by the plan.
struct Session<'a> {
    plan: &'a Plan,
    generator: &'a LoadGenerator,
}

impl Session<'_> {
    /// One closed-loop scenario for every target that takes part, measured in interleaved
    /// slices (`plan.rounds` rounds, the order rotating each round) so that a change in the
    /// machine's speed during the run hits every target alike. The in-process baseline takes part
    /// in the binary scenarios with one client (one thread) and with the most clients (one
    /// thread per session, its saturation).
    fn closed(
        &self,
        targets: &[Target<'_>],
        protocol: Protocol,
        concurrency: usize,
    ) -> Vec<ScenarioResult> {
        let plan = self.plan;
        let most_clients = plan.binary_concurrency.iter().copied().max().unwrap_or(1);
        let in_process_threads = if concurrency == 1 { 1 } else { plan.instances };
        let takes_part = |target: &Target<'_>| match target {
            Target::InProcess { .. } => {
                protocol == Protocol::Binary && (concurrency == 1 || concurrency == most_clients)
            }
            Target::Server { .. } => true,
        };
        let participants: Vec<&Target<'_>> = targets.iter().filter(|t| takes_part(t)).collect();
        let rounds = plan.rounds.max(1);
        let slice = plan.duration / rounds as u32;
        let warmup = plan.warmup / rounds as u32;
        let mut totals: Vec<Accumulated> =
            participants.iter().map(|_| Accumulated::new()).collect();
        for round in 0..rounds {
            for step in 0..participants.len() {
                let index = (step + round) % participants.len();
                let clients = match participants[index] {
                    Target::InProcess { .. } => in_process_threads,
                    Target::Server { .. } => concurrency,
                };
                let (recorder, elapsed, usage) =
                    self.closed_slice(participants[index], protocol, clients, warmup, slice);
                totals[index].add(&recorder, elapsed, usage);
            }
        }
        participants
            .iter()
            .zip(totals)
            .map(|(target, total)| {
                let (protocol_name, clients) = match target {
                    Target::InProcess { .. } => ("direct", in_process_threads),
                    Target::Server { .. } => (protocol.name(), concurrency),
                };
                let result = ScenarioResult::from_recorder(
                    target.name(),
                    protocol_name,
                    LoadShape::Closed {
                        concurrency: clients,
                    },
                    &total.recorder,
                    total.elapsed,
                    total.usage,
                );
                report_progress(&result);
                result
            })
            .collect()
    }

    fn closed_slice(
        &self,
        target: &Target<'_>,
        protocol: Protocol,
        concurrency: usize,
        warmup: Duration,
        length: Duration,
    ) -> (Recorder, Duration, Option<ProcessUsage>) {
        match target {
            Target::InProcess { model, input } => {
                let (recorder, elapsed) = model.closed_loop(input, concurrency, warmup, length);
                (recorder, elapsed, None)
            }
            Target::Server {
                pid, binary, json, ..
            } => {
                let template = match protocol {
                    Protocol::Binary => binary,
                    Protocol::Json => json,
                };
                let (recorder, elapsed, usage) =
                    self.generator
                        .closed_loop_sampled(template, concurrency, warmup, length, *pid);
                (recorder, elapsed, Some(usage))
            }
        }
    }

    /// The camera endpoint against binary V2 requests for the same model on the same server, at
    /// saturation, in interleaved slices. Results: `outpost/camera/cN` and
    /// `outpost/binary_paired/cN`.
    /// One client asking for `request` back to back: the status page's requests.
    fn page(&self, pid: u32, protocol: &str, request: &RequestTemplate) -> ScenarioResult {
        let rounds = self.plan.rounds.max(1) as u32;
        let (recorder, elapsed, usage) = self.generator.closed_loop_sampled(
            request,
            1,
            self.plan.warmup / rounds,
            self.plan.duration / rounds,
            pid,
        );
        let result = ScenarioResult::from_recorder(
            "outpost",
            protocol,
            LoadShape::Closed { concurrency: 1 },
            &recorder,
            elapsed,
            Some(usage),
        );
        report_progress(&result);
        result
    }

    fn camera_against_binary(
        &self,
        pid: u32,
        camera: &RequestTemplate,
        binary: &RequestTemplate,
        concurrency: usize,
    ) -> Vec<ScenarioResult> {
        let sides = [
            (
                "camera",
                Side {
                    target: "outpost",
                    driver: Driver::Server {
                        pid,
                        request: camera.clone(),
                    },
                },
            ),
            (
                "binary_paired",
                Side {
                    target: "outpost",
                    driver: Driver::Server {
                        pid,
                        request: binary.clone(),
                    },
                },
            ),
        ];
        self.interleaved_sides(&sides, concurrency)
    }

    /// The same requests of `protocol` to several servers (and the in-process path), in
    /// interleaved slices at `concurrency` clients (in-process: its threads). Results:
    /// `<target>/<protocol>/cN` for each side.
    fn interleaved(
        &self,
        protocol: &str,
        sides: &[Side<'_>],
        concurrency: usize,
    ) -> Vec<ScenarioResult> {
        let named: Vec<(&str, Side<'_>)> =
            sides.iter().map(|side| (protocol, side.clone())).collect();
        self.interleaved_sides(&named, concurrency)
    }

    /// Each side's requests in turn, slice by slice (the order rotating every round), so drift in
    /// the machine's speed hits every side alike.
    fn interleaved_sides(
        &self,
        sides: &[(&str, Side<'_>)],
        concurrency: usize,
    ) -> Vec<ScenarioResult> {
        let rounds = self.plan.rounds.max(1);
        let slice = self.plan.duration / rounds as u32;
        let warmup = self.plan.warmup / rounds as u32;
        let mut totals: Vec<Accumulated> = sides.iter().map(|_| Accumulated::new()).collect();
        for round in 0..rounds {
            for step in 0..sides.len() {
                let index = (step + round) % sides.len();
                let (recorder, elapsed, usage) = match &sides[index].1.driver {
                    Driver::Server { pid, request } => {
                        let (recorder, elapsed, usage) = self.generator.closed_loop_sampled(
                            request,
                            concurrency,
                            warmup,
                            slice,
                            *pid,
                        );
                        (recorder, elapsed, Some(usage))
                    }
                    Driver::InProcess {
                        camera,
                        image,
                        threads,
                    } => {
                        let (recorder, elapsed) =
                            camera.closed_loop(image, *threads, warmup, slice);
                        (recorder, elapsed, None)
                    }
                };
                totals[index].add(&recorder, elapsed, usage);
            }
        }
        sides
            .iter()
            .zip(totals)
            .map(|((protocol, side), total)| {
                let clients = match side.driver {
                    Driver::Server { .. } => concurrency,
                    Driver::InProcess { threads, .. } => threads,
                };
                let result = ScenarioResult::from_recorder(
                    side.target,
                    protocol,
                    LoadShape::Closed {
                        concurrency: clients,
                    },
                    &total.recorder,
                    total.elapsed,
                    total.usage,
                );
                report_progress(&result);
                result
            })
            .collect()
    }

    /// One open-loop scenario (binary tensors at `rate` per second) against a server.
    fn open(&self, target: &Target<'_>, rate: f64) -> ScenarioResult {
        let Target::Server {
            name, pid, binary, ..
        } = target
        else {
            unreachable!("open-loop scenarios run against servers");
        };
        let sampler = UsageSampler::start(*pid);
        let (recorder, elapsed) = self.generator.open_loop(binary, rate, self.plan.duration);
        ScenarioResult::from_recorder(
            name,
            Protocol::Binary.name(),
            LoadShape::Open { rate_per_s: rate },
            &recorder,
            elapsed,
            Some(sampler.finish()),
        )
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

/// The repository's root (`outpost_testkit::fixtures::repo_root`: `OUTPOST_REPO_ROOT`, else the
/// tree this was built from).
pub fn repo_root() -> PathBuf {
    outpost_testkit::fixtures::repo_root()
}

/// The model the benchmarks run by default: the bundled MobileNetV2 int8.
pub fn default_model(root: &Path) -> PathBuf {
    root.join("models/mobilenet_v2_int8/1/model.onnx")
}

/// The default model's reference input (an ONNX TensorProto file).
pub fn default_input(root: &Path) -> PathBuf {
    root.join(
        "tests/fixtures/models/mobilenet_v2_1.0_224_int8_qdq.test_data/test_data_set_0/input_0.pb",
    )
}

/// Reads an input tensor file (ONNX TensorProto) as the named tensor it holds.
pub fn read_input(path: &Path) -> Result<NamedTensor, String> {
    let (name, tensor) = outpost_testkit::read_tensor_file(path)
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    Ok(NamedTensor::new(name, tensor))
}

/// The `outpost` binary to measure: `given`, else `$OUTPOST_BIN`, else
/// `target/release/outpost`; an error saying how to build it when it does not exist.
pub fn outpost_binary(root: &Path, given: Option<PathBuf>) -> Result<PathBuf, String> {
    let binary = given
        .or_else(|| std::env::var_os("OUTPOST_BIN").map(PathBuf::from))
        .unwrap_or_else(|| root.join("target/release/outpost"));
    if binary.exists() {
        Ok(binary)
    } else {
        Err(format!(
            "{} does not exist: build it with `cargo build --release`",
            binary.display()
        ))
    }
}
