//! Every ONNX fixture reproduces its reference outputs (`test_data_set_*`) through
//! `POST /v2/models/{m}/infer` with binary tensors, on ONNX Runtime, and on tract for every model
//! tract loads (all of them, the quantized-Softmax MobileNetV2 models included).
//!
//! Tolerances follow the fixtures' README: float models within 1e-4 (absolute plus relative);
//! quantized models within one quantization step of the output on ONNX Runtime (wider for the
//! s8-weight model on CPUs whose integer kernels saturate, see `outpost_testkit::cpu`). tract's
//! quantized arithmetic is bounded separately (`outpost_testkit::reference::allowed_steps`
//! holds every runtime's bound and its measurement), and so is ONNX Runtime's
//! OpenVINO provider, which runs every fixture (`--ort-flavour openvino`, the provider strict)
//! but rounds three of the quantized ones differently; every classifier must still agree on the
//! top-1 class.

use crate::common;

use outpost_testkit::fixtures::{model_file, test_data_sets, write_repository, ONNX_FIXTURES};
use outpost_testkit::read_tensor_file;
use outpost_testkit::reference::compare;

fn check_backend(backend: &str) {
    check_runtime(backend, &format!("backend = \"{backend}\"\n"), &[]);
}

/// Every fixture through the server started with `server_args`, each model configured with
/// `config`; `runtime` names the run in messages and picks the tolerances.
fn check_runtime(runtime: &str, config: &str, server_args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = ONNX_FIXTURES.iter().map(|m| (*m, model_file(m))).collect();
    let models: Vec<(&str, &std::path::Path, &str)> = files
        .iter()
        .map(|(m, f)| (*m, f.as_path(), config))
        .collect();
    let repo = dir.path().join("repo");
    write_repository(&repo, &models);
    let server = common::start(&repo, server_args);
    let client = common::client();
    if runtime == "openvino" {
        for model in ONNX_FIXTURES {
            let config: serde_json::Value = client
                .get(format!("{}/v2/models/{model}/config", server.base_url))
                .send()
                .unwrap()
                .json()
                .unwrap();
            let providers = config["parameters"]["execution_providers"]["string_value"]
                .as_str()
                .unwrap_or_default();
            assert!(
                providers.starts_with("OpenVINOExecutionProvider"),
                "{model}: {config}"
            );
        }
    }
    let mut failures = Vec::new();
    for model in ONNX_FIXTURES {
        let url = format!("{}/v2/models/{model}/infer", server.base_url);
        for set in test_data_sets(model) {
            let (_, input) = read_tensor_file(&set.join("input_0.pb")).unwrap();
            let (_, outputs) = {
                let meta: serde_json::Value = client
                    .get(format!("{}/v2/models/{model}", server.base_url))
                    .send()
                    .unwrap()
                    .json()
                    .unwrap();
                let name = meta["inputs"][0]["name"].as_str().unwrap().to_string();
                common::infer_binary(
                    &client,
                    &url,
                    &[outpost_core::NamedTensor::new(name, input)],
                )
            };
            for (k, output) in outputs.iter().enumerate() {
                let (_, expected) = read_tensor_file(&set.join(format!("output_{k}.pb"))).unwrap();
                assert_eq!(
                    output.tensor.shape(),
                    expected.shape(),
                    "{model} output {k} shape"
                );
                let got = outpost_testkit::reference::as_f64(output.tensor.data());
                let want = outpost_testkit::reference::as_f64(expected.data());
                let Some(comparison) = compare(runtime, model, &output.name, &got, &want) else {
                    panic!("no tolerance for {model}/{}", output.name);
                };
                eprintln!(
                    "{runtime} {model} {} {}: max |diff| {:.6}, {} of {} elements beyond the fixtures' tolerance",
                    set.file_name().unwrap().to_string_lossy(),
                    output.name,
                    comparison.max_abs,
                    comparison.beyond_fixture_tolerance,
                    comparison.elements
                );
                if !comparison.within {
                    failures.push(format!(
                        "{runtime}: {model} {} output '{}': max |diff| {}",
                        set.display(),
                        output.name,
                        comparison.max_abs
                    ));
                }
                if want.len() > 1 && model.starts_with("mobilenet") {
                    assert!(comparison.same_argmax, "{runtime} {model} top-1");
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "outputs outside tolerance:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_fixture_matches_its_reference_on_onnxruntime() {
    check_backend("ort");
}

#[test]
fn every_fixture_matches_its_reference_on_tract() {
    check_backend("tract");
}

/// ONNX Runtime's OpenVINO build (`scripts/fetch-onnxruntime.sh --openvino`), the provider
/// strict, on OpenVINO's CPU device at the models' own precision: every fixture loads on it, the
/// model's configuration names it, and the outputs match the references.
#[test]
fn every_fixture_matches_its_reference_on_openvino() {
    let config = "backend = \"ort\"\nexecution_providers = [\"openvino\"]\n\n\
                  [execution_provider_options.openvino]\n\
                  device_type = \"CPU\"\nprecision = \"ACCURACY\"\n";
    check_runtime("openvino", config, &["--ort-flavour", "openvino"]);
}
