//! What the harness measures and how to talk to it: the servers under test, and the V2
//! requests (JSON and binary tensors) they are sent.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use outpost_core::NamedTensor;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};

use crate::load::RequestTemplate;

/// A wire format of the Open Inference Protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// JSON tensors in, JSON out.
    Json,
    /// The binary tensor extension in and out.
    Binary,
}

impl Protocol {
    /// The protocol's name in scenario names.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Json => "json",
            Protocol::Binary => "binary",
        }
    }
}

/// The infer request for `input` in `protocol`, asking for `output`.
pub fn infer_request(
    base_url: &str,
    model: &str,
    input: &NamedTensor,
    output: &str,
    protocol: Protocol,
) -> RequestTemplate {
    let mut headers = HeaderMap::new();
    let tensor = &input.tensor;
    let body = match protocol {
        Protocol::Json => {
            let body = serde_json::json!({
                "inputs": [{
                    "name": input.name,
                    "shape": tensor.shape(),
                    "datatype": tensor.datatype().as_str(),
                    "data": json_values(input),
                }],
                "outputs": [{"name": output}]
            });
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            serde_json::to_vec(&body).expect("serialisable")
        }
        Protocol::Binary => {
            let (body, json_length) =
                outpost_testkit::binary_infer_body(std::slice::from_ref(input), &[output]);
            headers.insert(
                "Inference-Header-Content-Length",
                HeaderValue::from(json_length),
            );
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            body
        }
    };
    RequestTemplate {
        method: reqwest::Method::POST,
        url: format!("{base_url}/v2/models/{model}/infer"),
        headers,
        body: Bytes::from(body),
    }
}

/// The camera-endpoint request for an encoded JPEG.
pub fn camera_request(base_url: &str, model: &str, jpeg: &[u8]) -> RequestTemplate {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    RequestTemplate {
        method: reqwest::Method::POST,
        url: format!("{base_url}/v2/models/{model}/image"),
        headers,
        body: Bytes::copy_from_slice(jpeg),
    }
}

/// `GET base_url + path`: the status page and its figures.
pub fn page_request(base_url: &str, path: &str) -> RequestTemplate {
    RequestTemplate {
        method: reqwest::Method::GET,
        url: format!("{base_url}{path}"),
        headers: HeaderMap::new(),
        body: Bytes::new(),
    }
}

fn json_values(input: &NamedTensor) -> serde_json::Value {
    use outpost_core::TensorData;
    match input.tensor.data() {
        TensorData::Fp32(v) => serde_json::json!(v),
        TensorData::Uint8(v) => serde_json::json!(v),
        TensorData::Int8(v) => serde_json::json!(v),
        TensorData::Int32(v) => serde_json::json!(v),
        TensorData::Int64(v) => serde_json::json!(v),
        other => panic!(
            "the harness sends FP32, UINT8, INT8, INT32 or INT64 inputs, not {}",
            other.datatype()
        ),
    }
}

/// Status code of a plain `GET path` to `addr`, or None when it cannot be had.
pub fn http_get_status(addr: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}
