//! `outpost-bench-scheduling`: what the shipped scheduling default gives on the camera endpoint
//! against the fixed configurations a user could write instead, at 1, 2, 4 and 8 clients, with a
//! 720p and a 1080p photo, for every bundled model with a camera pipeline (`models/*/model.toml`
//! with a `[preprocess]` section; `--models` names some of them).
//!
//! Three servers run side by side, each serving the bundled models: `default` with the shipped
//! `model.toml` as it is, `1 x N threads` (`instances = 1`, `intra_op = N`: ONNX Runtime's
//! latency configuration) and `N x 1 thread` (`instances = N`, `intra_op = 1`: its throughput
//! configuration), N being the CPUs this machine allows. Every point is measured in interleaved
//! slices over several rounds, the servers' order rotating each round, so that a change in the
//! machine's speed hits all three alike (one-client points, judged on p50, in several shorter
//! turns per round). Each round starts fresh servers, warmed up on each photo: two processes
//! of one configuration differ by several percent for their whole life, so a side's figures
//! come from as many processes as there are rounds. Each point reports answers per second, p50
//! and p99 latency, and the server's CPU time per answer (from /proc); each server's resident
//! memory is read once its models have answered a first photo, before any load (first round).
//!
//! The gate, per model, photo and client count: with one client the default's p50 within
//! `--tolerance` of the best fixed configuration's, with two or more its throughput within
//! `--tolerance` of the best one's, and at `--cpu-clients` (4) its server CPU time per answer
//! too. `--enforce-gates` fails the run on a miss.
//!
//! ```text
//! cargo build --release -p outpost -p outpost-bench
//! target/release/outpost-bench-scheduling --outpost target/release/outpost
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use outpost_bench::load::{LoadGenerator, RequestTemplate};
use outpost_bench::photos::{self, Photo};
use outpost_bench::procfs::resident_kib;
use outpost_bench::run::{self, repo_root};
use outpost_bench::scheduling::{markdown, verdicts, Row, Verdict};
use outpost_bench::stats::Recorder;
use outpost_bench::targets::camera_request;
use outpost_testkit::TestServer;

#[derive(Parser, Debug)]
#[command(
    name = "outpost-bench-scheduling",
    about = "The shipped scheduling default against fixed configurations, camera endpoint"
)]
struct Args {
    /// The `outpost` binary [default: $OUTPOST_BIN, else target/release/outpost].
    #[arg(long)]
    outpost: Option<PathBuf>,
    /// Client counts.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    concurrency: Vec<usize>,
    /// Only these bundled models, by folder name [default: every bundled model with a camera
    /// pipeline].
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
    /// The benchmark photo sent (one of the harness's photos, without its resolution).
    #[arg(long, default_value = "rocket")]
    photo: String,
    /// Seconds each server is measured per point and round.
    #[arg(long, default_value_t = 3.0)]
    slice_seconds: f64,
    /// Rounds of interleaved slices, each with fresh servers.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// One-client points (judged on p50, which drifts more than throughput) are measured in
    /// this many shorter slices per round, the servers taking turns between them, in the same
    /// time as one slice.
    #[arg(long, default_value_t = 3)]
    one_client_turns: usize,
    /// The client count at which the server's CPU time per answer is gated too.
    #[arg(long, default_value_t = 4)]
    cpu_clients: usize,
    /// How far the default may be from the best fixed configuration at a point (0.10: 10 %).
    #[arg(long, default_value_t = 0.10)]
    tolerance: f64,
    /// Fail when the default misses the gate at a point.
    #[arg(long)]
    enforce_gates: bool,
    /// Where to write scheduling.json and scheduling.md [default: target/bench-report/scheduling].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// One server under test: a name and how each model's `model.toml` is changed for it.
struct Side {
    name: String,
    /// `None`: the shipped `model.toml` as it is; else `(instances, intra_op)`.
    fixed: Option<(usize, usize)>,
}

impl Side {
    fn all(cpus: usize) -> Vec<Side> {
        vec![
            Side {
                name: "default".into(),
                fixed: None,
            },
            Side {
                name: format!("1 x {cpus} threads"),
                fixed: Some((1, cpus)),
            },
            Side {
                name: format!("{cpus} x 1 thread"),
                fixed: Some((cpus, 1)),
            },
        ]
    }

