//! `outpost-bench-online`: what the online/offline features cost a request, on one server, for
//! the bundled classifier served three times:
//!
//! - `local`: policy `local`, `forward = "none"`: the plain path;
//! - `forwarding`: `forward = "results"`: every answer is on disk in the outbox (SQLite, WAL,
//!   `synchronous = FULL`, group commit) before it goes out;
//! - `open_circuit`: `prefer_upstream` with an upstream that refuses connections, its circuit
//!   open.
//!
//! Throughput at saturation (`--concurrency` clients, binary V2 over HTTP) of `forwarding`
//! against `local`, and p50 at one client of `open_circuit` against `local`, each measured in
//! many short slices that alternate between the two sides (the order flips every round), so
//! that the machine's drift hits both alike; each round gives one paired figure and the median
//! over the rounds is gated. Prints a Markdown table and writes it with every round's figures
//! as JSON.
//!
//! ```text
//! cargo build --release -p outpost -p outpost-bench
//! target/release/outpost-bench-online --outpost target/release/outpost
//! ```

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;
use outpost_bench::load::{LoadGenerator, RequestTemplate};
use outpost_bench::run::{self, repo_root};
use outpost_bench::stats::median;
use outpost_bench::targets::{infer_request, Protocol};
use outpost_testkit::fixtures::write_repository;
use outpost_testkit::TestServer;
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(
    name = "outpost-bench-online",
    about = "What forwarding and an open circuit cost a request"
)]
struct Args {
    /// The `outpost` binary [default: target/release/outpost].
    #[arg(long)]
    outpost: Option<PathBuf>,
    /// Clients for the throughput at saturation: by default 10, as many requests as the server
    /// takes into one model at once on a machine of 2 CPUs (2 running, 8 queued; more are
    /// turned away).
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Seconds each side is measured per round (after a short warm-up).
    #[arg(long, default_value_t = 1.0)]
    slice_seconds: f64,
    /// Rounds of the throughput comparison.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Rounds of the p50 comparison.
    #[arg(long, default_value_t = 6)]
    latency_rounds: usize,
    /// Least throughput of `forwarding` against `local` (median of the rounds' ratios).
    #[arg(long, default_value_t = 0.95)]
    min_forward_ratio: f64,
    /// Most p50 of `open_circuit` above `local`'s, in ms (median of the rounds' gaps).
    #[arg(long, default_value_t = 1.0)]
    max_p50_gap_ms: f64,
    /// Folder of the outbox database [default: the run's temporary folder].
    #[arg(long)]
    outbox_dir: Option<PathBuf>,
    /// The outbox's `commit_interval_ms` [default: the server's].
    #[arg(long)]
    commit_interval_ms: Option<u64>,
    /// Where to write online.json and online.md [default: target/bench-report/online].
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Serialize)]
struct Report {
    concurrency: usize,
    slice_seconds: f64,
    local_infer_per_s: Vec<f64>,
    forwarding_infer_per_s: Vec<f64>,
    forward_ratios: Vec<f64>,
    forward_ratio_median: f64,
    forward_ratio_pooled: f64,
    local_p50_ms: Vec<f64>,
    open_circuit_p50_ms: Vec<f64>,
    p50_gap_ms_median: f64,
    errors: u64,
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Measures `a` and `b` back to back, `b` first on odd rounds: (a's, b's) successes per second
/// and p50s, and the errors.
struct Pairs<'a> {
    generator: &'a LoadGenerator,
    warmup: Duration,
    slice: Duration,
    errors: u64,
}

