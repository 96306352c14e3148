//! The runtime contract, end to end: `echo` (outpost_testkit::echo_runtime), a runtime no
//! crate of the server knows, is registered here the way a binary registers ONNX Runtime and
//! tract, given its `[echo]` section and a flag-style override, and serves a model over REST and
//! gRPC with its settings applied: the server's `echo.gain` and the model's `[echo] offset`.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_core::Runtime;
use outpost_protocol::grpc::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use outpost_protocol::grpc::inference::model_infer_request::InferInputTensor;
use outpost_protocol::grpc::inference::{ModelInferRequest, ModelMetadataRequest};
use outpost_server::Supervision;
use outpost_settings::flags::SettingOverrides;
use outpost_testkit::echo_runtime::EchoRuntime;
use serde_json::{json, Value};
use tokio::sync::watch;

/// A server in this process with `runtimes` registered, on loopback ports the system picks.
struct InProcessServer {
    http: String,
    grpc: String,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InProcessServer {
    fn start(
        dir: &std::path::Path,
        runtimes: &[Arc<dyn Runtime>],
        overrides: &[(&str, &str)],
    ) -> Self {
        let config_file = dir.join("outpost.toml");
        std::fs::write(&config_file, "[echo]\ngain = 2\n").unwrap();
        let repository = dir.join("models").display().to_string();
        let mut given = vec![
            ("model_repository", repository.as_str()),
            ("http.host", "127.0.0.1"),
            ("http.port", "0"),
            ("grpc.host", "127.0.0.1"),
            ("grpc.port", "0"),
        ];
        given.extend_from_slice(overrides);
        let (config, configured) = outpost_server::load_config(
            Some(&config_file),
            &SettingOverrides::from_pairs(&given),
            runtimes,
        )
        .expect("the configuration loads with the runtime's section");
        let (lines_tx, lines) = mpsc::channel::<String>();
        let lines_tx = std::sync::Mutex::new(lines_tx);
        let (stop, stop_rx) = watch::channel(false);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let limits = outpost_engine::ContainerLimits::detect();
            let supervision = Supervision {
                announce: Box::new(move |line| {
                    let _ = lines_tx.lock().unwrap().send(line.to_string());
                }),
                signals: false,
                stop: Some(stop_rx),
            };
            runtime
                .block_on(outpost_server::serve_supervised(
                    config,
                    limits,
                    configured,
                    supervision,
                ))
                .expect("the server runs until stopped");
        });
        let address = |line: &str, what: &str| {
            line.strip_prefix(&format!("outpost: {what} listening on "))
                .map(str::to_string)
        };
        let mut grpc = None;
        let http = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the server announces its listeners");
            if let Some(found) = address(&line, "grpc") {
                grpc = Some(found);
            }
            if let Some(found) = address(&line, "http") {
                break found;
            }
        };
        let server = InProcessServer {
            http: format!("http://{http}"),
            grpc: format!("http://{}", grpc.expect("gRPC is on by default")),
            stop,
            thread: Some(thread),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("{}/v2/health/ready", self.http);
        while !client
            .get(&url)
            .send()
            .is_ok_and(|answer| answer.status().is_success())
        {
            assert!(Instant::now() < deadline, "the server never became ready");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A repository with model `echo`: one FP32 tensor of 4 values per batch entry, offset 0.5.
fn repository(dir: &std::path::Path, model_toml: &str) {
    let version = dir.join("models/echo/1");
    std::fs::create_dir_all(&version).unwrap();
    std::fs::write(
        dir.join("models/echo/model.toml"),
        format!("backend = \"echo\"\nmodel_filename = \"model.echo\"\n{model_toml}"),
    )
    .unwrap();
    std::fs::write(
        version.join("model.echo"),
        "[[tensors]]\ninput = \"INPUT0\"\noutput = \"OUTPUT0\"\nshape = [-1, 4]\n",
    )
    .unwrap();
}

#[test]
fn a_runtime_registered_in_a_test_serves_over_rest_and_grpc() {
    let dir = tempfile::tempdir().unwrap();
    repository(dir.path(), "[echo]\noffset = 0.5\n");
    // The file says gain 2; the flag-style override wins, as `--echo-gain 3` would.
    let server =
        InProcessServer::start(dir.path(), &[Arc::new(EchoRuntime)], &[("echo.gain", "3")]);
    let client = reqwest::blocking::Client::new();

    let answer: Value = client
        .post(format!("{}/v2/models/echo/infer", server.http))
        .json(
            &json!({"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 4],
                                  "data": [1.0, 2.0, 3.0, 4.0]}]}),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(answer["outputs"][0]["name"], "OUTPUT0", "{answer}");
    assert_eq!(
        answer["outputs"][0]["data"],
        json!([3.5, 6.5, 9.5, 12.5]),
        "{answer}"
    );

    let metadata: Value = client
        .get(format!("{}/v2/models/echo", server.http))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(metadata["platform"], "echo_toml", "{metadata}");
    let config: Value = client
        .get(format!("{}/v2/models/echo/config", server.http))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(config["backend"], "echo", "{config}");
    assert_eq!(
        config["parameters"]["echo_offset"]["string_value"], "0.5",
        "{config}"
    );
    let metrics = client
        .get(format!("{}/metrics", server.http))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("outpost_echo_gain 3"), "{metrics}");
    assert!(metrics.contains("backend=\"echo\""), "{metrics}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut grpc = GrpcInferenceServiceClient::connect(server.grpc.clone())
            .await
            .expect("gRPC connects");
        let metadata = grpc
            .model_metadata(ModelMetadataRequest {
                name: "echo".into(),
                version: String::new(),
            })
            .await
            .expect("metadata over gRPC")
            .into_inner();
        assert_eq!(metadata.platform, "echo_toml");
        let values = [-1.0f32, 0.0, 0.25, 10.0];
        let answer = grpc
            .model_infer(ModelInferRequest {
                model_name: "echo".into(),
                inputs: vec![InferInputTensor {
                    name: "INPUT0".into(),
                    datatype: "FP32".into(),
                    shape: vec![1, 4],
                    ..Default::default()
                }],
                raw_input_contents: vec![values.iter().flat_map(|v| v.to_le_bytes()).collect()],
                ..Default::default()
            })
            .await
            .expect("inference over gRPC")
            .into_inner();
        assert_eq!(answer.outputs[0].name, "OUTPUT0");
        let echoed: Vec<f32> = answer.raw_output_contents[0]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(echoed, [-2.5, 0.5, 1.25, 30.5]);
    });
}

#[test]
fn the_runtime_s_model_keys_are_checked_and_unknown_runtimes_named() {
    let dir = tempfile::tempdir().unwrap();
    repository(dir.path(), "[echo]\noffsett = 0.5\n");
    let other = dir.path().join("models/other");
    std::fs::create_dir_all(other.join("1")).unwrap();
    std::fs::write(other.join("1/model.onnx"), b"not read").unwrap();
    std::fs::write(other.join("model.toml"), "backend = \"tflite\"\n").unwrap();
    let server = InProcessServer::start(dir.path(), &[Arc::new(EchoRuntime)], &[]);
    let client = reqwest::blocking::Client::new();
    let index: Value = client
        .post(format!("{}/v2/repository/index", server.http))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let reason = |name: &str| {
        index
            .as_array()
            .and_then(|models| models.iter().find(|m| m["name"] == name))
            .map(|m| m["reason"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert!(reason("echo").contains("offsett"), "{index}");
    assert!(
        reason("other")
            .contains("backend 'tflite' is not a runtime this binary registers (it has: echo)"),
        "{index}"
    );
}
