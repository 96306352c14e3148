//! Backend choice and load failures: `auto` falls back to tract when ONNX Runtime's library is
//! missing or broken (and says so), `ort` then fails clearly; strict execution providers fail the
//! load while `-or-cpu` falls back with a warning (and the config says so); provider options are
//! checked at load; a broken model or a model tract cannot run is
//! reported while the other models keep serving; SIGTERM stops the server cleanly; ONNX
//! Runtime's telemetry stays off by default. `outpost-ort`, the server images' binary, does not
//! link tract: a tract model fails its load saying so, the others run on ONNX Runtime.

use crate::common;

use std::path::Path;

use outpost_testkit::fixtures::{fixtures_dir, model_file, write_repository};
use serde_json::Value;

fn get(client: &reqwest::blocking::Client, url: String) -> (u16, Value) {
    let response = client.get(url).send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn repo_with(dir: &Path, models: &[(&str, &Path, &str)]) -> std::path::PathBuf {
    let repo = dir.join("repo");
    write_repository(&repo, models);
    repo
}

#[test]
fn missing_or_broken_onnxruntime_library_falls_back_to_tract_only_for_auto() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = model_file("mobilenet_v1_0.25_224_float32");
    let repo = repo_with(
        dir.path(),
        &[
            ("auto_model", &v1, "backend = \"auto\"\n"),
            ("ort_model", &v1, "backend = \"ort\"\n"),
        ],
    );
    let garbage = dir.path().join("libonnxruntime.so");
    std::fs::write(&garbage, b"this is not a shared library").unwrap();
    for library in [dir.path().join("missing/libonnxruntime.so"), garbage] {
        let server = common::start(&repo, &["--ort-library", library.to_str().unwrap()]);
        let client = common::client();
        let (status, config) = get(
            &client,
            format!("{}/v2/models/auto_model/config", server.base_url),
        );
        assert_eq!(status, 200, "{config}");
        assert_eq!(config["backend"], "tract", "{config}");
        assert_eq!(
            config["parameters"]["execution_providers"]["string_value"],
            "tract-cpu"
        );
        let (status, error) = get(&client, format!("{}/v2/models/ort_model", server.base_url));
        assert_eq!(status, 503, "{error}");
        let message = error["error"].as_str().unwrap();
        assert!(
            message.contains("ONNX Runtime library is not usable"),
            "{message}"
        );
        assert_eq!(server.get_status("/v2/models/ort_model/ready"), Some(503));
        let log = server.stderr();
        assert!(log.contains("runtime not usable runtime=\"ort\""), "{log}");
        assert!(log.contains("using tract"), "{log}");
    }
}

/// The images' binary: tract is not in it (not one of tract's symbols), a model that asks for
/// tract fails its load with the reason, and an `auto` model serves on ONNX Runtime.
#[test]
fn the_image_binary_runs_onnx_runtime_alone() {
    let binary = Path::new(env!("CARGO_BIN_EXE_outpost-ort"));
    let contents = std::fs::read(binary).unwrap();
    let full = std::fs::read(common::binary()).unwrap();
    let has = |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    assert!(
        has(&full, b"tract_linalg"),
        "the full binary's symbols name tract"
    );
    assert!(!has(&contents, b"tract_linalg"), "outpost-ort links tract");
    assert!(!has(&contents, b"tract_core"), "outpost-ort links tract");

    let dir = tempfile::tempdir().unwrap();
    let v1 = model_file("mobilenet_v1_0.25_224_float32");
    let repo = repo_with(
        dir.path(),
        &[
            ("auto_model", &v1, "backend = \"auto\"\n"),
            ("tract_model", &v1, "backend = \"tract\"\n"),
        ],
    );
    let server = outpost_testkit::TestServer::start(binary, &repo, &[])
        .unwrap_or_else(|e| panic!("server did not start: {e}"));
    let client = common::client();
    let (status, config) = get(
        &client,
        format!("{}/v2/models/auto_model/config", server.base_url),
    );
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["backend"], "onnxruntime", "{config}");
    let (status, error) = get(
        &client,
        format!("{}/v2/models/tract_model", server.base_url),
    );
    assert_eq!(status, 503, "{error}");
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains("backend 'tract' is not a runtime this binary registers (it has: ort)"),
        "{message}"
    );
    assert_eq!(server.get_status("/v2/models/auto_model/ready"), Some(200));
}

