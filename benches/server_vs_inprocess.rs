//! Server overhead benchmark: `outpost serve` on loopback against an in-process ONNX Runtime
//! session on the same model, input and thread count, measured in the same run. Then ONNX
//! Runtime against tract, in process, for every fixture model.
//!
//! Run: `cargo bench --bench server_vs_inprocess` (options after `--`: `--iterations N`,
//! `--threads N`, `--no-pin`, `--provider NAME` to run the model on that execution provider,
//! strict, on both sides, from its ONNX Runtime build (`cuda` and `tensorrt`: the GPU build;
//! `openvino`), which skips the ONNX Runtime-against-tract part; `OUTPOST_BIN=PATH` measures another `outpost` binary, such as an
//! older build, with the same client and baseline). The client is sequential and speaks the binary tensor extension over one
//! keep-alive connection. The server and the in-process session run on the same CPU(s), the
//! last `--threads` ones; the client runs on the others. Samples alternate between the two sides one by one so that drift in
//! the machine's speed hits both. Target: p50(server) / p50(in-process) <= 1.10.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use outpost_backend_ort::{
    ExecutionProviderSpec, LibrarySearch, OrtBackend, OrtLibraryFlavour, OrtModelSettings,
};
use outpost_backend_tract::TractBackend;
use outpost_core::{Backend, LoadRequest, LoadedModel, ModelConfig, NamedTensor};
use outpost_testkit::fixtures::{
    model_file, repo_root, test_data_sets, write_repository, ONNX_FIXTURES,
};
use outpost_testkit::{read_tensor_file, TestServer};

const DEFAULT_MODEL: &str = "mobilenet_v2_1.0_224_int8_qdq";

struct Options {
    iterations: usize,
    threads: usize,
    pin: bool,
    /// The execution provider both sides run the model on, strict (`cpu` unless `--provider`).
    provider: ExecutionProviderSpec,
}

impl Options {
    /// The ONNX Runtime build that carries the provider (`ort.flavour`).
    fn flavour(&self) -> OrtLibraryFlavour {
        OrtLibraryFlavour::carrying(self.provider.kind)
    }

    /// The ONNX Runtime library the in-process side loads: the flavour's build alone, found as
    /// the server finds it.
    fn library_search(&self) -> LibrarySearch {
        let flavour = self.flavour();
        LibrarySearch {
            cache_folders: flavour.cache_folders(),
            beyond_the_cache: flavour.searches_beyond_the_cache(),
        }
    }
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: usize| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    Options {
        iterations: value("--iterations", 600),
        threads: value("--threads", 1),
        pin: !args.iter().any(|a| a == "--no-pin"),
        provider: args
            .iter()
            .position(|a| a == "--provider")
            .and_then(|i| args.get(i + 1))
            .map_or(Ok(ExecutionProviderSpec::CPU), |name| name.parse())
            .unwrap_or_else(|e| panic!("--provider: {e}")),
    }
}

/// CPUs this thread may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; the call gets a pointer to it and its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|cpu| libc::CPU_ISSET(*cpu, &set))
            .collect()
    }
}

/// Pins the calling thread (and processes it starts later) to `cpus`.
fn pin_current_thread(cpus: &[usize]) -> bool {
    // SAFETY: as above; the set is filled before the call.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in cpus {
            libc::CPU_SET(*cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw const set) == 0
    }
}

/// Where each side runs: the server and the in-process session share the same CPUs (so
/// they compute at the same speed), and the client has CPUs of its own, as a camera or app
/// would be another device.
struct Placement {
    client: Vec<usize>,
    compute: Vec<usize>,
}

fn placement(threads: usize) -> Option<Placement> {
    let allowed = allowed_cpus();
    if allowed.len() < threads + 1 {
        return None;
    }
    let (client, compute) = allowed.split_at(allowed.len() - threads);
    Some(Placement {
        client: client.to_vec(),
        compute: compute.to_vec(),
    })
}

/// Runs the in-process model on its own thread (pinned with the server when placed), timing
/// each inference inside that thread.
struct InProcessRunner {
    requests: std::sync::mpsc::Sender<()>,
    timings: std::sync::mpsc::Receiver<Duration>,
    _thread: std::thread::JoinHandle<()>,
}

