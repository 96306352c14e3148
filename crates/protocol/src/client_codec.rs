//! The client's side of V2 REST inference, for a server that forwards requests to another V2
//! server (Triton, KServe, another Outpost): an [`InferRequest`] into a JSON-plus-binary body
//! (every input and every output as binary data, the tensor extension all of them speak), and
//! the remote server's answer, JSON or JSON-plus-binary, back into an [`InferResponse`].

use outpost_core::{
    DataType, InferRequest, InferResponse, NamedTensor, ServedBy, Tensor, TensorData,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::binary::split_body;
use crate::error::ProtocolError;
use crate::json_data;
use crate::rest::Parameters;

/// A request body for a remote server: the JSON header, then each input's bytes.
#[derive(Debug)]
pub struct EncodedRequest {
    /// JSON header and binary tensors.
    pub body: Vec<u8>,
    /// The JSON header's length (`Inference-Header-Content-Length`).
    pub json_length: usize,
}

/// Encodes `request` with every input as binary data, asking for every output as binary data.
pub fn encode_infer_request(request: &InferRequest) -> EncodedRequest {
    let mut binary = Vec::with_capacity(
        request
            .inputs
            .iter()
            .map(|i| i.tensor.data().byte_len())
            .sum(),
    );
    let inputs: Vec<Value> = request
        .inputs
        .iter()
        .map(|input| {
            let before = binary.len();
            input.tensor.data().write_le_bytes(&mut binary);
            json!({
                "name": input.name,
                "datatype": input.tensor.datatype().to_string(),
                "shape": input.tensor.shape(),
                "parameters": {"binary_data_size": binary.len() - before},
            })
        })
        .collect();
    let mut header = Map::new();
    if let Some(id) = &request.id {
        header.insert("id".into(), Value::from(id.clone()));
    }
    header.insert("inputs".into(), Value::Array(inputs));
    match &request.outputs {
        Some(outputs) => {
            let outputs = outputs
                .iter()
                .map(|name| json!({"name": name, "parameters": {"binary_data": true}}))
                .collect();
            header.insert("outputs".into(), Value::Array(outputs));
        }
        None => {
            header.insert("parameters".into(), json!({"binary_data_output": true}));
        }
    }
    let mut body = serde_json::to_vec(&Value::Object(header)).expect("string keys only");
    let json_length = body.len();
    body.extend_from_slice(&binary);
    EncodedRequest { body, json_length }
}

#[derive(Deserialize)]
struct ResponseHeader<'a> {
    model_name: String,
    model_version: Option<String>,
    id: Option<String>,
    #[serde(borrow)]
    outputs: Vec<ResponseOutput<'a>>,
}

#[derive(Deserialize)]
struct ResponseOutput<'a> {
    name: String,
    datatype: String,
    shape: Vec<usize>,
    parameters: Option<Parameters>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

fn bad(message: impl Into<String>) -> ProtocolError {
    ProtocolError::BadResponse(message.into())
}

