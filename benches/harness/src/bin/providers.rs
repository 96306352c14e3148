//! `outpost-bench-providers`: ONNX Runtime's execution providers side by side, per fixture
//! model, in one run; with `--check-references`, also whether each provider reproduces the
//! fixtures' reference outputs.
//!
//! One server per side, since a process loads one ONNX Runtime build: `cpu` (the CPU build,
//! `--ort-flavour cpu`), `openvino` (the OpenVINO build, every model `execution_providers =
//! ["openvino"]` strict on OpenVINO's CPU device at the model's own precision), `cuda` and
//! `tensorrt` (the GPU build, the provider strict; TensorRT's engines cached in the run's
//! folder). The first side is the baseline. For each model, p50 at one client and throughput at
//! `--concurrency` clients (binary V2 over HTTP, the model's reference input), in short slices
//! that alternate between the sides (the order rotates every round); the medians over the rounds
//! are reported.
//!
//! `--check-references` first checks that every model loaded on the provider it was given (its
//! config names that provider), then sends every test set of every fixture and compares every
//! output with the reference within the fixtures' tolerances (`outpost_testkit::reference`),
//! classifiers' top-1 included. Prints Markdown tables and writes them with every round's figures
//! as JSON. Fails when a request fails or, with `--check-references`, when a model is not on its
//! provider or an output is outside its bound; the speed figures are a measurement, not a gate.
//!
//! ```text
//! scripts/fetch-onnxruntime.sh && scripts/fetch-onnxruntime.sh --openvino
//! target/release/outpost-bench-providers --outpost target/release/outpost
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use outpost_backend_ort::{ExecutionProviderKind, OrtLibraryFlavour};
use outpost_bench::load::{LoadGenerator, RequestTemplate};
use outpost_bench::run::{self, repo_root};
use outpost_bench::stats::median;
use outpost_bench::targets::{infer_request, Protocol};
use outpost_core::NamedTensor;
use outpost_testkit::fixtures::{model_file, test_data_sets, write_repository, ONNX_FIXTURES};
use outpost_testkit::reference::{as_f64, compare};
use outpost_testkit::{read_tensor_file, TestServer};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde::Serialize;

/// How long a server may take to load every model (TensorRT builds its engines then).
const LOAD_LIMIT: Duration = Duration::from_secs(600);

/// How long one checking request may take (a provider may compile on its first run).
const CHECK_REQUEST_LIMIT: Duration = Duration::from_secs(300);