#[test]
fn strict_providers_fail_and_or_cpu_falls_back_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = model_file("mobilenet_v1_0.25_224_float32");
    let repo = repo_with(
        dir.path(),
        &[
            ("strict_cuda", &v1, "backend = \"ort\"\nexecution_providers = [\"cuda\"]\n"),
            ("soft_cuda", &v1, "backend = \"ort\"\nexecution_providers = [\"tensorrt-or-cpu\", \"cuda-or-cpu\", \"cpu\"]\n"),
        ],
    );
    let server = common::start(&repo, &[]);
    let client = common::client();
    let (status, error) = get(
        &client,
        format!("{}/v2/models/strict_cuda", server.base_url),
    );
    assert_eq!(status, 503, "{error}");
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains("CUDAExecutionProvider") && message.contains("cuda-or-cpu"),
        "{message}"
    );
    let (status, config) = get(
        &client,
        format!("{}/v2/models/soft_cuda/config", server.base_url),
    );
    assert_eq!(status, 200, "{config}");
    assert_eq!(
        config["parameters"]["execution_providers"]["string_value"],
        "CPUExecutionProvider"
    );
    assert_eq!(
        config["parameters"]["execution_providers_unavailable"]["string_value"],
        "TensorrtExecutionProvider,CUDAExecutionProvider",
        "{config}"
    );
    let log = server.stderr();
    assert!(
        log.contains("execution provider unavailable") && log.contains("TensorrtExecutionProvider"),
        "{log}"
    );
    assert!(
        log.contains("execution_provider=\"CPUExecutionProvider\""),
        "{log}"
    );
}

/// Provider options are checked at load: an unknown option is named, a relative cache folder is
/// refused, a cache folder the provider could not write fails a strict provider's load (a
/// read-only root without a volume) and is a fallback for `-or-cpu`; a model with good options
/// shows them in its config.
#[test]
fn provider_options_are_checked_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = model_file("mobilenet_v1_0.25_224_float32");
    let engines = dir.path().join("engines");
    let shown = format!(
        "backend = \"ort\"\nexecution_providers = [\"tensorrt-or-cpu\"]\n\n\
         [execution_provider_options.tensorrt]\nfp16 = true\nengine_cache_dir = {:?}\n",
        engines.display().to_string()
    );
    let repo = repo_with(
        dir.path(),
        &[
            (
                "unknown_option",
                &v1,
                "backend = \"ort\"\nexecution_providers = [\"openvino\"]\n\n\
                 [execution_provider_options.openvino]\ndevice = \"CPU\"\n",
            ),
            (
                "relative_cache",
                &v1,
                "backend = \"ort\"\nexecution_providers = [\"tensorrt\"]\n\n\
                 [execution_provider_options.tensorrt]\nengine_cache_dir = \"engines\"\n",
            ),
            (
                "unwritable_cache",
                &v1,
                "backend = \"ort\"\nexecution_providers = [\"tensorrt\"]\n\n\
                 [execution_provider_options.tensorrt]\nengine_cache_dir = \"/proc/outpost-engines\"\n",
            ),
            ("shown", &v1, shown.as_str()),
        ],
    );
    let server = common::start(&repo, &[]);
    let client = common::client();
    for (model, fragments) in [
        (
            "unknown_option",
            &["unknown field `device`", "device_type"][..],
        ),
        (
            "relative_cache",
            &["engine_cache_dir 'engines' must be an absolute path"][..],
        ),
        (
            "unwritable_cache",
            &[
                "TensorrtExecutionProvider",
                "engine_cache_dir /proc/outpost-engines is not writable",
                "tensorrt-or-cpu",
            ][..],
        ),
    ] {
        let (status, error) = get(&client, format!("{}/v2/models/{model}", server.base_url));
        assert_eq!(status, 503, "{model}: {error}");
        let message = error["error"].as_str().unwrap_or_default();
        for fragment in fragments {
            assert!(message.contains(fragment), "{model}: {message}");
        }
    }
    let (status, config) = get(
        &client,
        format!("{}/v2/models/shown/config", server.base_url),
    );
    assert_eq!(status, 200, "{config}");
    assert_eq!(
        config["parameters"]["execution_provider_options.tensorrt"]["string_value"],
        format!("fp16=true, engine_cache_dir={}", engines.display()),
        "{config}"
    );
    // The cache folder was checked (created) even though TensorRT was then unavailable here.
    assert!(engines.is_dir());
}