/// Decodes a remote server's answer; `json_length` is its `Inference-Header-Content-Length`
/// when binary tensors follow the JSON. At most `max_elements` elements per output.
pub fn decode_infer_response(
    body: &[u8],
    json_length: Option<usize>,
    max_elements: usize,
) -> Result<InferResponse, ProtocolError> {
    let segments = [body];
    let (json, mut cursor) = split_body(&segments, json_length)?;
    let header: ResponseHeader<'_> =
        serde_json::from_slice(&json).map_err(|e| bad(format!("malformed JSON: {e}")))?;
    let mut outputs = Vec::with_capacity(header.outputs.len());
    for output in header.outputs {
        let datatype = DataType::parse(&output.datatype).ok_or_else(|| {
            bad(format!(
                "output '{}': unknown datatype '{}'",
                output.name, output.datatype
            ))
        })?;
        let elements = outpost_core::tensor::element_count(&output.shape)
            .filter(|n| *n <= max_elements)
            .ok_or_else(|| {
                bad(format!(
                    "output '{}': shape {:?} is too large",
                    output.name, output.shape
                ))
            })?;
        let binary_size = output
            .parameters
            .as_ref()
            .and_then(|p| p.get("binary_data_size"))
            .map(|v| v.as_u64().and_then(|n| usize::try_from(n).ok()));
        let data = match (binary_size, output.data) {
            (Some(Some(size)), None) => {
                let pieces = cursor.take(&output.name, size)?;
                TensorData::from_le_pieces(datatype, &pieces)
                    .map_err(|e| bad(format!("output '{}': {e}", output.name)))?
            }
            (None, Some(data)) => json_data::from_json(data, datatype, elements)
                .map_err(|e| bad(format!("output '{}': {e}", output.name)))?,
            _ => {
                return Err(bad(format!(
                    "output '{}' has neither data nor a binary_data_size",
                    output.name
                )))
            }
        };
        let tensor = Tensor::new(output.shape, data)
            .map_err(|e| bad(format!("output '{}': {e}", output.name)))?;
        outputs.push(NamedTensor::new(output.name, tensor));
    }
    cursor.finish()?;
    Ok(InferResponse {
        model_name: header.model_name,
        model_version: header.model_version.unwrap_or_default(),
        id: header.id,
        outputs,
        served_by: ServedBy::Upstream,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoded::{DecodeLimits, OutputEncoding};
    use crate::infer_codec::{decode_infer_request, encode_infer_response};

    fn all_binary() -> OutputEncoding {
        OutputEncoding {
            binary_by_default: true,
            ..OutputEncoding::default()
        }
    }

    fn tensor(shape: Vec<usize>, data: TensorData) -> Tensor {
        Tensor::new(shape, data).unwrap()
    }

    #[test]
    fn a_request_round_trips_through_the_servers_decoder() {
        let request = InferRequest {
            id: Some("frame-7".into()),
            inputs: vec![
                NamedTensor::new(
                    "x",
                    tensor(vec![1, 3], TensorData::Fp32(vec![1.0, -2.5, 3.0])),
                ),
                NamedTensor::new(
                    "t",
                    tensor(vec![2], TensorData::Bytes(vec![b"ab".to_vec(), vec![]])),
                ),
            ],
            outputs: Some(vec!["y".into()]),
        };
        let encoded = encode_infer_request(&request);
        let decoded = decode_infer_request(
            &encoded.body,
            Some(encoded.json_length),
            DecodeLimits::default(),
        )
        .unwrap();
        assert_eq!(decoded.request, request);
        assert!(decoded.output_encoding.is_binary("y"));
    }

    #[test]
    fn answers_decode_from_json_and_from_binary() {
        let response = InferResponse {
            model_name: "m".into(),
            model_version: "2".into(),
            id: Some("a".into()),
            outputs: vec![
                NamedTensor::new("y", tensor(vec![1, 2], TensorData::Fp32(vec![0.25, 0.75]))),
                NamedTensor::new("n", tensor(vec![1], TensorData::Int64(vec![-4]))),
            ],
            served_by: ServedBy::Local,
        };
        let want = InferResponse {
            served_by: ServedBy::Upstream,
            ..response.clone()
        };
        for encoding in [OutputEncoding::default(), all_binary()] {
            let encoded = encode_infer_response(&response, &encoding);
            let decoded =
                decode_infer_response(&encoded.body, encoded.json_length, 1 << 20).unwrap();
            assert_eq!(decoded, want);
        }
        let encoded = encode_infer_response(&response, &all_binary());
        let cut = &encoded.body[..encoded.body.len() - 3];
        assert!(decode_infer_response(cut, encoded.json_length, 1 << 20).is_err());
        assert!(decode_infer_response(&encoded.body, encoded.json_length, 1).is_err());
        assert!(decode_infer_response(b"{\"outputs\": 3}", None, 10).is_err());
    }
}
