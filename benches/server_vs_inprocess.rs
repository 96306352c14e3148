//! Server overhead benchmark: `outpost serve` on loopback against an in-process ONNX Runtime
//! session on the same model, input and thread count, measured in the same run. Then ONNX
//! Runtime against tract, in process, for every fixture model.
//!
//! Run: `cargo bench --bench server_vs_inprocess` (options after `--`: `--iterations N`,
//! `--threads N`). The client is sequential and speaks the binary tensor extension over one
//! keep-alive connection. Timings alternate between the two sides in rounds so that drift in
//! the machine's speed hits both. Target: p50(server) / p50(in-process) <= 1.10.

use std::path::Path;
use std::time::{Duration, Instant};

use outpost_backend_ort::OrtBackend;
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
        iterations: value("--iterations", 300),
        threads: value("--threads", 1),
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

fn load(backend: &dyn Backend, model: &str, threads: usize) -> Box<dyn LoadedModel> {
    let config = ModelConfig {
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
            default_intra_op_threads: threads,
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
    model.infer(vec![named], &outputs).expect("inference");
    started.elapsed()
}

fn binary_body(input: &NamedTensor) -> (Vec<u8>, usize) {
    let header = serde_json::json!({
        "id": "",
        "inputs": [{
            "name": input.name,
            "shape": input.tensor.shape(),
            "datatype": input.tensor.datatype().as_str(),
            "parameters": {"binary_data_size": input.tensor.data().byte_len()}
        }],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": true}}]
    });
    let mut body = serde_json::to_vec(&header).unwrap();
    let len = body.len();
    input.tensor.data().write_le_bytes(&mut body);
    (body, len)
}

fn server_vs_in_process(options: &Options) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let config = format!(
        "backend = \"ort\"\n[threads]\nintra_op = {}\ninter_op = 1\n",
        options.threads
    );
    let model_path = model_file(DEFAULT_MODEL);
    write_repository(&repo, &[("bench", &model_path, &config)]);
    let server = TestServer::start(
        Path::new(env!("CARGO_BIN_EXE_outpost")),
        &repo,
        &["--log-level", "warn"],
    )
    .expect("server starts");
    let client = reqwest::blocking::Client::new();
    let url = format!("{}/v2/models/bench/infer", server.base_url);
    let input = reference_input(DEFAULT_MODEL);
    let (body, json_len) = binary_body(&input);
    let request_once = || {
        let started = Instant::now();
        let response = client
            .post(&url)
            .header("Inference-Header-Content-Length", json_len.to_string())
            .body(body.clone())
            .send()
            .expect("request");
        assert!(response.status().is_success());
        let bytes = response.bytes().expect("body");
        assert!(bytes.len() > 4004);
        started.elapsed()
    };

    let ort =
        OrtBackend::new(None).expect("ONNX Runtime library (run scripts/fetch-onnxruntime.sh)");
    let local = load(&ort, DEFAULT_MODEL, options.threads);
    for _ in 0..30 {
        run_once(local.as_ref(), &input);
        request_once();
    }
    let rounds = 10;
    let per_round = options.iterations.div_ceil(rounds);
    let (mut inproc, mut served) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for _ in 0..per_round {
            inproc.push(run_once(local.as_ref(), &input));
        }
        for _ in 0..per_round {
            served.push(request_once());
        }
    }
    let (p50_in, p90_in) = (percentile(&mut inproc, 0.5), percentile(&mut inproc, 0.9));
    let (p50_srv, p90_srv) = (percentile(&mut served, 0.5), percentile(&mut served, 0.9));
    let ratio = p50_srv.as_secs_f64() / p50_in.as_secs_f64();
    println!(
        "server vs in-process, {DEFAULT_MODEL}, ONNX Runtime {}, {} intra-op thread(s), {} samples each",
        ort.library().version,
        options.threads,
        inproc.len()
    );
    println!(
        "  in-process  p50 {:7.3} ms  p90 {:7.3} ms",
        ms(p50_in),
        ms(p90_in)
    );
    println!(
        "  server      p50 {:7.3} ms  p90 {:7.3} ms",
        ms(p50_srv),
        ms(p90_srv)
    );
    println!(
        "  p50 ratio server/in-process = {ratio:.3} (target <= 1.10: {})",
        if ratio <= 1.10 { "met" } else { "NOT met" }
    );
}

fn ort_vs_tract(options: &Options) {
    let ort = OrtBackend::new(None).expect("ONNX Runtime library");
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
            let loaded = load(backend, model, options.threads);
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
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this with no iterations worth timing.
    if std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench") {
        println!("server_vs_inprocess: run with `cargo bench --bench server_vs_inprocess`");
        return;
    }
    let _ = repo_root();
    let options = options();
    server_vs_in_process(&options);
    ort_vs_tract(&options);
}