impl InProcessRunner {
    fn start(model: Box<dyn LoadedModel>, input: NamedTensor, cpus: Option<Vec<usize>>) -> Self {
        let (requests, jobs) = std::sync::mpsc::channel::<()>();
        let (done, timings) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            if let Some(cpus) = cpus {
                pin_current_thread(&cpus);
            }
            for () in jobs {
                if done.send(run_once(model.as_ref(), &input)).is_err() {
                    break;
                }
            }
        });
        InProcessRunner {
            requests,
            timings,
            _thread: thread,
        }
    }

    /// One inference: its time inside the runner thread, and the time the hand-off to that
    /// thread and back took on top of it (mostly waking the runner's idle CPU).
    fn run_once(&self) -> (Duration, Duration) {
        let started = Instant::now();
        self.requests.send(()).expect("in-process runner alive");
        let inside = self.timings.recv().expect("in-process timing");
        (inside, started.elapsed().saturating_sub(inside))
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let rank = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[rank]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn reference_input(model: &str) -> NamedTensor {
    let (_, tensor) =
        read_tensor_file(&test_data_sets(model)[0].join("input_0.pb")).expect("reference input");
    NamedTensor::new("input", tensor)
}

fn load(
    backend: &dyn Backend,
    model: &str,
    threads: usize,
    provider: ExecutionProviderSpec,
) -> Box<dyn LoadedModel> {
    let settings = OrtModelSettings {
        execution_providers: vec![provider],
        ..OrtModelSettings::default()
    };
    let config = ModelConfig {
        runtime_settings: toml::Table::try_from(settings).expect("the settings are a table"),
        threads: outpost_core::model_config::ThreadConfig {
            intra_op: Some(threads),
            inter_op: Some(1),
        },
        ..ModelConfig::default()
    };
    let path = model_file(model);
    backend
        .load(&LoadRequest {
            model_name: model,
            model_path: &path,
            config: &config,
            scheduling: config.scheduling(threads, threads),
            memory: std::sync::Arc::new(outpost_core::UnlimitedMemory),
            parallel_idle_release: std::time::Duration::from_secs(60),
            at_work: outpost_core::WorkGauge::new(),
        })
        .unwrap_or_else(|e| panic!("{model}: {e}"))
}

fn run_once(model: &dyn LoadedModel, input: &NamedTensor) -> Duration {
    let spec = &model.signature().inputs[0];
    let named = NamedTensor::new(spec.name.clone(), input.tensor.clone());
    let outputs: Vec<String> = model
        .signature()
        .outputs
        .iter()
        .map(|o| o.name.clone())
        .collect();
    let started = Instant::now();
    model.infer(&[named], &outputs).expect("inference");
    started.elapsed()
}

/// A sequential V2 client over one keep-alive connection that busy-polls its socket instead
/// of sleeping: it has a CPU of its own, and its own wake-up latency is then not charged to
/// the server. It speaks just enough HTTP/1.1 for this: a fixed request, and answers with a
/// Content-Length.
struct SequentialClient {
    stream: std::net::TcpStream,
    request: Vec<u8>,
    answer: Vec<u8>,
}

impl SequentialClient {
    fn new(addr: std::net::SocketAddr, input: &NamedTensor) -> SequentialClient {
        let (body, json_len) =
            outpost_testkit::binary_infer_body(std::slice::from_ref(input), &["probabilities"]);
        let mut request = format!(
            "POST /v2/models/bench/infer HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nInference-Header-Content-Length: {json_len}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        let stream = std::net::TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream.set_nonblocking(true).expect("nonblocking");
        SequentialClient {
            stream,
            request,
            answer: Vec::with_capacity(64 * 1024),
        }
    }

    fn request_once(&mut self) -> Duration {
        use std::io::{ErrorKind, Read, Write};
        let started = Instant::now();
        let mut sent = 0;
        while sent < self.request.len() {
            match self.stream.write(&self.request[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) => panic!("send: {e}"),
            }
        }
        self.answer.clear();
        let mut chunk = [0u8; 16 * 1024];
        let mut expected: Option<usize> = None;
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("the server closed the connection"),
                Ok(n) => self.answer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::hint::spin_loop();
                    continue;
                }
                Err(e) => panic!("receive: {e}"),
            }
            if expected.is_none() {
                expected = parse_head(&self.answer);
            }
            if expected.is_some_and(|total| self.answer.len() >= total) {
                break;
            }
        }
        let elapsed = started.elapsed();
        assert!(
            self.answer.starts_with(b"HTTP/1.1 200"),
            "server answered {}",
            String::from_utf8_lossy(&self.answer[..self.answer.len().min(200)])
        );
        assert!(self.answer.len() > 4004);
        elapsed
    }
}