    /// `shipped` (a model.toml's text) as this side serves it.
    fn model_toml(&self, shipped: &str) -> anyhow::Result<String> {
        let Some((instances, intra_op)) = self.fixed else {
            return Ok(shipped.to_string());
        };
        let mut table: toml::Table = shipped.parse()?;
        // A fixed configuration says everything about scheduling itself.
        table.remove("performance");
        table.insert("instances".into(), toml::Value::Integer(instances as i64));
        let threads = table
            .entry("threads")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(threads) = threads else {
            bail!("[threads] is not a table");
        };
        threads.insert("intra_op".into(), toml::Value::Integer(intra_op as i64));
        threads.insert("inter_op".into(), toml::Value::Integer(1));
        Ok(toml::to_string(&table)?)
    }
}

/// A bundled model with a camera pipeline.
struct BundledModel {
    name: String,
    dir: PathBuf,
    shipped_toml: String,
}

/// The bundled models with a camera pipeline; only those named in `only`, when it names any.
fn bundled_models(root: &Path, only: &[String]) -> anyhow::Result<Vec<BundledModel>> {
    let mut models = Vec::new();
    let models_dir = root.join("models");
    let mut entries: Vec<_> = std::fs::read_dir(&models_dir)
        .with_context(|| format!("reading {}", models_dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let config = entry.path().join("model.toml");
        let Ok(text) = std::fs::read_to_string(&config) else {
            continue;
        };
        let table: toml::Table = text
            .parse()
            .with_context(|| format!("parsing {}", config.display()))?;
        if table.contains_key("preprocess") {
            models.push(BundledModel {
                name: entry.file_name().to_string_lossy().into_owned(),
                dir: entry.path(),
                shipped_toml: text,
            });
        }
    }
    if let Some(missing) = only.iter().find(|n| models.iter().all(|m| &m.name != *n)) {
        bail!(
            "{missing} is not a model with a camera pipeline under {}",
            models_dir.display()
        );
    }
    if !only.is_empty() {
        models.retain(|m| only.contains(&m.name));
    }
    if models.is_empty() {
        bail!(
            "no model under {} has a camera pipeline",
            models_dir.display()
        );
    }
    Ok(models)
}

/// Copies `from` into `to` (files and folders), leaving out `model.toml`.
fn copy_model_files(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_model_files(&entry.path(), &target)?;
        } else if entry.file_name() != "model.toml" {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// What was measured for one (model, photo, clients, side).
#[derive(Default)]
struct Totals {
    recorder: Recorder,
    elapsed: Duration,
    cpu_seconds: f64,
}

fn main() -> anyhow::Result<()> {
    outpost_backend_ort::telemetry::opt_out();
    let args = Args::parse();
    let root = repo_root();
    let outpost = run::outpost_binary(&root, args.outpost.clone()).map_err(anyhow::Error::msg)?;
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let sides = Side::all(cpus);
    let models = bundled_models(&root, &args.models)?;
    let photos: Vec<Photo> = photos::make(&root.join("tests/fixtures/images"))?
        .into_iter()
        .filter(|p| p.name.starts_with(&format!("{}_", args.photo)))
        .collect();
    if photos.is_empty() {
        bail!("no benchmark photo is called {}", args.photo);
    }

    let dir = tempfile::tempdir()?;
    let generator = LoadGenerator::new()?;
    let repositories = sides
        .iter()
        .enumerate()
        .map(|(index, side)| {
            let repo = dir.path().join(format!("repo{index}"));
            for model in &models {
                copy_model_files(&model.dir, &repo.join(&model.name))?;
                std::fs::write(
                    repo.join(&model.name).join("model.toml"),
                    side.model_toml(&model.shipped_toml)?,
                )?;
            }
            Ok(repo)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let slice = Duration::from_secs_f64(args.slice_seconds);
    let warmup = Duration::from_millis(200);
    type Key = (usize, usize, usize, usize); // model, photo, clients, side
    let mut totals: BTreeMap<Key, Totals> = BTreeMap::new();
    let mut idle = Vec::new();
    for round in 0..args.rounds.max(1) {
        // Fresh servers every round: two processes of one configuration differ by several
        // percent for as long as they run (where their memory landed, how their threads were
        // placed), so each side's figures come from as many processes as there are rounds.
        let mut servers = Vec::new();
        for (side, repo) in sides.iter().zip(&repositories) {
            let server = TestServer::start(&outpost, repo, &["--log-level", "warn"])
                .with_context(|| format!("starting the {} server", side.name))?;
            // A first photo per model, so that what is measured as idle includes the buffers
            // a request leaves behind.
            for model in &models {
                let request = camera_request(&server.base_url, &model.name, &photos[0].jpeg);
                let (status, _, body) = generator.fetch(&request, Duration::from_secs(60))?;
                if status != 200 {
                    bail!(
                        "{} answered {status} for {}: {}",
                        side.name,
                        model.name,
                        String::from_utf8_lossy(&body)
                    );
                }
            }
            if round == 0 {
                let mib = resident_kib(server.pid()).unwrap_or(0) as f64 / 1024.0;
                idle.push((side.name.clone(), mib));
            }
            servers.push(server);
        }
        let requests: Vec<Vec<Vec<RequestTemplate>>> = models
            .iter()
            .map(|model| {
                photos
                    .iter()
                    .map(|photo| {
                        servers
                            .iter()
                            .map(|s| camera_request(&s.base_url, &model.name, &photo.jpeg))
                            .collect()
                    })
                    .collect()
            })
            .collect();
        // Every server answers each photo for a while, unmeasured, so that its cold start
        // (first passes through the decoder and the runtime at a size) falls on no figure.
        for per_photo in &requests {
            for per_server in per_photo {
                for (request, server) in per_server.iter().zip(&servers) {
                    generator.closed_loop_sampled(
                        request,
                        1,
                        warmup,
                        Duration::from_millis(500),
                        server.pid(),
                    );
                }
            }
        }
        for (m, per_photo) in requests.iter().enumerate() {
            for (p, per_server) in per_photo.iter().enumerate() {
                for &clients in &args.concurrency {
                    let turns = if clients == 1 {
                        args.one_client_turns.max(1)
                    } else {
                        1
                    };
                    for turn in 0..turns {
                        for step in 0..sides.len() {
                            let s = (step + round + turn) % sides.len();
                            let (recorder, elapsed, usage) = generator.closed_loop_sampled(
                                &per_server[s],
                                clients,
                                warmup,
                                slice / turns as u32,
                                servers[s].pid(),
                            );
                            let total = totals.entry((m, p, clients, s)).or_default();
                            total.recorder.merge(&recorder);
                            total.elapsed += elapsed;
                            total.cpu_seconds += usage.cpu_seconds;
                        }
                    }
                }
            }
        }
        drop(servers);
        eprintln!("round {} of {} done", round + 1, args.rounds.max(1));
    }

    let mut rows = Vec::new();
    for ((m, p, clients, s), total) in &totals {
        let answers = total.recorder.successes();
        let latency = total.recorder.latency();
        rows.push(Row {
            model: models[*m].name.clone(),
            photo: photos[*p].resolution.to_string(),
            clients: *clients,
            side: sides[*s].name.clone(),
            infer_per_s: answers as f64 / total.elapsed.as_secs_f64(),
            p50_ms: latency.p50_ms,
            p99_ms: latency.p99_ms,
            cpu_ms_per_infer: total.cpu_seconds * 1000.0 / answers.max(1) as f64,
            errors: total.recorder.errors().values().sum(),
        });
    }
    let verdicts = verdicts(
        &rows,
        &sides[0].name,
        args.tolerance,
        Some(args.cpu_clients),
    );
    let table = markdown(&rows, &idle, &verdicts);
    print!("{table}");
    let out = args
        .out
        .unwrap_or_else(|| root.join("target/bench-report/scheduling"));
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("scheduling.md"), &table)?;
    std::fs::write(
        out.join("scheduling.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "cpus": cpus,
            "rows": rows,
            "idle_rss_mib": idle,
            "verdicts": verdicts,
        }))?,
    )?;
    if rows.iter().any(|r| r.errors > 0) {
        bail!("some requests failed");
    }
    let missed: Vec<&Verdict> = verdicts.iter().filter(|v| !v.pass).collect();
    if args.enforce_gates && !missed.is_empty() {
        for v in &missed {
            eprintln!(
                "gate: {} {} {} clients: the default's {} is {:.3} of the best fixed ({}), under {:.2}",
                v.model,
                v.photo,
                v.clients,
                v.measure,
                v.ratio,
                v.best_side,
                1.0 - args.tolerance
            );
        }
        bail!(
            "the default missed {} of {} points",
            missed.len(),
            verdicts.len()
        );
    }
    Ok(())
}
