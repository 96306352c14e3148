//! Every datatype the fixtures use travels through JSON and the binary extension (FP16 and BYTES
//! in binary form too), and a variable batch dimension is served Triton-style, on both backends.

use crate::common;

use outpost_core::{NamedTensor, Tensor, TensorData};
use outpost_testkit::fixtures::{fixtures_dir, write_repository};
use serde_json::{json, Value};

fn repository(backend: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let model = fixtures_dir().join("generated/datatypes_dynamic_batch.onnx");
    write_repository(
        &dir.path().join("repo"),
        &[("datatypes", &model, &format!("backend = \"{backend}\"\n"))],
    );
    dir
}

fn json_inputs(batch: usize) -> Value {
    let rows = |row: Value| Value::Array(vec![row; batch]);
    json!([
        {"name": "fp32_in", "shape": [batch, 4], "datatype": "FP32", "data": rows(json!([0.5, -1.0, 2.25, 0.0]))},
        {"name": "uint8_in", "shape": [batch, 4], "datatype": "UINT8", "data": rows(json!([0, 1, 254, 255]))},
        {"name": "int8_in", "shape": [batch, 4], "datatype": "INT8", "data": rows(json!([-128, -1, 0, 127]))},
        {"name": "int32_in", "shape": [batch, 4], "datatype": "INT32", "data": rows(json!([-5, 0, 5, 2147483646]))},
        {"name": "int64_in", "shape": [batch, 4], "datatype": "INT64", "data": rows(json!([-5, 0, 5, 9007199254740990i64]))},
        {"name": "bool_in", "shape": [batch, 4], "datatype": "BOOL", "data": rows(json!([true, false, false, true]))},
        {"name": "fp16_in", "shape": [batch, 4], "datatype": "FP16", "data": rows(json!([0.5, 1.5, -2.0, 1024.0]))},
        {"name": "bytes_in", "shape": [batch, 2], "datatype": "BYTES", "data": rows(json!(["camera-7", "zone a"]))}
    ])
}

fn output<'v>(response: &'v Value, name: &str) -> &'v Value {
    response["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no output {name}"))
}