/// Total length (head plus body) of an HTTP answer once its head is complete.
fn parse_head(answer: &[u8]) -> Option<usize> {
    let head_end = answer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&answer[..head_end]).ok()?;
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    })?;
    Some(head_end + length)
}

fn server_vs_in_process(options: &Options) {
    let placed = if options.pin {
        placement(options.threads)
    } else {
        None
    };
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let config = format!(
        "backend = \"ort\"\nexecution_providers = [\"{}\"]\n[threads]\nintra_op = {}\ninter_op = 1\n",
        options.provider.kind.config_name(),
        options.threads
    );
    let model_path = model_file(DEFAULT_MODEL);
    write_repository(&repo, &[("bench", &model_path, &config)]);
    // The server inherits the CPUs of the thread that starts it.
    if let Some(placed) = &placed {
        pin_current_thread(&placed.compute);
    }
    // OUTPOST_BENCH_SERVER_LOG=outpost_engine=debug,warn shows the server's own timings.
    let log_level =
        std::env::var("OUTPOST_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".to_string());
    let binary = std::env::var_os("OUTPOST_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_outpost")),
        PathBuf::from,
    );
    let server = TestServer::start(
        &binary,
        &repo,
        &[
            "--log-level",
            &log_level,
            "--ort-flavour",
            &options.flavour().to_string(),
        ],
    )
    .expect("server starts");
    if let Some(placed) = &placed {
        pin_current_thread(&placed.client);
    }
    let input = reference_input(DEFAULT_MODEL);
    let mut client = SequentialClient::new(server.addr, &input);

    let ort = OrtBackend::new(
        None,
        options.library_search(),
        outpost_backend_ort::CpuArenaSettings::default(),
    )
    .expect("ONNX Runtime library (run scripts/fetch-onnxruntime.sh)");
    let local = InProcessRunner::start(
        load(&ort, DEFAULT_MODEL, options.threads, options.provider),
        input.clone(),
        placed.as_ref().map(|p| p.compute.clone()),
    );
    for _ in 0..30 {
        local.run_once();
        client.request_once();
    }
    // One sample of each side per step, in alternating order, so that drift in the machine's
    // speed (large on shared machines) hits both sides alike.
    // The in-process side is timed inside its thread; the hand-off to that thread is timed
    // apart. Its wake-up of an idle CPU is the one cost the server pays on every request that
    // the in-process figure leaves out, and it shows how contended the host was in this run.
    let (mut inproc, mut served, mut handoff) = (Vec::new(), Vec::new(), Vec::new());
    let mut run_local = |inproc: &mut Vec<Duration>| {
        let (inside, wake) = local.run_once();
        inproc.push(inside);
        handoff.push(wake);
    };
    for step in 0..options.iterations {
        if step % 2 == 0 {
            run_local(&mut inproc);
            served.push(client.request_once());
        } else {
            served.push(client.request_once());
            run_local(&mut inproc);
        }
    }
    // The ratio within each fifth of the run shows how steady the figure is.
    let segments: Vec<String> = inproc
        .chunks(options.iterations.div_ceil(5))
        .zip(served.chunks(options.iterations.div_ceil(5)))
        .map(|(a, b)| {
            let (mut a, mut b) = (a.to_vec(), b.to_vec());
            let ratio =
                percentile(&mut b, 0.5).as_secs_f64() / percentile(&mut a, 0.5).as_secs_f64();
            format!("{ratio:.3}")
        })
        .collect();
    let (p50_in, p90_in) = (percentile(&mut inproc, 0.5), percentile(&mut inproc, 0.9));
    let (p50_srv, p90_srv) = (percentile(&mut served, 0.5), percentile(&mut served, 0.9));
    let ratio = p50_srv.as_secs_f64() / p50_in.as_secs_f64();
    println!(
        "server vs in-process, {DEFAULT_MODEL}, ONNX Runtime {} ({} provider), {} intra-op thread(s), {} samples each, {}",
        ort.library().version,
        options.provider.kind.config_name(),
        options.threads,
        inproc.len(),
        match &placed {
            Some(p) => format!(
                "server and in-process session on CPU(s) {:?}, client on {:?}",
                p.compute, p.client
            ),
            None => "not pinned".to_string(),
        }
    );
    println!(
        "  in-process  p50 {:7.3} ms  p90 {:7.3} ms",
        ms(p50_in),
        ms(p90_in)
    );
    println!(
        "  server      p50 {:7.3} ms  p90 {:7.3} ms  (overhead p50 {:.3} ms)",
        ms(p50_srv),
        ms(p90_srv),
        ms(p50_srv.saturating_sub(p50_in))
    );
    println!("  p50 ratio by fifth of the run: {}", segments.join(", "));
    println!(
        "  hand-off to the in-process thread and back (not in its figure): p50 {:.0} us, p90 {:.0} us",
        percentile(&mut handoff, 0.5).as_secs_f64() * 1e6,
        percentile(&mut handoff, 0.9).as_secs_f64() * 1e6
    );
    if std::env::var_os("OUTPOST_BENCH_SERVER_LOG").is_some() {
        print_server_timings(&server.stderr());
    }
    println!(
        "  p50 ratio server/in-process = {ratio:.3} (target <= 1.10: {})",
        if ratio <= 1.10 { "met" } else { "NOT met" }
    );
}

