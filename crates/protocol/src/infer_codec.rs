//! Decoding an infer request body into an [`outpost_core::InferRequest`] and encoding an [`InferResponse`]
//! into a body, JSON or JSON-plus-binary.

use outpost_core::request::SERVED_BY_PARAMETER;
use outpost_core::{InferResponse, TensorData};
use serde_json::{Map, Value};

use crate::binary::split_body;
use crate::decoded::{DecodeLimits, DecodedInfer, OutputEncoding};
use crate::error::ProtocolError;
use crate::json_data;
use crate::request_plan::RequestPlan;
use crate::rest::{InferResponseJson, OutputTensorJson};

/// A response body; `json_length` is set when binary tensors follow the JSON.
#[derive(Debug)]
pub struct EncodedResponse {
    /// The body: JSON, then any binary tensors.
    pub body: Vec<u8>,
    /// The JSON part's length, for `Inference-Header-Content-Length`.
    pub json_length: Option<usize>,
}

/// Decodes an infer request body. `json_length` is the `Inference-Header-Content-Length`
/// header when present (binary tensors follow the JSON).
pub fn decode_infer_request(
    body: &[u8],
    json_length: Option<usize>,
    limits: DecodeLimits,
) -> Result<DecodedInfer, ProtocolError> {
    decode_infer_request_segments(&[body], json_length, limits)
}

/// [`decode_infer_request`] for a body held as the segments it arrived in: each binary tensor
/// is copied once, straight from the segments into its typed storage.
pub fn decode_infer_request_segments(
    segments: &[&[u8]],
    json_length: Option<usize>,
    limits: DecodeLimits,
) -> Result<DecodedInfer, ProtocolError> {
    let (json, mut cursor) = split_body(segments, json_length)?;
    let plan = RequestPlan::parse(&json, limits)?;
    let decoded = plan.into_decoded(|name, datatype, size| {
        let pieces = cursor.take(name, size)?;
        TensorData::from_le_pieces(datatype, &pieces).map_err(|e| ProtocolError::BadData {
            name: name.to_string(),
            message: e.to_string(),
        })
    })?;
    cursor.finish()?;
    Ok(decoded)
}

