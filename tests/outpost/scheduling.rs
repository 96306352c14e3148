//! Scheduling end to end: a model with nothing configured (`performance = "auto"`) loads one
//! session, makes one single-threaded session per CPU once requests overlap, answers as it did
//! alone, and drops them after `inference.parallel_sessions_idle_release_ms` without overlap;
//! `performance = "throughput"` and explicit counts load what they say, and the model's
//! configuration shows it.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use outpost_core::NamedTensor;
use outpost_testkit::fixtures::{model_file, test_data_sets, write_repository};
use outpost_testkit::TestServer;
use serde_json::Value;

const MODEL: &str = "mobilenet_v1_0.25_224_float32";

/// `outpost_model_sessions` of `model`, from /metrics.
fn sessions(client: &reqwest::blocking::Client, server: &TestServer, model: &str) -> usize {
    let text = client
        .get(format!("{}/metrics", server.base_url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let label = format!("model=\"{model}\"");
    text.lines()
        .find(|line| line.starts_with("outpost_model_sessions{") && line.contains(&label))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no outpost_model_sessions for {model} in:\n{text}"))
}

/// Polls until `model` holds `wanted` sessions.
fn wait_for_sessions(
    client: &reqwest::blocking::Client,
    server: &TestServer,
    model: &str,
    wanted: usize,
) {
    let started = Instant::now();
    loop {
        let now = sessions(client, server, model);
        if now == wanted {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{model} holds {now} sessions, not {wanted}; log:\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn config(client: &reqwest::blocking::Client, server: &TestServer, model: &str) -> Value {
    client
        .get(format!("{}/v2/models/{model}/config", server.base_url))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// The top class and its score.
fn top(outputs: &[NamedTensor]) -> (usize, f64) {
    let values = outpost_testkit::reference::as_f64(outputs[0].tensor.data());
    let best = outpost_testkit::reference::argmax(&values);
    (best, values[best])
}

#[test]
fn auto_adds_parallel_sessions_while_requests_overlap_and_drops_them_after() {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let model = model_file(MODEL);
    write_repository(
        &repo,
        &[
            ("auto", &model, "backend = \"ort\"\n"),
            (
                "throughput",
                &model,
                "backend = \"ort\"\nperformance = \"throughput\"\n",
            ),
            ("two", &model, "backend = \"ort\"\ninstances = 2\n"),
        ],
    );
    let settings = dir.path().join("outpost.toml");
    std::fs::write(
        &settings,
        "[inference]\nparallel_sessions_idle_release_ms = 1500\n",
    )
    .unwrap();
    let server = common::start(&repo, &["--config", settings.to_str().unwrap()]);
    let client = common::client();

    let fixed = config(&client, &server, "throughput");
    let one_thread = format!("{cpus} x 1 thread");
    assert_eq!(
        fixed["parameters"]["scheduling"]["string_value"],
        one_thread.as_str()
    );
    assert_eq!(fixed["instance_group"][0]["count"], cpus);
    assert_eq!(sessions(&client, &server, "throughput"), cpus);
    let two = config(&client, &server, "two");
    let share = (cpus / 2).max(1);
    let plural = if share == 1 { "" } else { "s" };
    assert_eq!(
        two["parameters"]["scheduling"]["string_value"],
        format!("2 x {share} thread{plural}").as_str()
    );
    assert_eq!(sessions(&client, &server, "two"), 2);

    let auto = config(&client, &server, "auto");
    assert_eq!(sessions(&client, &server, "auto"), 1);
    if cpus < 2 {
        // One CPU: nothing to spread, one single-threaded session.
        assert_eq!(
            auto["parameters"]["scheduling"]["string_value"],
            "1 x 1 thread"
        );
        return;
    }
    assert_eq!(
        auto["parameters"]["scheduling"]["string_value"],
        format!("1 x {cpus} threads, {cpus} x 1 thread while requests overlap").as_str(),
        "{auto}"
    );
    assert_eq!(auto["instance_group"][0]["count"], cpus + 1);

    let set = &test_data_sets(MODEL)[0];
    let (_, input) = outpost_testkit::read_tensor_file(&set.join("input_0.pb")).unwrap();
    let meta: Value = client
        .get(format!("{}/v2/models/auto", server.base_url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let inputs = [NamedTensor::new(
        meta["inputs"][0]["name"].as_str().unwrap(),
        input,
    )];
    let url = format!("{}/v2/models/auto/infer", server.base_url);

    // One client: its requests never overlap, the latency session answers them all.
    let (_, alone) = common::infer_binary(&client, &url, &inputs);
    let expected = top(&alone);
    for _ in 0..20 {
        let (_, outputs) = common::infer_binary(&client, &url, &inputs);
        assert_eq!(top(&outputs).0, expected.0);
    }
    assert_eq!(sessions(&client, &server, "auto"), 1);

    // Several clients until the parallel sessions exist, every answer the same class and score.
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..2 * cpus)
            .map(|_| {
                scope.spawn(|| {
                    let client = common::client();
                    let mut answered = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let (_, outputs) = common::infer_binary(&client, &url, &inputs);
                        let (class, score) = top(&outputs);
                        assert_eq!(class, expected.0);
                        assert!(
                            (score - expected.1).abs() < 1e-4,
                            "{score} against {}",
                            expected.1
                        );
                        answered += 1;
                    }
                    answered
                })
            })
            .collect();
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for_sessions(&client, &server, "auto", cpus + 1);
        }));
        stop.store(true, Ordering::Relaxed);
        let answered: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
        if let Err(panic) = waited {
            std::panic::resume_unwind(panic);
        }
        assert!(answered > 0);
    });
    let log = server.stderr();
    assert!(
        log.contains("parallel single-threaded sessions made"),
        "{log}"
    );

    // Quiet again: after the idle release, back to the latency session alone.
    wait_for_sessions(&client, &server, "auto", 1);
    server
        .wait_for_log("parallel sessions dropped", Duration::from_secs(10))
        .unwrap();
    let (_, outputs) = common::infer_binary(&client, &url, &inputs);
    assert_eq!(top(&outputs).0, expected.0);
}

/// A request that runs while another of the model's is at work (decoded, say, on the other
/// core) overlaps with it even though only one holds a session: with `auto` it starts the
/// parallel sessions, where the same request alone does not.
#[test]
fn auto_counts_a_request_at_work_elsewhere_as_overlap() {
    use outpost_backend_ort::{CpuArenaSettings, LibrarySearch, OrtBackend};
    use outpost_core::{Backend, LoadRequest, ModelConfig, UnlimitedMemory, WorkGauge};

    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if cpus < 2 {
        // One CPU: `auto` runs one single-threaded session and nothing overlaps.
        return;
    }
    let backend = OrtBackend::new(None, LibrarySearch::ANYWHERE, CpuArenaSettings::default())
        .expect("ONNX Runtime library (run scripts/fetch-onnxruntime.sh)");
    let config = ModelConfig::default();
    let path = model_file(MODEL);
    let at_work = WorkGauge::new();
    let model = backend
        .load(&LoadRequest {
            model_name: "auto",
            model_path: &path,
            config: &config,
            scheduling: config.scheduling(cpus, cpus),
            memory: std::sync::Arc::new(UnlimitedMemory),
            parallel_idle_release: Duration::from_secs(60),
            at_work: at_work.clone(),
        })
        .unwrap();
    let (_, input) =
        outpost_testkit::read_tensor_file(&test_data_sets(MODEL)[0].join("input_0.pb")).unwrap();
    let name = model.signature().inputs[0].name.clone();
    let outputs = [model.signature().outputs[0].name.clone()];
    let inputs = [NamedTensor::new(&name, input)];

    // Alone, request after request: the latency session only.
    for _ in 0..20 {
        let _this = at_work.start();
        model.infer(&inputs, &outputs).unwrap();
    }
    assert_eq!(model.sessions(), 1);

    // Another request at work (not holding a session) while this one runs.
    {
        let _other = at_work.start();
        let _this = at_work.start();
        model.infer(&inputs, &outputs).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while model.sessions() < cpus + 1 {
        assert!(
            Instant::now() < deadline,
            "{} sessions, not {}",
            model.sessions(),
            cpus + 1
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
