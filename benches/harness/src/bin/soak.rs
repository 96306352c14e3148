//! `outpost-bench-soak`: the server under a steady mix for a given time, watched for leaks.
//!
//! One server (the bundled classifier and detector, plus copies of the classifier that forward
//! their answers through the outbox, that prefer an upstream, and that are unloaded and loaded
//! again every minute, `--cycle-seconds`) takes, at a fixed rate from four clients: V2 JSON and binary requests,
//! gRPC `ModelInfer`, camera photos to both models, and malformed requests (truncated JSON, a
//! wrong header length, an unknown model, a wrong input name over gRPC). The upstream, a second
//! server, is stopped and started again every 30 s (`--flip-seconds`); the outbox uploads to a
//! folder. Every few
//! seconds the server's resident memory, open file descriptors and threads are sampled.
//!
//! Reported: the resident memory's slope after the warm-up (least squares over the samples, in
//! MiB per hour), the same with each stretch between two reloads on a level of its own (a reload
//! moves the level by up to about 20 MiB either way, which a few minutes' overall slope cannot
//! tell from a leak; a leak grows between reloads too), the spread of descriptors and threads
//! after the warm-up, and every request kind's answers against what it should get. Fails when a
//! slope is over its bound, the descriptors or threads drift, any answer is other than
//! expected, the outbox uploaded nothing, or the upstream never answered (or never failed over
//! to the local model).
//!
//! ```text
//! cargo build --release -p outpost -p outpost-bench
//! target/release/outpost-bench-soak --outpost target/release/outpost --minutes 60
//! ```

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Parser;
use outpost_bench::load::RequestTemplate;
use outpost_bench::procfs;
use outpost_bench::run::{self, repo_root};
use outpost_bench::targets::{camera_request, http_get_status, infer_request, Protocol};
use outpost_core::{InferRequest, NamedTensor};
use outpost_protocol::grpc::client::encode_model_infer_request;
use outpost_protocol::grpc::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use outpost_testkit::TestServer;
use reqwest::header::HeaderValue;
use serde::Serialize;

const TOKEN: &str = "soak-control-token";
const CLASSIFIER: &str = "mobilenet_v2_int8";
const DETECTOR: &str = "ssd_mobilenet_v1_coco";
/// The classifier's copy whose answers go through the outbox.
const FORWARDING: &str = "forwarding";
/// The classifier's copy that prefers the upstream.
const CLOUD: &str = "cloud";
/// The classifier's copy unloaded and loaded again every minute.
const CYCLED: &str = "cycled";
const CLIENTS: usize = 4;