#[test]
fn broken_models_are_reported_and_the_rest_keep_serving() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"not a protobuf at all").unwrap();
    let qoperator = fixtures_dir().join("generated/qlinear_add_contrib.onnx");
    let good = model_file("mobilenet_v1_0.25_224_float32");
    let repo = repo_with(
        dir.path(),
        &[
            ("good", &good, ""),
            ("garbage", &garbage, "backend = \"ort\"\n"),
            ("contrib_on_tract", &qoperator, "backend = \"tract\"\n"),
            ("contrib_on_ort", &qoperator, "backend = \"ort\"\n"),
            ("bad_config", &good, "backend = \"gpu\"\n"),
        ],
    );
    std::fs::create_dir_all(repo.join("no_versions")).unwrap();
    let server = common::start(&repo, &[]);
    let client = common::client();
    for (model, fragment) in [
        ("garbage", "cannot load model"),
        ("contrib_on_tract", "QLinearAdd"),
        (
            "bad_config",
            "backend 'gpu' is not a runtime this binary registers (it has: ort, tract)",
        ),
        ("no_versions", "no version directories"),
    ] {
        let (status, error) = get(&client, format!("{}/v2/models/{model}", server.base_url));
        assert_eq!(status, 503, "{model}: {error}");
        let message = error["error"].as_str().unwrap();
        assert!(
            message.contains(fragment),
            "{model}: '{message}' lacks '{fragment}'"
        );
    }
    for model in ["good", "contrib_on_ort"] {
        assert_eq!(
            server.get_status(&format!("/v2/models/{model}/ready")),
            Some(200),
            "{model}"
        );
    }
    let response: Value = client
        .post(format!(
            "{}/v2/models/contrib_on_ort/infer",
            server.base_url
        ))
        .json(&serde_json::json!({"inputs": [
            {"name": "a", "shape": [1, 4], "datatype": "UINT8", "data": [128, 138, 148, 158]},
            {"name": "b", "shape": [1, 4], "datatype": "UINT8", "data": [128, 128, 138, 138]}
        ]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    // (a - 128) * 0.1 + (b - 128) * 0.1 = 0, 1, 3, 4 -> / 0.2 + 128
    assert_eq!(
        response["outputs"][0]["data"],
        serde_json::json!([128, 133, 143, 148]),
        "{response}"
    );
    assert_eq!(server.get_status("/v2/health/ready"), Some(200));
}

#[test]
fn strict_readiness_reports_not_ready_when_a_model_failed() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"junk").unwrap();
    let repo = repo_with(dir.path(), &[("garbage", &garbage, "")]);
    // Without strict readiness the same repository becomes ready despite the failed model.
    let lenient = common::start(&repo, &[]);
    assert_eq!(lenient.get_status("/v2/health/ready"), Some(200));
    drop(lenient);
    let strict = outpost_testkit::TestServer::spawn(
        &common::binary(),
        &repo,
        &["--strict-readiness", "true"],
        &[],
    )
    .unwrap();
    // The load is complete once this line is logged (readiness is decided before it).
    strict
        .wait_for_log(
            "model repository loaded",
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    assert_eq!(strict.get_status("/v2/health/ready"), Some(503));
    assert_eq!(strict.get_status("/v2/models/garbage"), Some(503));
    assert_eq!(strict.get_status("/v2/health/live"), Some(200));
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let server = common::start(&outpost_testkit::fixtures::repo_root().join("models"), &[]);
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
}

/// ONNX Runtime 1.29+ keeps a device id and an event store under `$XDG_CACHE_HOME` (or `$HOME`)
/// as soon as its telemetry starts, and uploads from there; with the default configuration none
/// of it may exist after a model was loaded and ran.
#[test]
fn onnx_runtime_telemetry_is_off_by_default() {
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    let repo = outpost_testkit::fixtures::repo_root().join("models");
    let server = outpost_testkit::TestServer::start_with_env(
        &common::binary(),
        &repo,
        &[],
        &[
            ("HOME", home.path().to_str().unwrap()),
            ("XDG_CACHE_HOME", cache.to_str().unwrap()),
        ],
    )
    .unwrap_or_else(|e| panic!("server did not start: {e}"));
    server
        .wait_for_status(
            "/v2/models/mobilenet_v2_int8/ready",
            200,
            std::time::Duration::from_secs(120),
        )
        .unwrap();
    let input = outpost_core::NamedTensor::new(
        "input",
        outpost_core::Tensor::new(
            vec![1, 3, 224, 224],
            outpost_core::TensorData::Fp32(vec![0.0; 3 * 224 * 224]),
        )
        .unwrap(),
    );
    let url = format!("{}/v2/models/mobilenet_v2_int8/infer", server.base_url);
    common::infer_binary(&common::client(), &url, &[input]);
    let log = server.stderr();
    assert!(server.terminate().success());
    assert!(
        log.contains("loaded ONNX Runtime") && log.contains("telemetry=\"off\""),
        "{log}"
    );
    let written: Vec<_> = walk(home.path());
    assert!(
        written.is_empty(),
        "ONNX Runtime wrote telemetry state: {written:?}"
    );
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map_while(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