#[derive(Parser, Debug)]
#[command(
    name = "outpost-bench-providers",
    about = "ONNX Runtime's execution providers side by side per fixture model, and their \
             outputs against the fixtures' references"
)]
struct Args {
    /// The `outpost` binary [default: target/release/outpost].
    #[arg(long)]
    outpost: Option<PathBuf>,
    /// The providers to run, in order; the first is the baseline.
    #[arg(long = "side", value_enum, default_values_t = [Side::Cpu, Side::Openvino])]
    sides: Vec<Side>,
    /// Also check every model's provider and every output against the fixtures' references.
    #[arg(long)]
    check_references: bool,
    /// Clients for the throughput figure.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Seconds each side is measured per round (after a short warm-up).
    #[arg(long, default_value_t = 1.0)]
    slice_seconds: f64,
    /// Rounds per model and figure (0: check only).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Where to write providers.json and providers.md [default: target/bench-report/providers].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// One execution provider of one ONNX Runtime build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Side {
    /// ONNX Runtime's CPU provider (the CPU build).
    Cpu,
    /// The OpenVINO provider on OpenVINO's CPU device (the OpenVINO build).
    Openvino,
    /// The CUDA provider (the GPU build).
    Cuda,
    /// The TensorRT provider (the GPU build).
    Tensorrt,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Cpu => "CPU",
            Side::Openvino => "OpenVINO",
            Side::Cuda => "CUDA",
            Side::Tensorrt => "TensorRT",
        }
    }

    /// The execution provider this side runs every model on.
    fn kind(self) -> ExecutionProviderKind {
        match self {
            Side::Cpu => ExecutionProviderKind::Cpu,
            Side::Openvino => ExecutionProviderKind::OpenVino,
            Side::Cuda => ExecutionProviderKind::Cuda,
            Side::Tensorrt => ExecutionProviderKind::TensorRt,
        }
    }

    /// The ONNX Runtime build (`ort.flavour`) that carries the side's provider.
    fn flavour(self) -> OrtLibraryFlavour {
        OrtLibraryFlavour::carrying(self.kind())
    }

    /// The runtime's name for its tolerances (`outpost_testkit::reference::allowed_steps`).
    fn runtime(self) -> &'static str {
        match self {
            Side::Cpu => "ort",
            Side::Openvino => "openvino",
            Side::Cuda => "cuda",
            Side::Tensorrt => "tensorrt",
        }
    }

    /// Every model's model.toml on this side.
    fn model_config(self, run_dir: &Path) -> String {
        match self {
            Side::Cpu => "backend = \"ort\"\n".to_string(),
            Side::Openvino => "backend = \"ort\"\nexecution_providers = [\"openvino\"]\n\n\
                 [execution_provider_options.openvino]\ndevice_type = \"CPU\"\nprecision = \"ACCURACY\"\n"
                .to_string(),
            Side::Cuda => "backend = \"ort\"\nexecution_providers = [\"cuda\"]\n\n\
                 [execution_provider_options.cuda]\ndevice_id = 0\n"
                .to_string(),
            Side::Tensorrt => format!(
                "backend = \"ort\"\nexecution_providers = [\"tensorrt\"]\n\n\
                 [execution_provider_options.tensorrt]\ndevice_id = 0\nengine_cache_dir = {:?}\n",
                run_dir.join("tensorrt-engines").display().to_string()
            ),
        }
    }
}

/// One model's figures on one side, every round's.
#[derive(Serialize, Default)]
struct SideFigures {
    p50_ms: Vec<f64>,
    infer_per_s: Vec<f64>,
}

/// One model's figures on every side, in `--side` order.
#[derive(Serialize)]
struct ModelFigures {
    model: String,
    sides: Vec<SideFigures>,
}

/// One output of one test set compared with its reference on one side.
#[derive(Serialize)]
struct OutputCheck {
    side: Side,
    model: String,
    test_set: String,
    output: String,
    max_abs: f64,
    max_steps: Option<f64>,
    beyond_fixture_tolerance: usize,
    within: bool,
    same_top1: Option<bool>,
}

#[derive(Serialize)]
struct Report {
    sides: Vec<Side>,
    concurrency: usize,
    slice_seconds: f64,
    models: Vec<ModelFigures>,
    /// Models not on the provider they were given: side, model, why.
    not_on_provider: Vec<(Side, String, String)>,
    checks: Vec<OutputCheck>,
    errors: u64,
}

/// A server on one side's ONNX Runtime build, every fixture model configured for that side;
/// waits until every model has loaded or failed to.
fn start(outpost: &Path, dir: &Path, side: Side) -> anyhow::Result<TestServer> {
    let config = side.model_config(dir);
    let files: Vec<(&str, PathBuf)> = ONNX_FIXTURES.iter().map(|m| (*m, model_file(m))).collect();
    let models: Vec<(&str, &Path, &str)> = files
        .iter()
        .map(|(m, f)| (*m, f.as_path(), config.as_str()))
        .collect();
    let repo = dir.join(side.runtime());
    write_repository(&repo, &models);
    let server = TestServer::spawn(
        outpost,
        &repo,
        &[
            "--ort-flavour",
            &side.flavour().to_string(),
            "--log-level",
            "warn",
        ],
        &[],
    )?;
    server
        .wait_ready(LOAD_LIMIT)
        .with_context(|| format!("{} server: {}", side.label(), server.stderr()))?;
    Ok(server)
}