#[derive(Parser, Debug)]
#[command(
    name = "outpost-bench-soak",
    about = "The server under a steady mix, watched for leaks"
)]
struct Args {
    /// The `outpost` binary [default: target/release/outpost].
    #[arg(long)]
    outpost: Option<PathBuf>,
    /// Minutes the mix runs.
    #[arg(long, default_value_t = 60.0)]
    minutes: f64,
    /// Minutes left out of the slope at the start.
    #[arg(long, default_value_t = 5.0)]
    warmup_minutes: f64,
    /// Requests a second, all kinds together.
    #[arg(long, default_value_t = 40.0)]
    rate: f64,
    /// Seconds between unloading and loading the cycled model again.
    #[arg(long, default_value_t = 60.0)]
    cycle_seconds: f64,
    /// Seconds between stopping and starting the upstream.
    #[arg(long, default_value_t = 30.0)]
    flip_seconds: f64,
    /// Seconds between samples of memory, descriptors and threads.
    #[arg(long, default_value_t = 5.0)]
    sample_seconds: f64,
    /// Most resident-memory growth after the warm-up, MiB per hour (least squares over every
    /// sample); `inf` for none.
    #[arg(long, default_value_t = 1.0)]
    max_rss_slope_mib_per_hour: f64,
    /// Most resident-memory growth between reloads of the cycled model, MiB per hour: least
    /// squares with each stretch between two reloads on a level of its own (a reload moves the
    /// level by up to about 20 MiB, up or down, which a short run's overall slope cannot tell
    /// from a leak).
    #[arg(long, default_value_t = 150.0)]
    max_rss_slope_between_reloads_mib_per_hour: f64,
    /// Most difference between the most and fewest open descriptors after the warm-up.
    #[arg(long, default_value_t = 16)]
    max_fd_spread: u64,
    /// Most difference between the most and fewest threads after the warm-up.
    #[arg(long, default_value_t = 4)]
    max_thread_spread: u64,
    /// Where to write soak.json and soak.md [default: target/bench-report/soak].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// One kind of request in the mix and the answers it may get.
struct Kind {
    name: &'static str,
    send: Outgoing,
    expected: &'static [u16],
}

/// What a kind sends.
enum Outgoing {
    Http(RequestTemplate),
    Grpc(outpost_protocol::grpc::inference::ModelInferRequest),
}

#[derive(Debug, Default, Serialize, Clone)]
struct Tally {
    sent: u64,
    expected: u64,
    unexpected: u64,
    /// Answers by status (HTTP status, or 1000 + the gRPC code).
    by_status: BTreeMap<u16, u64>,
    /// `outpost-served-by` of the answers that had one.
    served_by: BTreeMap<String, u64>,
    first_unexpected: Vec<String>,
}

#[derive(Debug, Serialize, Clone, Copy)]
struct Sample {
    seconds: f64,
    /// `VmRSS`: all resident memory.
    resident_kib: u64,
    /// `RssAnon`: the heaps and other anonymous memory, where a leak shows.
    anonymous_kib: u64,
    /// `RssFile`: resident pages of mapped files (the libraries' code), which the kernel may
    /// drop and read again.
    file_kib: u64,
    /// ONNX Runtime's shared CPU arena: blocks in use and freed blocks kept for reuse (from
    /// the server's metrics), part of `anonymous_kib`.
    arena_kib: u64,
    /// Runtime sessions the loaded models hold (`outpost_model_sessions`, all models): parallel
    /// sessions made and dropped move the memory by whole sessions.
    sessions: u64,
    /// What the C allocator holds (`outpost_allocator_*_bytes`, glibc's `mallinfo2`): blocks
    /// handed out and not had back (the live heap, the arena's blocks among them), and freed
    /// blocks it keeps. Live bytes flat while the resident memory climbs is the allocator's
    /// fragmentation, not a leak; 0 where the server does not report them.
    allocator_in_use_kib: u64,
    allocator_free_kib: u64,
    fds: u64,
    threads: u64,
}

#[derive(Serialize)]
struct Report {
    minutes: f64,
    warmup_minutes: f64,
    rate_per_s: f64,
    rss_slope_mib_per_hour: f64,
    /// The slope with each stretch between reloads on its own level.
    rss_slope_between_reloads_mib_per_hour: f64,
    /// The slope with the samples of each count of runtime sessions on their own level.
    rss_slope_per_session_count_mib_per_hour: f64,
    /// When each reload of the cycled model began and ended, seconds from the start.
    reloads: Vec<(f64, f64)>,
    /// The slope of `RssAnon` alone.
    anonymous_slope_mib_per_hour: f64,
    /// Of the anonymous memory, ONNX Runtime's shared CPU arena and everything else.
    arena_slope_mib_per_hour: f64,
    outside_arena_slope_mib_per_hour: f64,
    /// The slopes of the C allocator's live bytes and of the freed bytes it keeps.
    allocator_in_use_slope_mib_per_hour: f64,
    allocator_free_slope_mib_per_hour: f64,
    /// The slope of `RssFile` alone.
    file_slope_mib_per_hour: f64,
    rss_first_mib: f64,
    rss_last_mib: f64,
    fd_range: (u64, u64),
    thread_range: (u64, u64),
    session_range: (u64, u64),
    upstream_flips: u64,
    model_cycles: u64,
    outbox_uploaded_records: f64,
    kinds: BTreeMap<String, Tally>,
    samples: Vec<Sample>,
    failures: Vec<String>,
}

/// A loopback port nothing listens on now (bound, then released).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The soak's repository: the bundled models, and the classifier's copies with their settings.
fn write_soak_repository(root: &Path, repo: &Path, upstream_port: u16) -> anyhow::Result<()> {
    let models = root.join("models");
    copy_dir(&models.join(CLASSIFIER), &repo.join(CLASSIFIER))?;
    copy_dir(&models.join(DETECTOR), &repo.join(DETECTOR))?;
    let classifier_toml = std::fs::read_to_string(models.join(CLASSIFIER).join("model.toml"))?;
    for (name, before, after) in [
        (FORWARDING, "forward = \"results\"\n", String::new()),
        (
            CLOUD,
            "",
            format!(
                "\n[upstream]\nurl = \"http://127.0.0.1:{upstream_port}\"\nmodel = \"{CLASSIFIER}\"\n\
                 policy = \"prefer_upstream\"\ntimeout_ms = 1000\nfailures_to_open = 2\n\
                 probe_interval_ms = 2000\n"
            ),
        ),
        (CYCLED, "", String::new()),
    ] {
        copy_dir(&models.join(CLASSIFIER), &repo.join(name))?;
        std::fs::write(
            repo.join(name).join("model.toml"),
            format!("{before}{classifier_toml}{after}"),
        )?;
    }
    Ok(())
}

/// The upstream: a second server on the bundled models, on a fixed port so that it can come
/// back where the soak's server expects it.
struct Upstream {
    binary: PathBuf,
    repository: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Upstream {
    fn start(&mut self) -> anyhow::Result<()> {
        let child = Command::new(&self.binary)
            .args(["serve", "--http-host", "127.0.0.1", "--http-port"])
            .arg(self.port.to_string())
            .args([
                "--grpc-enabled",
                "false",
                "--log-level",
                "error",
                "--model-repository",
            ])
            .arg(&self.repository)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the upstream")?;
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_get_status(&addr, "/v2/health/ready") != Some(200) {
            if Instant::now() > deadline {
                bail!("the upstream did not become ready");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop();
    }
}

fn count_entries(path: &str) -> u64 {
    std::fs::read_dir(path).map_or(0, |d| d.count() as u64)
}

fn threads(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The process's memory, descriptors and threads now, and what its metrics say the CPU arena
/// holds (`metrics`: the text of `/metrics` read just before).
fn sample(pid: u32, started: Instant, metrics: &str) -> Sample {
    let arena_bytes = [
        "outpost_ort_cpu_arena_in_use_bytes",
        "outpost_ort_cpu_arena_kept_bytes",
    ]
    .iter()
    .filter_map(|name| gauge(metrics, name))
    .sum::<f64>();
    let kib = |name: &str| (gauge(metrics, name).unwrap_or(0.0) / 1024.0) as u64;
    Sample {
        seconds: started.elapsed().as_secs_f64(),
        resident_kib: procfs::resident_kib(pid).unwrap_or(0),
        anonymous_kib: procfs::status_kib(pid, "RssAnon:").unwrap_or(0),
        file_kib: procfs::status_kib(pid, "RssFile:").unwrap_or(0),
        arena_kib: (arena_bytes / 1024.0) as u64,
        sessions: labelled_sum(metrics, "outpost_model_sessions") as u64,
        allocator_in_use_kib: kib("outpost_allocator_in_use_bytes"),
        allocator_free_kib: kib("outpost_allocator_free_bytes"),
        fds: count_entries(&format!("/proc/{pid}/fd")),
        threads: threads(pid),
    }
}

/// The value of an unlabelled metric in the server's `/metrics` text.
fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}

/// The sum of every series of a labelled metric in the server's `/metrics` text.
fn labelled_sum(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix('{')?;
            let (_labels, value) = rest.rsplit_once("} ")?;
            value.trim().parse::<f64>().ok()
        })
        .sum()
}

/// The server's `/metrics` text; empty when it does not answer (the sample then counts no
/// arena).
async fn read_metrics(http: &reqwest::Client, base_url: &str) -> String {
    match http.get(format!("{base_url}/metrics")).send().await {
        Ok(answer) => answer.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Seconds after a reload before its stretch's samples count: the old version's last requests,
/// the new one's first runs and the runtime's idle release settle.
const RELOAD_SETTLE_SECONDS: f64 = 5.0;

/// Least-squares slope of resident memory with each stretch between two reloads on a level of
/// its own (pooled within the stretches), KiB a second; 0 without two samples in a stretch.
fn slope_between_reloads_kib_per_s(samples: &[Sample], reloads: &[(f64, f64)]) -> f64 {
    let mut stretches: BTreeMap<usize, Vec<Sample>> = BTreeMap::new();
    for sample in samples {
        // The stretch after the last reload that began before this sample.
        let stretch = reloads.partition_point(|(began, _)| *began <= sample.seconds);
        let settling = stretch
            .checked_sub(1)
            .is_some_and(|last| sample.seconds < reloads[last].1 + RELOAD_SETTLE_SECONDS);
        if !settling {
            stretches.entry(stretch).or_default().push(*sample);
        }
    }
    pooled_slope_kib_per_s(stretches.values())
}

/// The resident memory's slope with the samples of each count of runtime sessions on a level
/// of their own: a parallel session made or dropped moves the level by a whole session, which
/// is no growth; what the memory does at the same sessions over time is.
fn slope_at_each_session_count_kib_per_s(samples: &[Sample]) -> f64 {
    let mut groups: BTreeMap<u64, Vec<Sample>> = BTreeMap::new();
    for sample in samples {
        groups.entry(sample.sessions).or_default().push(*sample);
    }
    pooled_slope_kib_per_s(groups.values())
}

/// The resident memory's slope within groups of samples, pooled: each group has its own level.
fn pooled_slope_kib_per_s<'a>(groups: impl Iterator<Item = &'a Vec<Sample>>) -> f64 {
    let (mut covariance, mut variance) = (0.0, 0.0);
    for group in groups.filter(|g| g.len() >= 2) {
        let n = group.len() as f64;
        let mean_t = group.iter().map(|s| s.seconds).sum::<f64>() / n;
        let mean_r = group.iter().map(|s| s.resident_kib as f64).sum::<f64>() / n;
        for s in group {
            covariance += (s.seconds - mean_t) * (s.resident_kib as f64 - mean_r);
            variance += (s.seconds - mean_t).powi(2);
        }
    }
    if variance == 0.0 {
        0.0
    } else {
        covariance / variance
    }
}

/// Least-squares slope of one memory figure over time, KiB a second.
fn slope_kib_per_s(samples: &[Sample], kib: fn(&Sample) -> u64) -> f64 {
    let n = samples.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mean_t = samples.iter().map(|s| s.seconds).sum::<f64>() / n;
    let mean_r = samples.iter().map(|s| kib(s) as f64).sum::<f64>() / n;
    let covariance: f64 = samples
        .iter()
        .map(|s| (s.seconds - mean_t) * (kib(s) as f64 - mean_r))
        .sum();
    let variance: f64 = samples.iter().map(|s| (s.seconds - mean_t).powi(2)).sum();
    if variance == 0.0 {
        0.0
    } else {
        covariance / variance
    }
}

fn kinds(base_url: &str, input: &NamedTensor, root: &Path) -> anyhow::Result<Vec<Kind>> {
    let pets = std::fs::read(root.join("tests/fixtures/images/pets.jpg"))?;
    let street = std::fs::read(root.join("tests/fixtures/images/street.jpg"))?;
    let binary =
        |model: &str| infer_request(base_url, model, input, "probabilities", Protocol::Binary);
    let mut truncated = infer_request(base_url, CLASSIFIER, input, "probabilities", Protocol::Json);
    truncated.body = truncated.body.slice(..truncated.body.len() / 2);
    let mut wrong_length = binary(CLASSIFIER);
    wrong_length.headers.insert(
        "Inference-Header-Content-Length",
        HeaderValue::from(wrong_length.body.len() + 10),
    );
    let unknown = binary("no_such_model");
    let request = InferRequest {
        id: None,
        inputs: vec![input.clone()],
        outputs: None,
    };
    let grpc = encode_model_infer_request(&request, CLASSIFIER, "");
    let mut wrong_input = request.clone();
    wrong_input.inputs[0].name = "not_an_input".into();
    let grpc_wrong = encode_model_infer_request(&wrong_input, CLASSIFIER, "");
    // gRPC codes count as 1000 + code: 0 OK, 3 INVALID_ARGUMENT.
    Ok(vec![
        Kind {
            name: "json",
            send: Outgoing::Http(infer_request(
                base_url,
                CLASSIFIER,
                input,
                "probabilities",
                Protocol::Json,
            )),
            expected: &[200],
        },
        Kind {
            name: "binary",
            send: Outgoing::Http(binary(CLASSIFIER)),
            expected: &[200],
        },
        Kind {
            name: "grpc",
            send: Outgoing::Grpc(grpc),
            expected: &[1000],
        },
        Kind {
            name: "camera classifier",
            send: Outgoing::Http(camera_request(base_url, CLASSIFIER, &pets)),
            expected: &[200],
        },
        Kind {
            name: "camera detector",
            send: Outgoing::Http(camera_request(base_url, DETECTOR, &street)),
            expected: &[200],
        },
        Kind {
            name: "forwarded",
            send: Outgoing::Http(binary(FORWARDING)),
            expected: &[200],
        },
        Kind {
            name: "upstream first",
            send: Outgoing::Http(binary(CLOUD)),
            expected: &[200],
        },
        // Unloaded every `--cycle-seconds`: 404 or 503 while it is away.
        Kind {
            name: "cycled model",
            send: Outgoing::Http(binary(CYCLED)),
            expected: &[200, 404, 503],
        },
        Kind {
            name: "truncated json",
            send: Outgoing::Http(truncated),
            expected: &[400],
        },
        Kind {
            name: "wrong header length",
            send: Outgoing::Http(wrong_length),
            expected: &[400],
        },
        Kind {
            name: "unknown model",
            send: Outgoing::Http(unknown),
            expected: &[404],
        },
        Kind {
            name: "grpc wrong input",
            send: Outgoing::Grpc(grpc_wrong),
            expected: &[1003],
        },
    ])
}

/// Sends one request of `kind`; its status (HTTP, or 1000 + gRPC code) and who served it.
async fn send_one(
    http: &reqwest::Client,
    grpc: &mut GrpcInferenceServiceClient<tonic::transport::Channel>,
    kind: &Kind,
) -> (u16, Option<String>, String) {
    match &kind.send {
        Outgoing::Http(template) => {
            let answer = http
                .request(template.method.clone(), &template.url)
                .headers(template.headers.clone())
                .body(template.body.clone())
                .send()
                .await;
            match answer {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let served_by = response
                        .headers()
                        .get("outpost-served-by")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let body = response.bytes().await.unwrap_or_else(|_| Bytes::new());
                    let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                    (status, served_by, text)
                }
                Err(error) => (0, None, error.to_string()),
            }
        }
        Outgoing::Grpc(request) => match grpc.model_infer(request.clone()).await {
            Ok(_) => (1000, None, String::new()),
            Err(status) => (
                1000 + (status.code() as i32) as u16,
                None,
                status.message().chars().take(200).collect(),
            ),
        },
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let root = repo_root();
    let outpost = run::outpost_binary(&root, args.outpost.clone()).map_err(anyhow::Error::msg)?;
    let input = run::read_input(&run::default_input(&root)).map_err(anyhow::Error::msg)?;
    let dir = tempfile::tempdir()?;
    let upstream_port = free_port()?;
    let repo = dir.path().join("repo");
    write_soak_repository(&root, &repo, upstream_port)?;
    let uploads = dir.path().join("uploads");
    std::fs::create_dir_all(&uploads)?;
    let config = dir.path().join("outpost.toml");
    std::fs::write(
        &config,
        format!(
            "[outbox]\npath = \"{}\"\ndestination = \"file://{}\"\nupload_interval_secs = 5\n",
            dir.path().join("outbox.db").display(),
            uploads.display()
        ),
    )?;
    let mut upstream = Upstream {
        binary: outpost.clone(),
        repository: root.join("models"),
        port: upstream_port,
        child: None,
    };
    upstream.start()?;
    let config_arg = config.display().to_string();
    let server = TestServer::start_with_env(
        &outpost,
        &repo,
        &[
            "--config",
            &config_arg,
            "--log-level",
            "warn",
            "--model-control-mode",
            "explicit",
        ],
        &[("OUTPOST_CONTROL_TOKEN", TOKEN)],
    )?;
    let pid = server.pid();
    let grpc_addr = server.grpc_addr.context("the server's gRPC listener")?;
    let kinds = kinds(&server.base_url, &input, &root)?;
    let duration = Duration::from_secs_f64(args.minutes * 60.0);
    let warmup = args.warmup_minutes * 60.0;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (tallies, samples, flips, reloads, uploaded) = runtime.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc_addr}"))?
            .connect()
            .await?;
        let deadline = started + duration;
        let interval = Duration::from_secs_f64(CLIENTS as f64 / args.rate);
        let kinds = std::sync::Arc::new(kinds);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let (http, kinds) = (http.clone(), kinds.clone());
                let mut grpc = GrpcInferenceServiceClient::new(channel.clone())
                    .max_decoding_message_size(64 << 20);
                tokio::spawn(async move {
                    let mut tallies: Vec<Tally> = vec![Tally::default(); kinds.len()];
                    let mut next = tokio::time::Instant::now();
                    let mut index = client;
                    while Instant::now() < deadline {
                        tokio::time::sleep_until(next).await;
                        next += interval;
                        let kind = &kinds[index % kinds.len()];
                        let tally = &mut tallies[index % kinds.len()];
                        index += 1;
                        let (status, served_by, text) = send_one(&http, &mut grpc, kind).await;
                        tally.sent += 1;
                        *tally.by_status.entry(status).or_default() += 1;
                        if let Some(by) = served_by {
                            *tally.served_by.entry(by).or_default() += 1;
                        }
                        if kind.expected.contains(&status) {
                            tally.expected += 1;
                        } else {
                            tally.unexpected += 1;
                            if tally.first_unexpected.len() < 3 {
                                tally.first_unexpected.push(format!("{status}: {text}"));
                            }
                        }
                    }
                    tallies
                })
            })
            .collect();
        // The upstream goes down and up, the cycled model out and in, memory is sampled.
        let mut samples = Vec::new();
        let mut flips = 0u64;
        let mut reloads: Vec<(f64, f64)> = Vec::new();
        let mut next_sample = Instant::now();
        let flip_every = Duration::from_secs_f64(args.flip_seconds);
        let cycle_every = Duration::from_secs_f64(args.cycle_seconds);
        let mut next_flip = Instant::now() + flip_every;
        let mut next_cycle = Instant::now() + cycle_every;
        let control =
            |action: &str| format!("{}/v2/repository/models/{CYCLED}/{action}", server.base_url);
        while Instant::now() < deadline {
            let now = Instant::now();
            if now >= next_sample {
                let metrics = read_metrics(&http, &server.base_url).await;
                samples.push(sample(pid, started, &metrics));
                next_sample += Duration::from_secs_f64(args.sample_seconds);
            }
            if now >= next_flip {
                if upstream.child.is_some() {
                    upstream.stop();
                } else {
                    upstream.start()?;
                }
                flips += 1;
                next_flip += flip_every;
            }
            if now >= next_cycle {
                for action in ["unload", "load"] {
                    let answer = http.post(control(action)).bearer_auth(TOKEN).send().await?;
                    if !answer.status().is_success() {
                        bail!("{action} of {CYCLED}: {}", answer.status());
                    }
                }
                reloads.push((
                    now.duration_since(started).as_secs_f64(),
                    started.elapsed().as_secs_f64(),
                ));
                next_cycle += cycle_every;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut tallies: Vec<Tally> = vec![Tally::default(); kinds.len()];
        for client in clients {
            for (total, own) in tallies.iter_mut().zip(client.await?) {
                total.sent += own.sent;
                total.expected += own.expected;
                total.unexpected += own.unexpected;
                for (status, n) in own.by_status {
                    *total.by_status.entry(status).or_default() += n;
                }
                for (by, n) in own.served_by {
                    *total.served_by.entry(by).or_default() += n;
                }
                total.first_unexpected.extend(own.first_unexpected);
            }
        }
        // The outbox's uploads, from the server's own metrics.
        let metrics = http
            .get(format!("{}/metrics", server.base_url))
            .send()
            .await?
            .text()
            .await?;
        samples.push(sample(pid, started, &metrics));
        let uploaded = gauge(&metrics, "outpost_outbox_uploaded_records_total").unwrap_or(0.0);
        let named: BTreeMap<String, Tally> = kinds
            .iter()
            .map(|k| k.name.to_string())
            .zip(tallies)
            .collect();
        Ok::<_, anyhow::Error>((named, samples, flips, reloads, uploaded))
    })?;
    drop(server);
    upstream.stop();