/// Encodes an answer: binary outputs go after the JSON, which then names their sizes.
pub fn encode_infer_response(
    response: &InferResponse,
    encoding: &OutputEncoding,
) -> EncodedResponse {
    let mut binary = Vec::new();
    let outputs = response
        .outputs
        .iter()
        .map(|output| {
            let tensor = &output.tensor;
            let (parameters, data) = if encoding.is_binary(&output.name) {
                let before = binary.len();
                tensor.data().write_le_bytes(&mut binary);
                let mut params = Map::new();
                params.insert(
                    "binary_data_size".into(),
                    Value::from(binary.len() - before),
                );
                (Some(params), None)
            } else {
                (None, Some(json_data::to_json(tensor.data())))
            };
            OutputTensorJson {
                name: output.name.clone(),
                datatype: tensor.datatype().to_string(),
                shape: tensor.shape().to_vec(),
                parameters,
                data,
            }
        })
        .collect();
    let header = InferResponseJson {
        model_name: response.model_name.clone(),
        model_version: Some(response.model_version.clone()),
        id: response.id.clone(),
        parameters: Some(Map::from_iter([(
            SERVED_BY_PARAMETER.to_string(),
            Value::from(response.served_by.as_str()),
        )])),
        outputs,
    };
    let mut body = serde_json::to_vec(&header).expect("response JSON has only string keys");
    if binary.is_empty() && !response.outputs.iter().any(|o| encoding.is_binary(&o.name)) {
        return EncodedResponse {
            body,
            json_length: None,
        };
    }
    let json_length = body.len();
    body.extend_from_slice(&binary);
    EncodedResponse {
        body,
        json_length: Some(json_length),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_core::{NamedTensor, Tensor};
    use serde_json::json;

    fn decode(body: &[u8], header: Option<usize>) -> Result<DecodedInfer, ProtocolError> {
        decode_infer_request(body, header, DecodeLimits::default())
    }

    fn binary_body(json: &Value, tensors: &[&[u8]]) -> (Vec<u8>, usize) {
        let mut body = serde_json::to_vec(&json).unwrap();
        let len = body.len();
        for t in tensors {
            body.extend_from_slice(t);
        }
        (body, len)
    }

    #[test]
    fn decodes_json_inputs_and_output_selection() {
        let body = json!({
            "id": "42",
            "inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4]]}],
            "outputs": [{"name": "y", "parameters": {"binary_data": true}}]
        });
        let decoded = decode(&serde_json::to_vec(&body).unwrap(), None).unwrap();
        assert_eq!(decoded.request.id.as_deref(), Some("42"));
        assert_eq!(decoded.request.inputs[0].tensor.shape(), &[2, 2]);
        assert_eq!(decoded.request.outputs, Some(vec!["y".to_string()]));
        assert!(decoded.output_encoding.is_binary("y"));
        assert!(!decoded.output_encoding.is_binary("z"));
    }

    #[test]
    fn decodes_binary_inputs_in_order() {
        let a: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let b = [1u8, 0, 1];
        let (body, len) = binary_body(
            &json!({
                "inputs": [
                    {"name": "a", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
                    {"name": "b", "shape": [3], "datatype": "BOOL", "parameters": {"binary_data_size": 3}}
                ],
                "parameters": {"binary_data_output": true}
            }),
            &[&a, &b],
        );
        let decoded = decode(&body, Some(len)).unwrap();
        assert_eq!(
            decoded.request.inputs[0].tensor.data(),
            &TensorData::Fp32(vec![1.0, 2.0])
        );
        assert_eq!(
            decoded.request.inputs[1].tensor.data(),
            &TensorData::Bool(vec![true, false, true])
        );
        assert!(decoded.output_encoding.is_binary("anything"));
    }

    #[test]
    fn rejects_bad_bodies() {
        let cases: Vec<(Vec<u8>, Option<usize>)> = vec![
            (b"{not json".to_vec(), None),
            (
                br#"{"inputs":[{"name":"x","shape":[2],"datatype":"FP99","data":[1,2]}]}"#.to_vec(),
                None,
            ),
            (
                br#"{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2]}]}"#.to_vec(),
                None,
            ),
            (
                br#"{"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]}"#.to_vec(),
                None,
            ),
            (
                br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]}"#.to_vec(),
                None,
            ),
            (
                br#"{"inputs":[{"name":"x","shape":[1],"datatype":"INT8","data":[300]}]}"#.to_vec(),
                None,
            ),
            (br#"{"inputs":{"name":"x"}}"#.to_vec(), None),
            (br#"{"inputs":[]}"#.to_vec(), Some(100)),
        ];
        for (body, header) in cases {
            assert!(
                decode(&body, header).is_err(),
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn binary_size_must_match_shape_and_body() {
        let (body, len) = binary_body(
            &json!({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]}),
            &[&[0; 4]],
        );
        assert!(matches!(
            decode(&body, Some(len)),
            Err(ProtocolError::BinarySize {
                expected: 8,
                actual: 4,
                ..
            })
        ));
        let (body, len) = binary_body(
            &json!({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}),
            &[&[0; 4]],
        );
        assert!(matches!(
            decode(&body, Some(len)),
            Err(ProtocolError::BinaryOverrun { .. })
        ));
        let (body, len) = binary_body(
            &json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]}),
            &[&[0; 8]],
        );
        assert!(matches!(
            decode(&body, Some(len)),
            Err(ProtocolError::UnclaimedBinary(4))
        ));
    }

    #[test]
    fn element_limit_is_checked_before_allocation() {
        let body = br#"{"inputs":[{"name":"x","shape":[100000,100000,100000],"datatype":"FP32","parameters":{"binary_data_size":0}}]}"#;
        assert!(matches!(
            decode(body, None),
            Err(ProtocolError::TooManyElements { .. })
        ));
    }

    #[test]
    fn encodes_json_and_binary_outputs() {
        let response = InferResponse {
            model_name: "m".into(),
            model_version: "1".into(),
            id: Some("7".into()),
            outputs: vec![
                NamedTensor::new(
                    "a",
                    Tensor::new(vec![2], TensorData::Fp32(vec![1.0, 2.0])).unwrap(),
                ),
                NamedTensor::new(
                    "b",
                    Tensor::new(vec![1], TensorData::Int64(vec![9])).unwrap(),
                ),
            ],
            served_by: outpost_core::ServedBy::Local,
        };
        let json_only = encode_infer_response(&response, &OutputEncoding::default());
        assert!(json_only.json_length.is_none());
        let parsed: Value = serde_json::from_slice(&json_only.body).unwrap();
        assert_eq!(parsed["outputs"][0]["data"], json!([1.0, 2.0]));
        assert_eq!(parsed["id"], "7");

        let mut encoding = OutputEncoding::default();
        encoding.per_output.insert("a".into(), true);
        let mixed = encode_infer_response(&response, &encoding);
        let len = mixed.json_length.unwrap();
        let header: Value = serde_json::from_slice(&mixed.body[..len]).unwrap();
        assert_eq!(header["outputs"][0]["parameters"]["binary_data_size"], 8);
        assert_eq!(header["outputs"][1]["data"], json!([9]));
        assert_eq!(
            &mixed.body[len..],
            &TensorData::Fp32(vec![1.0, 2.0]).to_le_bytes()[..]
        );
    }
}
