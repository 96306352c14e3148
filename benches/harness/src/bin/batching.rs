//! `outpost-bench-batching`: dynamic batching on against off, on one server, for the same
//! model (MobileNetV2 int8 with a variable batch dimension), at several client counts. Each
//! variant is a model of its own in the server's repository; the variants are measured in
//! interleaved slices so that a change in the machine's speed hits all alike. Prints a Markdown
//! table (throughput, p50, p99, and throughput against batching off) and writes it with the
//! figures as JSON.
//!
//! ```text
//! cargo build --release -p outpost -p outpost-bench
//! target/release/outpost-bench-batching --outpost target/release/outpost
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;
use outpost_bench::load::LoadGenerator;
use outpost_bench::run::{self, repo_root};
use outpost_bench::stats::Recorder;
use outpost_bench::targets::{infer_request, Protocol};
use outpost_testkit::fixtures::write_repository;
use outpost_testkit::TestServer;
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(
    name = "outpost-bench-batching",
    about = "Dynamic batching on against off"
)]
struct Args {
    /// The `outpost` binary [default: target/release/outpost].
    #[arg(long)]
    outpost: Option<PathBuf>,
    /// Client counts.
    #[arg(long, value_delimiter = ',', default_value = "1,4,8")]
    concurrency: Vec<usize>,
    /// Seconds each variant is measured per round.
    #[arg(long, default_value_t = 4.0)]
    slice_seconds: f64,
    /// Rounds of interleaved slices.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Queue delays (microseconds) of the batching variants.
    #[arg(long, value_delimiter = ',', default_value = "0,2000")]
    delays_us: Vec<u64>,
    /// Largest batch.
    #[arg(long, default_value_t = 8)]
    max_batch_size: usize,
    /// Where to write batching.json and batching.md [default: target/bench-report/batching].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// One configuration of the model under test.
struct Variant {
    model: String,
    label: String,
    config: String,
}

#[derive(Serialize)]
struct Row {
    variant: String,
    concurrency: usize,
    infer_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    throughput_vs_off: f64,
}

fn variants(args: &Args) -> Vec<Variant> {
    let base = format!(
        "backend = \"ort\"\nmax_batch_size = {}\n",
        args.max_batch_size
    );
    let mut variants = vec![Variant {
        model: "batching_off".into(),
        label: "off".into(),
        config: base.clone(),
    }];
    for delay in &args.delays_us {
        variants.push(Variant {
            model: format!("batching_delay_{delay}us"),
            label: format!("on, delay {delay} µs"),
            config: format!("{base}[dynamic_batching]\nmax_queue_delay_microseconds = {delay}\n"),
        });
    }
    variants
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let root = repo_root();
    let outpost = run::outpost_binary(&root, args.outpost.clone()).map_err(anyhow::Error::msg)?;
    let model_file = root.join("tests/fixtures/generated/mobilenet_v2_int8_dynamic_batch.onnx");
    let input = run::read_input(&run::default_input(&root)).map_err(anyhow::Error::msg)?;

    let variants = variants(&args);
    let dir = tempfile::tempdir()?;
    let repo = dir.path().join("repo");
    let models: Vec<(&str, &std::path::Path, &str)> = variants
        .iter()
        .map(|v| (v.model.as_str(), model_file.as_path(), v.config.as_str()))
        .collect();
    write_repository(&repo, &models);
    let server = TestServer::start(&outpost, &repo, &["--log-level", "warn"])?;
    let generator = LoadGenerator::new()?;
    let requests: Vec<_> = variants
        .iter()
        .map(|v| {
            infer_request(
                &server.base_url,
                &v.model,
                &input,
                "probabilities",
                Protocol::Binary,
            )
        })
        .collect();

    let slice = Duration::from_secs_f64(args.slice_seconds);
    let warmup = Duration::from_millis(300);
    let mut measured: BTreeMap<(usize, usize), (Recorder, Duration)> = BTreeMap::new();
    for round in 0..args.rounds {
        for &concurrency in &args.concurrency {
            for offset in 0..variants.len() {
                // Rotate the order each round.
                let index = (offset + round) % variants.len();
                let (recorder, elapsed) =
                    generator.closed_loop(&requests[index], concurrency, warmup, slice);
                let entry = measured
                    .entry((concurrency, index))
                    .or_insert_with(|| (Recorder::new(), Duration::ZERO));
                entry.0.merge(&recorder);
                entry.1 += elapsed;
            }
        }
        eprintln!("round {} of {} done", round + 1, args.rounds);
    }
    drop(server);

    let mut rows = Vec::new();
    for &concurrency in &args.concurrency {
        let throughput = |index: usize| {
            let (recorder, elapsed) = &measured[&(concurrency, index)];
            recorder.successes() as f64 / elapsed.as_secs_f64()
        };
        let off = throughput(0);
        for (index, variant) in variants.iter().enumerate() {
            let (recorder, _) = &measured[&(concurrency, index)];
            let latency = recorder.latency();
            rows.push(Row {
                variant: variant.label.clone(),
                concurrency,
                infer_per_s: throughput(index),
                p50_ms: latency.p50_ms,
                p99_ms: latency.p99_ms,
                errors: recorder.errors().values().sum(),
                throughput_vs_off: throughput(index) / off,
            });
        }
    }
    let mut table = String::from(
        "| concurrency | batching | infer/s | p50 ms | p99 ms | errors | throughput vs off |\n|---|---|---|---|---|---|---|\n",
    );
    for row in &rows {
        table.push_str(&format!(
            "| {} | {} | {:.1} | {:.2} | {:.2} | {} | {:.2} |\n",
            row.concurrency,
            row.variant,
            row.infer_per_s,
            row.p50_ms,
            row.p99_ms,
            row.errors,
            row.throughput_vs_off
        ));
    }
    print!("{table}");
    let out = args
        .out
        .unwrap_or_else(|| root.join("target/bench-report/batching"));
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("batching.md"), &table)?;
    std::fs::write(
        out.join("batching.json"),
        serde_json::to_string_pretty(&rows)?,
    )?;
    if rows.iter().any(|r| r.errors > 0) {
        bail!("some requests failed");
    }
    Ok(())
}