fn check(backend: &str) {
    let dir = repository(backend);
    let server = common::start(&dir.path().join("repo"), &[]);
    let client = common::client();
    let base = &server.base_url;

    let meta: Value = client
        .get(format!("{base}/v2/models/datatypes"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(meta["inputs"][0]["shape"], json!([-1, 4]), "{meta}");
    let config: Value = client
        .get(format!("{base}/v2/models/datatypes/config"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(config["max_batch_size"], 4, "{config}");
    assert_eq!(
        config["input"][0]["dims"],
        json!([4]),
        "batch dimension left out of dims: {config}"
    );

    // JSON in, JSON out, batch of 3.
    let response = client
        .post(format!("{base}/v2/models/datatypes/infer"))
        .json(&json!({"id": "dt", "inputs": json_inputs(3)}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    assert_eq!(body["id"], "dt");
    assert_eq!(output(&body, "fp32_out")["shape"], json!([3, 4]));
    assert_eq!(
        output(&body, "fp32_out")["data"].as_array().unwrap()[..4],
        [json!(1.0), json!(-2.0), json!(4.5), json!(0.0)]
    );
    assert_eq!(
        output(&body, "uint8_out")["data"].as_array().unwrap()[..4],
        [json!(0), json!(1), json!(254), json!(255)]
    );
    assert_eq!(
        output(&body, "int8_out")["data"].as_array().unwrap()[..4],
        [json!(-128), json!(-1), json!(0), json!(127)]
    );
    assert_eq!(
        output(&body, "int32_out")["data"].as_array().unwrap()[3],
        json!(2147483647)
    );
    assert_eq!(
        output(&body, "int64_out")["data"].as_array().unwrap()[3],
        json!(9007199254740991i64)
    );
    assert_eq!(
        output(&body, "bool_out")["data"].as_array().unwrap()[..4],
        [json!(false), json!(true), json!(true), json!(false)]
    );
    assert_eq!(output(&body, "fp16_out")["datatype"], "FP16");
    assert_eq!(
        output(&body, "fp16_out")["data"].as_array().unwrap()[3],
        json!(1024.0)
    );
    assert_eq!(
        output(&body, "bytes_out")["data"].as_array().unwrap()[..2],
        [json!("camera-7"), json!("zone a")]
    );

    // Binary in and out, including FP16 and BYTES.
    let fp16: Vec<half::f16> = [0.25f32, -0.5, 3.0, 65504.0]
        .iter()
        .map(|x| half::f16::from_f32(*x))
        .collect();
    let inputs = vec![
        NamedTensor::new(
            "fp32_in",
            Tensor::new(vec![1, 4], TensorData::Fp32(vec![1.0, 2.0, 3.0, 4.0])).unwrap(),
        ),
        NamedTensor::new(
            "uint8_in",
            Tensor::new(vec![1, 4], TensorData::Uint8(vec![9, 8, 7, 6])).unwrap(),
        ),
        NamedTensor::new(
            "int8_in",
            Tensor::new(vec![1, 4], TensorData::Int8(vec![-9, 8, -7, 6])).unwrap(),
        ),
        NamedTensor::new(
            "int32_in",
            Tensor::new(vec![1, 4], TensorData::Int32(vec![1, 2, 3, 4])).unwrap(),
        ),
        NamedTensor::new(
            "int64_in",
            Tensor::new(vec![1, 4], TensorData::Int64(vec![-1, -2, -3, -4])).unwrap(),
        ),
        NamedTensor::new(
            "bool_in",
            Tensor::new(vec![1, 4], TensorData::Bool(vec![false, false, true, true])).unwrap(),
        ),
        NamedTensor::new(
            "fp16_in",
            Tensor::new(vec![1, 4], TensorData::Fp16(fp16.clone())).unwrap(),
        ),
        NamedTensor::new(
            "bytes_in",
            Tensor::new(
                vec![1, 2],
                TensorData::Bytes(vec![b"jpeg?".to_vec(), Vec::new()]),
            )
            .unwrap(),
        ),
    ];
    let (_, outputs) = common::infer_binary(
        &client,
        &format!("{base}/v2/models/datatypes/infer"),
        &inputs,
    );
    let by_name = |n: &str| {
        outputs
            .iter()
            .find(|o| o.name == n)
            .unwrap()
            .tensor
            .data()
            .clone()
    };
    assert_eq!(
        by_name("fp32_out"),
        TensorData::Fp32(vec![2.0, 4.0, 6.0, 8.0])
    );
    assert_eq!(by_name("uint8_out"), TensorData::Uint8(vec![9, 8, 7, 6]));
    assert_eq!(by_name("int8_out"), TensorData::Int8(vec![-9, 8, -7, 6]));
    assert_eq!(by_name("int32_out"), TensorData::Int32(vec![2, 3, 4, 5]));
    assert_eq!(by_name("int64_out"), TensorData::Int64(vec![0, -1, -2, -3]));
    assert_eq!(
        by_name("bool_out"),
        TensorData::Bool(vec![true, true, false, false])
    );
    assert_eq!(by_name("fp16_out"), TensorData::Fp16(fp16));
    assert_eq!(
        by_name("bytes_out"),
        TensorData::Bytes(vec![b"jpeg?".to_vec(), Vec::new()])
    );

    // Requested-output filtering.
    let response: Value = client
        .post(format!("{base}/v2/models/datatypes/infer"))
        .json(&json!({"inputs": json_inputs(1), "outputs": [{"name": "int32_out"}, {"name": "bool_out"}]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let names: Vec<&str> = response["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["int32_out", "bool_out"]);

    // A batch over max_batch_size is refused.
    let response = client
        .post(format!("{base}/v2/models/datatypes/infer"))
        .json(&json!({"inputs": json_inputs(5)}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("batch size 5"),
        "{error}"
    );
}

#[test]
fn all_datatypes_and_dynamic_batch_on_onnxruntime() {
    check("ort");
}

#[test]
fn all_datatypes_and_dynamic_batch_on_tract() {
    check("tract");
}