/// Medians of the per-request timings the server logs at debug level.
fn print_server_timings(log: &str) {
    let fields = ["read_us", "decode_us", "infer_us", "encode_us", "total_us"];
    let mut values: Vec<Vec<u64>> = vec![Vec::new(); fields.len()];
    for line in log.lines().filter(|l| l.contains("inference request")) {
        for (i, field) in fields.iter().enumerate() {
            let value = line
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{field}=")))
                .and_then(|v| v.parse().ok());
            if let Some(v) = value {
                values[i].push(v);
            }
        }
    }
    let medians: Vec<String> = fields
        .iter()
        .zip(values.iter_mut())
        .filter(|(_, v)| !v.is_empty())
        .map(|(field, v)| {
            v.sort_unstable();
            format!("{field} {}", v[v.len() / 2])
        })
        .collect();
    println!("  server-side medians: {}", medians.join(", "));
}

fn ort_vs_tract(options: &Options) {
    let ort = OrtBackend::new(
        None,
        outpost_backend_ort::LibrarySearch::ANYWHERE,
        outpost_backend_ort::CpuArenaSettings::default(),
    )
    .expect("ONNX Runtime library");
    let tract = TractBackend::new();
    let iterations = (options.iterations / 10).max(10);
    println!("\nONNX Runtime vs tract, in process, {} intra-op thread(s) for ONNX Runtime, p50 of {iterations}", options.threads);
    println!(
        "  {:<46} {:>10} {:>10} {:>8}",
        "model", "ort ms", "tract ms", "tract/ort"
    );
    for model in ONNX_FIXTURES {
        let input = reference_input(model);
        let mut times = Vec::new();
        for backend in [&ort as &dyn Backend, &tract as &dyn Backend] {
            let loaded = load(backend, model, options.threads, ExecutionProviderSpec::CPU);
            for _ in 0..3 {
                run_once(loaded.as_ref(), &input);
            }
            let mut samples: Vec<Duration> = (0..iterations)
                .map(|_| run_once(loaded.as_ref(), &input))
                .collect();
            times.push(percentile(&mut samples, 0.5));
        }
        println!(
            "  {model:<46} {:>10.3} {:>10.3} {:>8.1}x",
            ms(times[0]),
            ms(times[1]),
            times[1].as_secs_f64() / times[0].as_secs_f64()
        );
    }
}

fn main() {
    // Before any thread starts; the server process inherits the opt-out.
    outpost_backend_ort::telemetry::opt_out();
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this with no iterations worth timing.
    if std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench") {
        println!("server_vs_inprocess: run with `cargo bench --bench server_vs_inprocess`");
        return;
    }
    let _ = repo_root();
    let options = options();
    server_vs_in_process(&options);
    // tract against ONNX Runtime's CPU provider; an accelerator's run measures the server alone.
    if options.provider == ExecutionProviderSpec::CPU {
        ort_vs_tract(&options);
    }
}
