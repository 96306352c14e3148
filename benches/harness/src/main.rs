//! `outpost-bench`: runs the benchmark harness and writes its report.
//!
//! ```text
//! cargo run --release -p outpost-bench -- --mode smoke   # CI: a couple of minutes, gates enforced
//! cargo run --release -p outpost-bench -- --mode full    # the committed report
//! ```

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Parser;
use outpost_bench::gate::{self, GateFile};
use outpost_bench::plan::{Mode, Plan};
use outpost_bench::report::{Environment, Report};
use outpost_bench::run::{self, RunInputs};
use outpost_bench::{photos, plot, ratios};
use outpost_core::NamedTensor;

#[derive(Parser, Debug)]
#[command(name = "outpost-bench", version, about = "Outpost's benchmark harness")]
struct Args {
    /// `smoke` (CI: short runs, gates enforced) or `full` (longer runs, more load points).
    #[arg(long, value_enum, default_value = "smoke")]
    mode: Mode,
    /// Directory for report.json, report.md and latency-vs-throughput.svg
    /// [default: target/bench-report/<mode>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Gate file [default: benches/gates.toml].
    #[arg(long)]
    gates: Option<PathBuf>,
    /// Fail on a failed gate in full mode too (smoke mode always does).
    #[arg(long)]
    enforce_gates: bool,
    /// The `outpost` binary to measure [default: $OUTPOST_BIN, else target/release/outpost].
    #[arg(long)]
    outpost: Option<PathBuf>,
    /// Model to serve [default: the bundled models/mobilenet_v2_int8/1/model.onnx].
    #[arg(long)]
    model: Option<PathBuf>,
    /// ONNX TensorProto file with the input to send [default: MobileNetV2 int8's reference input].
    #[arg(long)]
    input: Option<PathBuf>,
    /// model.toml whose [preprocess] and [postprocess] the camera scenario uses
    /// [default: models/mobilenet_v2_int8/model.toml].
    #[arg(long)]
    camera_config: Option<PathBuf>,
    /// Encoded image the camera scenario sends [default: tests/fixtures/images/cat_720p.jpg].
    #[arg(long)]
    camera_image: Option<PathBuf>,
    /// Sessions (one intra-op thread each) of the in-process baseline [default: the number of
    /// CPUs].
    #[arg(long)]
    instances: Option<usize>,
    /// `performance` written into the model.toml Outpost serves (a named tuned side); without
    /// it Outpost runs its shipped scheduling default.
    #[arg(long, value_parser = ["auto", "latency", "throughput"])]
    outpost_performance: Option<String>,
    /// Skip the Python baseline (and the ratios that need it).
    #[arg(long)]
    without_python: bool,
    /// Measure nothing: redraw `latency-vs-throughput.svg` in DIR from DIR/report.json.
    #[arg(long, value_name = "DIR")]
    replot: Option<PathBuf>,
    /// Measure nothing: write the camera benchmark's photos into DIR as `<photo>.jpg`
    /// (benches/decode_vs_tjbench.sh decodes them).
    #[arg(long, value_name = "DIR")]
    write_photos: Option<PathBuf>,
}

const PLOT_FILE: &str = "latency-vs-throughput.svg";
const PLOT_TITLE: &str = "MobileNetV2 int8, binary tensors, open loop";

/// Redraws a report's plot from its saved scenarios.
fn replot(dir: &std::path::Path) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Saved {
        scenarios: Vec<outpost_bench::stats::ScenarioResult>,
    }
    let path = dir.join("report.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let saved: Saved =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    std::fs::write(
        dir.join(PLOT_FILE),
        plot::latency_vs_throughput(&saved.scenarios, PLOT_TITLE),
    )?;
    println!("plot written to {}", dir.join(PLOT_FILE).display());
    Ok(())
}

/// Writes the camera benchmark's photos into `dir`.
fn write_photos(root: &std::path::Path, dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for photo in photos::make(&root.join("tests/fixtures/images"))? {
        let path = dir.join(format!("{}.jpg", photo.name));
        std::fs::write(&path, &photo.jpeg)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // Before any thread starts. The Python baseline and the server inherit the opt-out.
    outpost_backend_ort::telemetry::opt_out();
    let args = Args::parse();
    if let Some(dir) = &args.replot {
        return replot(dir);
    }
    let root = run::repo_root().canonicalize().context("repository root")?;
    if let Some(dir) = &args.write_photos {
        return write_photos(&root, dir);
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut plan = Plan::for_mode(args.mode, cores);
    if let Some(instances) = args.instances {
        plan.instances = instances.max(1);
    }
    plan.outpost_performance
        .clone_from(&args.outpost_performance);
    let mode_name = format!("{:?}", args.mode).to_lowercase();
    let out = args
        .out
        .unwrap_or_else(|| root.join("target/bench-report").join(&mode_name));
    let gates_path = args
        .gates
        .unwrap_or_else(|| root.join("benches/gates.toml"));
    let gates = GateFile::load(&gates_path)?;
    let outpost_binary = run::outpost_binary(&root, args.outpost).map_err(anyhow::Error::msg)?;
    let model_path = args.model.unwrap_or_else(|| run::default_model(&root));
    let input_path = args.input.unwrap_or_else(|| run::default_input(&root));
    let (input_name, tensor) = outpost_testkit::read_tensor_file(&input_path)
        .with_context(|| format!("reading {}", input_path.display()))?;

    let camera = run::CameraInputs::read(
        &args
            .camera_config
            .unwrap_or_else(|| root.join("models/mobilenet_v2_int8/model.toml")),
        &args
            .camera_image
            .unwrap_or_else(|| root.join("tests/fixtures/images/cat_720p.jpg")),
    )?;
    let outcome = run::run(&RunInputs {
        repo_root: root.clone(),
        outpost_binary,
        model_path: model_path.clone(),
        input: NamedTensor::new(input_name, tensor),
        plan: plan.clone(),
        with_python: !args.without_python,
        camera,
    })?;

    let ratios = ratios::compute(&outcome.scenarios);
    let outcomes = gate::evaluate(&gates, &ratios);
    let model_label = model_path
        .strip_prefix(&root)
        .unwrap_or(&model_path)
        .display()
        .to_string();
    let report = Report {
        environment: Environment::describe(
            &model_label,
            &outcome.ort_version,
            outcome.python_versions.clone(),
        ),
        plan,
        ratios,
        gates: outcomes.clone(),
        idle_memory: outcome.idle_memory,
        scenarios: outcome.scenarios,
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let plot_name = PLOT_FILE;
    std::fs::write(
        out.join(plot_name),
        plot::latency_vs_throughput(&report.scenarios, PLOT_TITLE),
    )?;
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(out.join("report.md"), report.markdown(plot_name))?;

    println!("report written to {}", out.display());
    for (name, value) in &report.ratios {
        println!("  {name:<42} {value:.3}");
    }
    let failed: Vec<_> = outcomes.iter().filter(|g| !g.passed).collect();
    for gate in &outcomes {
        println!(
            "  gate {:<37} {}",
            gate.ratio,
            if gate.passed { "pass" } else { "FAIL" }
        );
    }
    if !failed.is_empty() && (args.mode == Mode::Smoke || args.enforce_gates) {
        for gate in failed {
            eprintln!("gate failed: {}: {}", gate.ratio, gate.reason);
        }
        bail!("benchmark gates failed");
    }
    Ok(())
}