    let after_warmup: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.seconds >= warmup)
        .collect();
    let per_hour = |kib: fn(&Sample) -> u64| slope_kib_per_s(&after_warmup, kib) * 3600.0 / 1024.0;
    let slope = per_hour(|s| s.resident_kib);
    let (anonymous_slope, file_slope) = (per_hour(|s| s.anonymous_kib), per_hour(|s| s.file_kib));
    let arena_slope = per_hour(|s| s.arena_kib);
    let outside_arena_slope = per_hour(|s| s.anonymous_kib.saturating_sub(s.arena_kib));
    let allocator_in_use_slope = per_hour(|s| s.allocator_in_use_kib);
    let allocator_free_slope = per_hour(|s| s.allocator_free_kib);
    let range = |f: fn(&Sample) -> u64| {
        let values: Vec<u64> = after_warmup.iter().map(f).collect();
        (
            values.iter().copied().min().unwrap_or(0),
            values.iter().copied().max().unwrap_or(0),
        )
    };
    let (fd_range, thread_range) = (range(|s| s.fds), range(|s| s.threads));
    let session_range = range(|s| s.sessions);
    let mut failures = Vec::new();
    if after_warmup.len() < 3 {
        failures.push(format!(
            "only {} samples after the warm-up",
            after_warmup.len()
        ));
    }
    let between_reloads =
        slope_between_reloads_kib_per_s(&after_warmup, &reloads) * 3600.0 / 1024.0;
    let per_session_count = slope_at_each_session_count_kib_per_s(&after_warmup) * 3600.0 / 1024.0;
    if between_reloads > args.max_rss_slope_between_reloads_mib_per_hour {
        failures.push(format!(
            "resident memory grew {between_reloads:.2} MiB/h between reloads (bound {})",
            args.max_rss_slope_between_reloads_mib_per_hour
        ));
    }
    if slope > args.max_rss_slope_mib_per_hour {
        failures.push(format!(
            "resident memory grew {slope:.2} MiB/h after the warm-up (bound {})",
            args.max_rss_slope_mib_per_hour
        ));
    }
    if fd_range.1 - fd_range.0 > args.max_fd_spread {
        failures.push(format!("open descriptors ranged {fd_range:?}"));
    }
    if thread_range.1 - thread_range.0 > args.max_thread_spread {
        failures.push(format!("threads ranged {thread_range:?}"));
    }
    for (name, tally) in &tallies {
        if tally.unexpected > 0 || tally.sent == 0 {
            failures.push(format!(
                "{name}: {} of {} answers unexpected: {:?}",
                tally.unexpected, tally.sent, tally.first_unexpected
            ));
        }
    }
    let cloud = &tallies["upstream first"].served_by;
    if flips >= 2 && (cloud.get("upstream").is_none() || cloud.get("local").is_none()) {
        failures.push(format!(
            "the upstream's ups and downs did not show: {cloud:?}"
        ));
    }
    if uploaded <= 0.0 {
        failures.push("the outbox uploaded no record".into());
    }
    let first = samples.first().map_or(0, |s| s.resident_kib) as f64 / 1024.0;
    let last = samples.last().map_or(0, |s| s.resident_kib) as f64 / 1024.0;
    let report = Report {
        minutes: args.minutes,
        warmup_minutes: args.warmup_minutes,
        rate_per_s: args.rate,
        rss_slope_mib_per_hour: slope,
        rss_slope_between_reloads_mib_per_hour: between_reloads,
        rss_slope_per_session_count_mib_per_hour: per_session_count,
        anonymous_slope_mib_per_hour: anonymous_slope,
        arena_slope_mib_per_hour: arena_slope,
        outside_arena_slope_mib_per_hour: outside_arena_slope,
        allocator_in_use_slope_mib_per_hour: allocator_in_use_slope,
        allocator_free_slope_mib_per_hour: allocator_free_slope,
        file_slope_mib_per_hour: file_slope,
        rss_first_mib: first,
        rss_last_mib: last,
        fd_range,
        thread_range,
        session_range,
        upstream_flips: flips,
        model_cycles: reloads.len() as u64,
        reloads,
        outbox_uploaded_records: uploaded,
        kinds: tallies,
        samples,
        failures,
    };
    let out = args
        .out
        .unwrap_or_else(|| root.join("target/bench-report/soak"));
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("soak.json"), serde_json::to_vec_pretty(&report)?)?;
    let markdown = markdown(&report);
    std::fs::write(out.join("soak.md"), &markdown)?;
    print!("{markdown}");
    if !report.failures.is_empty() {
        bail!("soak failed: {}", report.failures.join("; "));
    }
    Ok(())
}