/// Why `model` is not on `side`'s provider, if it is not: from its config's
/// `execution_providers`, or its load error.
fn not_on_provider(
    generator: &LoadGenerator,
    server: &TestServer,
    side: Side,
    model: &str,
) -> Option<String> {
    let url = format!("{}/v2/models/{model}/config", server.base_url);
    let (status, body) = match generator.get(&url, CHECK_REQUEST_LIMIT) {
        Ok(answer) => answer,
        Err(e) => return Some(format!("GET {url}: {e}")),
    };
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if status != 200 {
        return Some(format!(
            "not loaded ({status}): {}",
            value["error"].as_str().unwrap_or("no error message")
        ));
    }
    let providers = value["parameters"]["execution_providers"]["string_value"]
        .as_str()
        .unwrap_or_default();
    (!providers.starts_with(side.kind().onnxruntime_name()))
        .then(|| format!("runs on '{providers}'"))
}

/// A binary V2 request for `inputs`, every output asked for.
fn full_request(base_url: &str, model: &str, inputs: &[NamedTensor]) -> RequestTemplate {
    let (body, json_length) = outpost_testkit::binary_infer_body(inputs, &[]);
    let mut headers = HeaderMap::new();
    headers.insert(
        outpost_protocol::HEADER_CONTENT_LENGTH,
        HeaderValue::from(json_length),
    );
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    RequestTemplate {
        method: reqwest::Method::POST,
        url: format!("{base_url}/v2/models/{model}/infer"),
        headers,
        body: body.into(),
    }
}

