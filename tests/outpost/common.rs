//! Helpers for the end-to-end tests: starting the binary on a fixture repository and speaking
//! the binary tensor extension to it.

use std::path::{Path, PathBuf};

use outpost_core::{DataType, NamedTensor, Tensor, TensorData};
use outpost_testkit::TestServer;
use serde_json::Value;

pub(crate) fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_outpost"))
}

pub(crate) fn start(repository: &Path, extra: &[&str]) -> TestServer {
    TestServer::start(&binary(), repository, extra)
        .unwrap_or_else(|e| panic!("server did not start: {e}"))
}

pub(crate) fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .expect("http client")
}

/// Parses a binary-extension response into its JSON header and named tensors.
pub(crate) fn parse_binary_response(body: &[u8], json_len: usize) -> (Value, Vec<NamedTensor>) {
    let header: Value = serde_json::from_slice(&body[..json_len]).expect("response JSON");
    let mut offset = json_len;
    let mut tensors = Vec::new();
    for output in header["outputs"].as_array().expect("outputs") {
        let datatype = DataType::parse(output["datatype"].as_str().unwrap()).unwrap();
        let shape: Vec<usize> = output["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let size = output["parameters"]["binary_data_size"]
            .as_u64()
            .expect("binary output") as usize;
        let data = TensorData::from_le_bytes(datatype, &body[offset..offset + size]).unwrap();
        offset += size;
        tensors.push(NamedTensor::new(
            output["name"].as_str().unwrap(),
            Tensor::new(shape, data).unwrap(),
        ));
    }
    assert_eq!(offset, body.len(), "binary section fully consumed");
    (header, tensors)
}

/// POSTs a binary infer request and returns the outputs.
pub(crate) fn infer_binary(
    client: &reqwest::blocking::Client,
    url: &str,
    inputs: &[NamedTensor],
) -> (Value, Vec<NamedTensor>) {
    let (body, json_len) = outpost_testkit::binary_infer_body(inputs, &[]);
    let response = client
        .post(url)
        .header("Inference-Header-Content-Length", json_len.to_string())
        .body(body)
        .send()
        .expect("infer request");
    let status = response.status();
    let header_len: Option<usize> = response
        .headers()
        .get("Inference-Header-Content-Length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let bytes = response.bytes().expect("response body");
    assert!(
        status.is_success(),
        "{url}: {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    parse_binary_response(&bytes, header_len.expect("binary response header"))
}

/// Every `.rs` file under `dir`, into `found` (the source checks).
pub(crate) fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}