impl Pairs<'_> {
    fn measure(&mut self, request: &RequestTemplate, concurrency: usize) -> (f64, f64) {
        let (recorder, elapsed) =
            self.generator
                .closed_loop(request, concurrency, self.warmup, self.slice);
        self.errors += recorder.errors().values().sum::<u64>();
        (
            recorder.successes() as f64 / elapsed.as_secs_f64(),
            recorder.latency().p50_ms,
        )
    }

    fn round(
        &mut self,
        round: usize,
        a: &RequestTemplate,
        b: &RequestTemplate,
        concurrency: usize,
    ) -> ((f64, f64), (f64, f64)) {
        if round.is_multiple_of(2) {
            let first = self.measure(a, concurrency);
            (first, self.measure(b, concurrency))
        } else {
            let second = self.measure(b, concurrency);
            (self.measure(a, concurrency), second)
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let root = repo_root();
    let outpost = run::outpost_binary(&root, args.outpost.clone()).map_err(anyhow::Error::msg)?;
    let model_file = run::default_model(&root);
    let input = run::read_input(&run::default_input(&root)).map_err(anyhow::Error::msg)?;

    let dir = tempfile::tempdir()?;
    let repo = dir.path().join("repo");
    let open_circuit = format!(
        "[upstream]\nurl = \"http://127.0.0.1:{}\"\npolicy = \"prefer_upstream\"\n\
         timeout_ms = 200\nfailures_to_open = 1\nprobe_interval_ms = 600000\n",
        closed_port()?
    );
    write_repository(
        &repo,
        &[
            ("local", model_file.as_path(), ""),
            (
                "forwarding",
                model_file.as_path(),
                "forward = \"results\"\n",
            ),
            ("open_circuit", model_file.as_path(), open_circuit.as_str()),
        ],
    );
    let config = dir.path().join("outpost.toml");
    let outbox_dir = args.outbox_dir.clone().unwrap_or(dir.path().to_path_buf());
    let outbox = tempfile::Builder::new()
        .prefix("outbox-")
        .suffix(".db")
        .tempfile_in(&outbox_dir)?
        .into_temp_path();
    let mut outbox_config = format!("[outbox]\npath = \"{}\"\n", outbox.display());
    if let Some(interval) = args.commit_interval_ms {
        outbox_config.push_str(&format!("commit_interval_ms = {interval}\n"));
    }
    std::fs::write(&config, outbox_config)?;
    let config_arg = config.display().to_string();
    let server = TestServer::start(
        &outpost,
        &repo,
        &["--config", &config_arg, "--log-level", "warn"],
    )?;
    let generator = LoadGenerator::new()?;
    let request = |model: &str| {
        infer_request(
            &server.base_url,
            model,
            &input,
            "probabilities",
            Protocol::Binary,
        )
    };
    let (local, forwarding, open) = (
        request("local"),
        request("forwarding"),
        request("open_circuit"),
    );
    let mut pairs = Pairs {
        generator: &generator,
        warmup: Duration::from_millis(200),
        slice: Duration::from_secs_f64(args.slice_seconds),
        errors: 0,
    };
    // The first request to the open-circuit model finds its upstream refusing and opens it.
    pairs.measure(&open, 1);

    let (mut local_tp, mut forwarding_tp) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        let ((l, _), (f, _)) = pairs.round(round, &local, &forwarding, args.concurrency);
        local_tp.push(l);
        forwarding_tp.push(f);
    }
    let (mut local_p50, mut open_p50) = (Vec::new(), Vec::new());
    for round in 0..args.latency_rounds {
        let ((_, l), (_, o)) = pairs.round(round, &local, &open, 1);
        local_p50.push(l);
        open_p50.push(o);
    }
    drop(server);

    let forward_ratios: Vec<f64> = forwarding_tp
        .iter()
        .zip(&local_tp)
        .map(|(f, l)| f / l)
        .collect();
    let gaps: Vec<f64> = open_p50
        .iter()
        .zip(&local_p50)
        .map(|(o, l)| o - l)
        .collect();
    let report = Report {
        concurrency: args.concurrency,
        slice_seconds: args.slice_seconds,
        forward_ratio_median: median(&forward_ratios),
        forward_ratio_pooled: forwarding_tp.iter().sum::<f64>() / local_tp.iter().sum::<f64>(),
        forward_ratios,
        local_infer_per_s: local_tp,
        forwarding_infer_per_s: forwarding_tp,
        p50_gap_ms_median: median(&gaps),
        local_p50_ms: local_p50,
        open_circuit_p50_ms: open_p50,
        errors: pairs.errors,
    };
    let table = format!(
        "| figure | local | with the feature | ratio / gap (median of rounds) | bound |\n\
         |---|---|---|---|---|\n\
         | throughput at {} clients, `forward = \"results\"` (infer/s, {} rounds) | {:.1} | {:.1} | {:.3} (pooled {:.3}) | >= {} |\n\
         | p50 at 1 client, `prefer_upstream` with its circuit open (ms, {} rounds) | {:.2} | {:.2} | {:+.2} ms | <= {} ms |\n",
        report.concurrency,
        args.rounds,
        median(&report.local_infer_per_s),
        median(&report.forwarding_infer_per_s),
        report.forward_ratio_median,
        report.forward_ratio_pooled,
        args.min_forward_ratio,
        args.latency_rounds,
        median(&report.local_p50_ms),
        median(&report.open_circuit_p50_ms),
        report.p50_gap_ms_median,
        args.max_p50_gap_ms,
    );
    print!("{table}");
    let mut ratios = report.forward_ratios.clone();
    ratios.sort_by(f64::total_cmp);
    println!(
        "forward ratios, sorted: {}",
        ratios
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = args
        .out
        .unwrap_or_else(|| root.join("target/bench-report/online"));
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("online.md"), &table)?;
    std::fs::write(
        out.join("online.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    if report.errors > 0 {
        bail!("{} requests failed", report.errors);
    }
    if report.forward_ratio_median < args.min_forward_ratio {
        bail!(
            "forwarding throughput is {:.3} of local's, under {}",
            report.forward_ratio_median,
            args.min_forward_ratio
        );
    }
    if report.p50_gap_ms_median > args.max_p50_gap_ms {
        bail!(
            "the open circuit adds {:.2} ms to p50, over {} ms",
            report.p50_gap_ms_median,
            args.max_p50_gap_ms
        );
    }
    Ok(())
}
