//! Bad requests are answered 4xx with a JSON `{"error": ...}` body, and the server keeps serving.

use crate::common;

use outpost_testkit::fixtures::repo_root;
use serde_json::{json, Value};

struct Case {
    what: &'static str,
    path: &'static str,
    body: Vec<u8>,
    json_header: Option<usize>,
    status: u16,
    message: &'static str,
}

fn mobilenet_input(datatype: &str, shape: &Value, data: &Value) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"inputs": [{"name": "input", "shape": shape, "datatype": datatype, "data": data}]}),
    )
    .unwrap()
}

fn cases() -> Vec<Case> {
    let full = vec![0.0f32; 3 * 224 * 224];
    let binary_header = serde_json::to_vec(&json!({
        "inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "parameters": {"binary_data_size": 602112}}]
    }))
    .unwrap();
    let mut short_binary = binary_header.clone();
    short_binary.extend(vec![0u8; 1000]);
    let infer = "/v2/models/mobilenet_v2_int8/infer";
    vec![
        Case { what: "malformed JSON", path: infer, body: b"{\"inputs\": [".to_vec(), json_header: None, status: 400, message: "malformed JSON" },
        Case { what: "not an object", path: infer, body: b"[1,2,3]".to_vec(), json_header: None, status: 400, message: "malformed JSON" },
        Case {
            what: "wrong datatype",
            path: infer,
            body: mobilenet_input("INT32", &json!([1, 3, 224, 224]), &json!(vec![0; 3 * 224 * 224])),
            json_header: None,
            status: 400,
            message: "datatype INT32",
        },
        Case {
            what: "wrong shape",
            path: infer,
            body: mobilenet_input("FP32", &json!([1, 224, 224, 3]), &json!(full)),
            json_header: None,
            status: 400,
            message: "has shape [1, 224, 224, 3]",
        },
        Case {
            what: "element-count mismatch",
            path: infer,
            body: mobilenet_input("FP32", &json!([1, 3, 224, 224]), &json!([1.0, 2.0])),
            json_header: None,
            status: 400,
            message: "needs 150528 elements",
        },
        Case { what: "binary size mismatch", path: infer, body: short_binary, json_header: Some(binary_header.len()), status: 400, message: "runs past the end" },
        Case {
            what: "header longer than body",
            path: infer,
            body: b"{}".to_vec(),
            json_header: Some(500),
            status: 400,
            message: "Inference-Header-Content-Length",
        },
        Case {
            what: "unknown model",
            path: "/v2/models/no_such_model/infer",
            body: mobilenet_input("FP32", &json!([1, 3, 224, 224]), &json!(full)),
            json_header: None,
            status: 404,
            message: "unknown model",
        },
        Case {
            what: "unknown version",
            path: "/v2/models/mobilenet_v2_int8/versions/9/infer",
            body: mobilenet_input("FP32", &json!([1, 3, 224, 224]), &json!(full)),
            json_header: None,
            status: 404,
            message: "version 9",
        },
        Case {
            what: "unknown output",
            path: infer,
            body: serde_json::to_vec(&json!({
                "inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "data": full}],
                "outputs": [{"name": "logits"}]
            }))
            .unwrap(),
            json_header: None,
            status: 400,
            message: "unknown output 'logits'",
        },
        Case {
            what: "unknown input",
            path: infer,
            body: serde_json::to_vec(&json!({"inputs": [{"name": "image", "shape": [1], "datatype": "FP32", "data": [1]}]})).unwrap(),
            json_header: None,
            status: 400,
            message: "unexpected inference input 'image'",
        },
        Case {
            what: "body over the limit",
            path: infer,
            body: vec![b' '; 3 * 1024 * 1024],
            json_header: None,
            status: 413,
            message: "exceeds the limit",
        },
    ]
}

