//! `outpost-bench-inprocess-memory`: the smallest program that serves the model without a
//! server: it loads the model with ONNX Runtime or tract in this process, runs one inference,
//! reports its resident memory (idle), then runs inferences back to back from `--threads`
//! threads for `--seconds` and reports its resident memory again. `benches/memory.py` runs it
//! beside `outpost serve` as the baseline the server's memory is compared with. Prints one JSON
//! object.
//!
//! ```text
//! target/release/outpost-bench-inprocess-memory --backend ort --threads 2 --seconds 15
//! ```

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use outpost_backend_ort::CpuArenaSettings;
use outpost_bench::inprocess::InProcessModel;
use outpost_bench::procfs::status_kib;
use outpost_bench::run::{self, repo_root};
use outpost_core::NamedTensor;
use serde::Serialize;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Runtime {
    Ort,
    Tract,
}

#[derive(Parser, Debug)]
#[command(
    name = "outpost-bench-inprocess-memory",
    about = "Resident memory of the model loaded in a minimal program"
)]
struct Args {
    #[arg(long, value_enum, default_value = "ort")]
    backend: Runtime,
    /// ONNX model [default: models/mobilenet_v2_int8/1/model.onnx].
    #[arg(long)]
    model: Option<PathBuf>,
    /// ONNX TensorProto file with the input [default: MobileNetV2 int8's reference input].
    #[arg(long)]
    input: Option<PathBuf>,
    /// Threads running inferences at once (the server's inference threads).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[arg(long, default_value_t = 15.0)]
    seconds: f64,
    /// glibc's mmap threshold in bytes, fixed as the server fixes it, and the freed load
    /// buffers handed back after loading as the server does; 0 leaves glibc's defaults.
    #[arg(long, default_value_t = 0)]
    malloc_mmap_threshold_bytes: usize,
}

#[derive(Serialize)]
struct Figures {
    idle_rss_mib: f64,
    idle_anonymous_mib: f64,
    after_load_rss_mib: f64,
    peak_rss_mib: f64,
    inferences_per_second: f64,
    errors: u64,
}

fn mib(field: &str) -> f64 {
    status_kib(std::process::id(), field).unwrap_or(0) as f64 / 1024.0
}

fn set_mmap_threshold(bytes: usize) {
    if bytes == 0 {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation policy; it is called before any thread
    // other than main exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, bytes as libc::c_int);
    }
}

fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory at the top of the heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    set_mmap_threshold(args.malloc_mmap_threshold_bytes);
    let root = repo_root();
    let model_path = args.model.unwrap_or_else(|| run::default_model(&root));
    let input_path = args.input.unwrap_or_else(|| run::default_input(&root));
    let (input_name, tensor) = outpost_testkit::read_tensor_file(&input_path)
        .with_context(|| format!("reading {}", input_path.display()))?;
    let model = match args.backend {
        Runtime::Ort => InProcessModel::load(&model_path, 1, 1),
        Runtime::Tract => InProcessModel::load_tract(&model_path),
    }
    .with_context(|| format!("loading {}", model_path.display()))?;
    let input = NamedTensor::new(input_name, tensor);
    // One inference, as the server warms a model up before it takes traffic.
    if let Err(error) = model.infer_once(&input) {
        bail!("the model does not run: {error}");
    }
    if args.malloc_mmap_threshold_bytes > 0 {
        trim_heap();
    }
    // Idle: the shared CPU arena hands the warm-up's buffers back once it has been idle, as it
    // does in the server.
    model.settle(CpuArenaSettings::default().idle_release * 10);
    let (idle_rss_mib, idle_anonymous_mib) = (mib("VmRSS:"), mib("RssAnon:"));
    let duration = Duration::from_secs_f64(args.seconds);
    let (recorder, elapsed) = model.closed_loop(&input, args.threads, Duration::ZERO, duration);
    let figures = Figures {
        idle_rss_mib,
        idle_anonymous_mib,
        after_load_rss_mib: mib("VmRSS:"),
        peak_rss_mib: mib("VmHWM:"),
        inferences_per_second: recorder.successes() as f64 / elapsed.as_secs_f64(),
        errors: recorder.errors().values().sum(),
    };
    println!("{}", serde_json::to_string(&figures)?);
    Ok(())
}