/// Every test set of `model` through `server`, every output compared with its reference.
fn check_model(
    generator: &LoadGenerator,
    server: &TestServer,
    side: Side,
    model: &str,
) -> anyhow::Result<Vec<OutputCheck>> {
    let metadata_url = format!("{}/v2/models/{model}", server.base_url);
    let (_, metadata) = generator.get(&metadata_url, CHECK_REQUEST_LIMIT)?;
    let metadata: serde_json::Value = serde_json::from_slice(&metadata)?;
    let input_name = metadata["inputs"][0]["name"]
        .as_str()
        .context("model metadata without inputs")?
        .to_string();
    let mut checks = Vec::new();
    for set in test_data_sets(model) {
        let (_, input) = read_tensor_file(&set.join("input_0.pb"))?;
        let request = full_request(
            &server.base_url,
            model,
            &[NamedTensor::new(input_name.clone(), input)],
        );
        let (status, headers, body) = generator.fetch(&request, CHECK_REQUEST_LIMIT)?;
        if status != 200 {
            bail!(
                "{} {model}: {status}: {}",
                side.label(),
                String::from_utf8_lossy(&body)
            );
        }
        let json_length = headers
            .get(outpost_protocol::HEADER_CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let response =
            outpost_protocol::client_codec::decode_infer_response(&body, json_length, 1 << 24)?;
        for (k, output) in response.outputs.iter().enumerate() {
            let (_, expected) = read_tensor_file(&set.join(format!("output_{k}.pb")))?;
            let (got, want) = (as_f64(output.tensor.data()), as_f64(expected.data()));
            let comparison = compare(side.runtime(), model, &output.name, &got, &want)
                .with_context(|| format!("no tolerance for {model}/{}", output.name))?;
            let shapes_match = output.tensor.shape() == expected.shape();
            checks.push(OutputCheck {
                side,
                model: model.to_string(),
                test_set: set.file_name().unwrap_or_default().to_string_lossy().into(),
                output: output.name.clone(),
                max_abs: comparison.max_abs,
                max_steps: comparison.max_steps,
                beyond_fixture_tolerance: comparison.beyond_fixture_tolerance,
                within: comparison.within && shapes_match,
                same_top1: (model.starts_with("mobilenet") && want.len() > 1)
                    .then_some(comparison.same_argmax),
            });
        }
    }
    Ok(checks)
}

/// Measures one side: successes per second and p50.
fn measure(
    generator: &LoadGenerator,
    request: &RequestTemplate,
    concurrency: usize,
    slice: Duration,
    errors: &mut u64,
) -> (f64, f64) {
    let (recorder, elapsed) =
        generator.closed_loop(request, concurrency, Duration::from_millis(200), slice);
    *errors += recorder.errors().values().sum::<u64>();
    (
        recorder.successes() as f64 / elapsed.as_secs_f64(),
        recorder.latency().p50_ms,
    )
}

/// Every model's p50 and throughput on every side, the sides' order rotating each round.
fn bench(
    args: &Args,
    generator: &LoadGenerator,
    servers: &[TestServer],
    skip: &[(Side, String, String)],
    errors: &mut u64,
) -> anyhow::Result<Vec<ModelFigures>> {
    let slice = Duration::from_secs_f64(args.slice_seconds);
    let mut models = Vec::new();
    for model in ONNX_FIXTURES {
        let set = &test_data_sets(model)[0];
        let input = run::read_input(&set.join("input_0.pb")).map_err(anyhow::Error::msg)?;
        let output = run::read_input(&set.join("output_0.pb")).map_err(anyhow::Error::msg)?;
        let requests: Vec<RequestTemplate> = servers
            .iter()
            .map(|server| {
                infer_request(
                    &server.base_url,
                    model,
                    &input,
                    &output.name,
                    Protocol::Binary,
                )
            })
            .collect();
        let mut figures = ModelFigures {
            model: model.to_string(),
            sides: args.sides.iter().map(|_| SideFigures::default()).collect(),
        };
        let measured: Vec<usize> = (0..args.sides.len())
            .filter(|i| {
                !skip
                    .iter()
                    .any(|(side, m, _)| *side == args.sides[*i] && m == model)
            })
            .collect();
        for round in 0..args.rounds {
            for (clients, latency) in [(1, true), (args.concurrency, false)] {
                for k in 0..measured.len() {
                    let side = measured[(k + round) % measured.len()];
                    let (rate, p50) = measure(generator, &requests[side], clients, slice, errors);
                    if latency {
                        figures.sides[side].p50_ms.push(p50);
                    } else {
                        figures.sides[side].infer_per_s.push(rate);
                    }
                }
            }
        }
        models.push(figures);
    }
    Ok(models)
}

fn speed_table(args: &Args, models: &[ModelFigures]) -> String {
    let sides = &args.sides;
    let mut header = "| model |".to_string();
    let mut rule = "|---|".to_string();
    for side in sides {
        header.push_str(&format!(" p50 {} (ms) |", side.label()));
        rule.push_str("---|");
    }
    for side in sides {
        header.push_str(&format!(
            " infer/s at {} clients, {} |",
            args.concurrency,
            side.label()
        ));
        rule.push_str("---|");
    }
    for side in &sides[1..] {
        header.push_str(&format!(
            " {} / {} throughput |",
            side.label(),
            sides[0].label()
        ));
        rule.push_str("---|");
    }
    let mut table = format!("{header}\n{rule}\n");
    let cell = |v: f64, digits: usize| {
        if v.is_nan() {
            "n/a".to_string()
        } else {
            format!("{v:.digits$}")
        }
    };
    for m in models {
        let mut row = format!("| {} |", m.model);
        for side in &m.sides {
            row.push_str(&format!(" {} |", cell(median(&side.p50_ms), 2)));
        }
        for side in &m.sides {
            row.push_str(&format!(" {} |", cell(median(&side.infer_per_s), 1)));
        }
        let baseline = median(&m.sides[0].infer_per_s);
        for side in &m.sides[1..] {
            row.push_str(&format!(
                " {} |",
                cell(median(&side.infer_per_s) / baseline, 2)
            ));
        }
        table.push_str(&row);
        table.push('\n');
    }
    table
}

/// One row per model and side: the worst output over the test sets.
fn check_table(report: &Report) -> String {
    let mut table = "| model | provider | on its provider | worst output | max abs diff | max steps | within bound | top-1 |\n\
                     |---|---|---|---|---|---|---|---|\n"
        .to_string();
    for model in ONNX_FIXTURES {
        for side in &report.sides {
            let refused = report
                .not_on_provider
                .iter()
                .find(|(s, m, _)| s == side && m == model);
            let checks: Vec<&OutputCheck> = report
                .checks
                .iter()
                .filter(|c| c.side == *side && c.model == *model)
                .collect();
            let worst = checks.iter().max_by(|a, b| {
                let key = |c: &OutputCheck| c.max_steps.unwrap_or(c.max_abs);
                key(a).total_cmp(&key(b))
            });
            let on_provider = refused.map_or("yes".to_string(), |(_, _, why)| {
                format!("no: {}", why.replace(['\n', '|'], " "))
            });
            let row = match worst {
                Some(worst) => format!(
                    "| {model} | {} | {on_provider} | {} | {:.6} | {} | {} | {} |\n",
                    side.label(),
                    worst.output,
                    worst.max_abs,
                    worst
                        .max_steps
                        .map_or("-".to_string(), |s| format!("{s:.1}")),
                    if checks.iter().all(|c| c.within) {
                        "yes"
                    } else {
                        "NO"
                    },
                    match checks
                        .iter()
                        .filter_map(|c| c.same_top1)
                        .reduce(|a, b| a && b)
                    {
                        Some(true) => "same",
                        Some(false) => "DIFFERENT",
                        None => "-",
                    }
                ),
                None => format!(
                    "| {model} | {} | {on_provider} | - | - | - | NO | - |\n",
                    side.label()
                ),
            };
            table.push_str(&row);
        }
    }
    table
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.sides.is_empty() {
        bail!("no --side given");
    }
    let root = repo_root();
    let outpost = run::outpost_binary(&root, args.outpost.clone()).map_err(anyhow::Error::msg)?;
    let dir = tempfile::tempdir()?;
    let servers = args
        .sides
        .iter()
        .map(|side| start(&outpost, dir.path(), *side))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let generator = LoadGenerator::new()?;

    let mut not_on = Vec::new();
    let mut checks = Vec::new();
    if args.check_references {
        for (side, server) in args.sides.iter().zip(&servers) {
            for model in ONNX_FIXTURES {
                match not_on_provider(&generator, server, *side, model) {
                    Some(why) => not_on.push((*side, model.to_string(), why)),
                    None => checks.extend(check_model(&generator, server, *side, model)?),
                }
            }
        }
    }
    let mut errors = 0;
    let models = bench(&args, &generator, &servers, &not_on, &mut errors)?;
    drop(servers);

    let report = Report {
        sides: args.sides.clone(),
        concurrency: args.concurrency,
        slice_seconds: args.slice_seconds,
        models,
        not_on_provider: not_on,
        checks,
        errors,
    };
    let mut text = String::new();
    if args.rounds > 0 {
        text.push_str(&speed_table(&args, &report.models));
    }
    if args.check_references {
        text.push('\n');
        text.push_str(&check_table(&report));
    }
    print!("{text}");
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("target/bench-report/providers"));
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("providers.md"), &text)?;
    std::fs::write(
        out.join("providers.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    if report.errors > 0 {
        bail!("{} requests failed", report.errors);
    }
    let mismatches = report.checks.iter().filter(|c| !c.within).count();
    let top1 = report
        .checks
        .iter()
        .filter(|c| c.same_top1 == Some(false))
        .count();
    if !report.not_on_provider.is_empty() || mismatches > 0 || top1 > 0 {
        bail!(
            "{} models not on their provider, {mismatches} outputs outside their bound, {top1} \
             different top-1 classes",
            report.not_on_provider.len()
        );
    }
    Ok(())
}