#[test]
fn bad_requests_get_clear_errors_and_the_server_stays_up() {
    let repo = repo_root().join("models");
    let server = common::start(&repo, &["--max-body-bytes", "2097152"]);
    let client = common::client();
    for case in cases() {
        let mut request = client
            .post(format!("{}{}", server.base_url, case.path))
            .body(case.body);
        if let Some(len) = case.json_header {
            request = request.header("Inference-Header-Content-Length", len.to_string());
        }
        let response = request
            .send()
            .unwrap_or_else(|e| panic!("{}: {e:?}", case.what));
        let status = response.status().as_u16();
        let body: Value = response
            .json()
            .unwrap_or_else(|e| panic!("{}: error body is not JSON: {e}", case.what));
        assert_eq!(status, case.status, "{}: {body}", case.what);
        let message = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no error field in {body}", case.what));
        assert!(
            message.contains(case.message),
            "{}: '{message}' does not mention '{}'",
            case.what,
            case.message
        );
        assert_eq!(
            server.get_status("/v2/health/live"),
            Some(200),
            "server down after {}",
            case.what
        );
    }
    // Unknown model and version on the metadata and ready endpoints.
    for (path, status) in [
        ("/v2/models/no_such_model", 404),
        ("/v2/models/no_such_model/ready", 404),
        ("/v2/models/mobilenet_v2_int8/versions/7", 404),
        ("/v2/models/mobilenet_v2_int8/versions/x/ready", 400),
        ("/v2/nothing/here", 404),
    ] {
        let response = client
            .get(format!("{}{path}", server.base_url))
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        let body: Value = response.json().unwrap();
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    // And a good request still works afterwards.
    let good = mobilenet_input(
        "FP32",
        &json!([1, 3, 224, 224]),
        &json!(vec![0.5f32; 3 * 224 * 224]),
    );
    let response = client
        .post(format!(
            "{}/v2/models/mobilenet_v2_int8/infer",
            server.base_url
        ))
        .body(good)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Writes `request` and then, pipelined on the same connection, a liveness probe; returns
/// everything the server wrote before closing.
fn answers_on_one_connection(addr: std::net::SocketAddr, mut request: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    request
        .extend_from_slice(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    stream
        .write_all(&request)
        .unwrap_or_else(|e| panic!("server stopped reading the request: {e}"));
    let mut answer = Vec::new();
    // A reset after the responses still leaves what was read.
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status code of every response in `answers`, in order.
fn statuses(answers: &str) -> Vec<u16> {
    answers
        .match_indices("HTTP/1.1 ")
        .filter_map(|(at, _)| answers.get(at + 9..at + 12)?.parse().ok())
        .collect()
}

/// `request_head` with a body of `body_len` bytes.
fn request_with_body(request_head: &str, body_len: usize) -> Vec<u8> {
    let mut bytes = format!("{request_head}Content-Length: {body_len}\r\n\r\n").into_bytes();
    bytes.extend(std::iter::repeat_n(b'7', body_len));
    bytes
}

#[test]
fn requests_refused_before_their_body_is_read_keep_the_connection_usable() {
    let repo = repo_root().join("models");
    let server = common::start(&repo, &[]);
    let body_len = 256 * 1024;
    for (what, head, status) in [
        (
            "unknown model",
            "POST /v2/models/no_such_model/infer HTTP/1.1\r\nHost: t\r\n",
            404,
        ),
        (
            "unknown version",
            "POST /v2/models/mobilenet_v2_int8/versions/9/infer HTTP/1.1\r\nHost: t\r\n",
            404,
        ),
        (
            "invalid binary header length",
            "POST /v2/models/mobilenet_v2_int8/infer HTTP/1.1\r\nHost: t\r\nInference-Header-Content-Length: many\r\n",
            400,
        ),
        (
            "unknown endpoint",
            "POST /v2/models/mobilenet_v2_int8/explain HTTP/1.1\r\nHost: t\r\n",
            404,
        ),
        (
            "wrong method",
            "PUT /v2/models/mobilenet_v2_int8/infer HTTP/1.1\r\nHost: t\r\n",
            405,
        ),
        (
            "malformed body",
            "POST /v2/models/mobilenet_v2_int8/infer HTTP/1.1\r\nHost: t\r\n",
            400,
        ),
    ] {
        let answers = answers_on_one_connection(server.addr, request_with_body(head, body_len));
        assert_eq!(
            statuses(&answers),
            vec![status, 200],
            "{what}: the refusal and then the pipelined probe"
        );
    }
}

#[test]
fn a_chunked_body_over_the_limit_is_refused_and_the_connection_stays_usable() {
    let repo = repo_root().join("models");
    let server = common::start(&repo, &["--max-body-bytes", "2097152"]);
    // No Content-Length: the limit can only be found while reading. Six 512 KiB chunks, 3 MiB.
    let mut bytes = b"POST /v2/models/mobilenet_v2_int8/infer HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..6 {
        bytes.extend_from_slice(b"80000\r\n");
        bytes.extend(std::iter::repeat_n(b' ', 0x80000));
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    let text = answers_on_one_connection(server.addr, bytes);
    assert_eq!(statuses(&text), [413, 200], "{text}");
    assert!(
        text.contains("exceeds the limit of 2097152 bytes"),
        "{text}"
    );
}