fn markdown(report: &Report) -> String {
    let mut text = format!(
        "## Soak: {:.1} min at {:.0} requests/s (warm-up {:.1} min left out)\n\n\
         | figure | value |\n|---|---|\n\
         | resident memory slope after the warm-up | {:.2} MiB/h |\n\
         | the same between reloads (each stretch on its own level) | {:.2} MiB/h |\n\
         | the same at each count of runtime sessions (each count on its own level) | {:.2} MiB/h |\n\
         | of which anonymous (heaps) and mapped files | {:.2} MiB/h, {:.2} MiB/h |\n\
         | of the anonymous, ONNX Runtime's CPU arena (in use and kept) and the rest | {:.2} MiB/h, {:.2} MiB/h |\n\
         | the C allocator's live bytes and the freed bytes it keeps | {:.2} MiB/h, {:.2} MiB/h |\n\
         | resident memory, first and last sample | {:.1} MiB, {:.1} MiB |\n\
         | open descriptors after the warm-up | {}-{} |\n\
         | threads after the warm-up | {}-{} |\n\
         | runtime sessions after the warm-up | {}-{} |\n\
         | upstream stopped or started | {} times |\n\
         | model unloaded and loaded | {} times |\n\
         | records the outbox uploaded | {:.0} |\n\n\
         | request | sent | as expected | unexpected | answers | served by |\n|---|---|---|---|---|---|\n",
        report.minutes,
        report.rate_per_s,
        report.warmup_minutes,
        report.rss_slope_mib_per_hour,
        report.rss_slope_between_reloads_mib_per_hour,
        report.rss_slope_per_session_count_mib_per_hour,
        report.anonymous_slope_mib_per_hour,
        report.file_slope_mib_per_hour,
        report.arena_slope_mib_per_hour,
        report.outside_arena_slope_mib_per_hour,
        report.allocator_in_use_slope_mib_per_hour,
        report.allocator_free_slope_mib_per_hour,
        report.rss_first_mib,
        report.rss_last_mib,
        report.fd_range.0,
        report.fd_range.1,
        report.thread_range.0,
        report.thread_range.1,
        report.session_range.0,
        report.session_range.1,
        report.upstream_flips,
        report.model_cycles,
        report.outbox_uploaded_records,
    );
    for (name, tally) in &report.kinds {
        text.push_str(&format!(
            "| {name} | {} | {} | {} | {:?} | {:?} |\n",
            tally.sent, tally.expected, tally.unexpected, tally.by_status, tally.served_by
        ));
    }
    if !report.failures.is_empty() {
        text.push_str(&format!("\nFailed: {}\n", report.failures.join("; ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(levels: &[(f64, u64)]) -> Vec<Sample> {
        with_sessions(&levels.iter().map(|&(t, r)| (t, r, 0)).collect::<Vec<_>>())
    }

    fn with_sessions(levels: &[(f64, u64, u64)]) -> Vec<Sample> {
        levels
            .iter()
            .map(|&(seconds, resident_kib, sessions)| Sample {
                seconds,
                resident_kib,
                anonymous_kib: resident_kib,
                file_kib: 0,
                arena_kib: 0,
                sessions,
                allocator_in_use_kib: 0,
                allocator_free_kib: 0,
                fds: 0,
                threads: 0,
            })
            .collect()
    }

    #[test]
    fn sessions_are_summed_over_every_model() {
        let metrics = "# HELP outpost_model_sessions Runtime sessions\n\
             outpost_model_sessions{model=\"a\",version=\"1\"} 3\n\
             outpost_model_sessions{model=\"b\",version=\"2\"} 1\n\
             outpost_model_sessions_other 9\n";
        assert_eq!(labelled_sum(metrics, "outpost_model_sessions"), 4.0);
        assert_eq!(labelled_sum("", "outpost_model_sessions"), 0.0);
    }

    #[test]
    fn sessions_made_and_dropped_are_no_slope_but_growth_at_the_same_count_is() {
        let mut stepped = Vec::new();
        let mut growing = Vec::new();
        for i in 0..60 {
            let t = f64::from(i) * 5.0;
            // Two more sessions (12 MiB) from the first minute on, gone again for a minute.
            let sessions = if (60.0..300.0).contains(&t) && !(120.0..180.0).contains(&t) {
                9
            } else {
                7
            };
            let level = 100_000 + (sessions - 7) * 6_144;
            stepped.push((t, level, sessions));
            growing.push((t, level + (t * 2.0) as u64, sessions));
        }
        let flat = slope_at_each_session_count_kib_per_s(&with_sessions(&stepped));
        assert!(flat.abs() < 1e-9, "{flat}");
        assert!(slope_kib_per_s(&with_sessions(&stepped), |s| s.resident_kib).abs() > 10.0);
        let leak = slope_at_each_session_count_kib_per_s(&with_sessions(&growing));
        assert!((leak - 2.0).abs() < 1e-6, "{leak}");
    }

    #[test]
    fn steps_at_reloads_are_no_slope_between_them_but_growth_is() {
        let reloads = [(60.0, 61.0), (120.0, 121.0)];
        let mut stepped = Vec::new();
        let mut growing = Vec::new();
        for i in 0..36 {
            let t = f64::from(i) * 5.0;
            let level = [100_000, 120_000, 90_000][(t / 60.0) as usize];
            stepped.push((t, level));
            growing.push((t, level + (t * 10.0) as u64));
        }
        let flat = slope_between_reloads_kib_per_s(&samples(&stepped), &reloads);
        assert!(flat.abs() < 1e-9, "{flat}");
        assert!(slope_kib_per_s(&samples(&stepped), |s| s.resident_kib).abs() > 10.0);
        let leak = slope_between_reloads_kib_per_s(&samples(&growing), &reloads);
        assert!((leak - 10.0).abs() < 1e-6, "{leak}");
    }
}
