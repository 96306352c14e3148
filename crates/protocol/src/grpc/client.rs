//! The client's side of V2 gRPC inference, for forwarding a request to a remote V2 server: an
//! [`InferRequest`] into a `ModelInferRequest` (every input in `raw_input_contents`), and the
//! remote `ModelInferResponse` (raw or typed contents) back into an [`InferResponse`].

use std::collections::HashMap;

use bytes::Bytes;
use outpost_core::{
    DataType, InferRequest, InferResponse, NamedTensor, ServedBy, Tensor, TensorData,
};

use super::decode::from_contents;
use super::inference::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use super::inference::{ModelInferRequest, ModelInferResponse};
use crate::error::ProtocolError;

/// The gRPC request for `request` to `model` (at `version`, empty for the default).
pub fn encode_model_infer_request(
    request: &InferRequest,
    model: &str,
    version: &str,
) -> ModelInferRequest {
    let (inputs, raw) = request
        .inputs
        .iter()
        .map(|input| {
            let tensor = &input.tensor;
            let header = InferInputTensor {
                name: input.name.clone(),
                datatype: tensor.datatype().to_string(),
                shape: tensor.shape().iter().map(|d| *d as i64).collect(),
                parameters: HashMap::default(),
                contents: None,
            };
            (header, Bytes::from(tensor.data().to_le_bytes()))
        })
        .unzip();
    let outputs = request
        .outputs
        .iter()
        .flatten()
        .map(|name| InferRequestedOutputTensor {
            name: name.clone(),
            parameters: HashMap::default(),
        })
        .collect();
    ModelInferRequest {
        model_name: model.to_string(),
        model_version: version.to_string(),
        id: request.id.clone().unwrap_or_default(),
        parameters: HashMap::default(),
        inputs,
        outputs,
        raw_input_contents: raw,
    }
}

fn bad(message: String) -> ProtocolError {
    ProtocolError::BadResponse(message)
}

/// Decodes a remote server's gRPC answer; at most `max_elements` elements per output.
pub fn decode_model_infer_response(
    response: ModelInferResponse,
    max_elements: usize,
) -> Result<InferResponse, ProtocolError> {
    let raw = response.raw_output_contents;
    if !raw.is_empty() && raw.len() != response.outputs.len() {
        return Err(bad(format!(
            "{} raw_output_contents for {} outputs",
            raw.len(),
            response.outputs.len()
        )));
    }
    let mut raw = raw.into_iter();
    let mut outputs = Vec::with_capacity(response.outputs.len());
    for output in response.outputs {
        let name = output.name;
        let datatype = DataType::parse(&output.datatype).ok_or_else(|| {
            bad(format!(
                "output '{name}': unknown datatype '{}'",
                output.datatype
            ))
        })?;
        let shape = output
            .shape
            .iter()
            .map(|d| usize::try_from(*d))
            .collect::<Result<Vec<usize>, _>>()
            .map_err(|_| {
                bad(format!(
                    "output '{name}': negative dimension in {:?}",
                    output.shape
                ))
            })?;
        outpost_core::tensor::element_count(&shape)
            .filter(|n| *n <= max_elements)
            .ok_or_else(|| bad(format!("output '{name}': shape {shape:?} is too large")))?;
        let data = match (raw.next(), output.contents) {
            (Some(bytes), _) => TensorData::from_le_bytes(datatype, &bytes)
                .map_err(|e| bad(format!("output '{name}': {e}")))?,
            (None, Some(contents)) => from_contents(&name, datatype, contents)?,
            (None, None) => return Err(bad(format!("output '{name}' has no contents"))),
        };
        let tensor = Tensor::new(shape, data).map_err(|e| bad(format!("output '{name}': {e}")))?;
        outputs.push(NamedTensor::new(name, tensor));
    }
    Ok(InferResponse {
        model_name: response.model_name,
        model_version: response.model_version,
        id: (!response.id.is_empty()).then_some(response.id),
        outputs,
        served_by: ServedBy::Upstream,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoded::DecodeLimits;
    use crate::grpc::{decode_model_infer_request, encode_model_infer_response};

    #[test]
    fn requests_and_answers_round_trip_through_the_servers_codec() {
        let request = InferRequest {
            id: Some("r1".into()),
            inputs: vec![NamedTensor::new(
                "x",
                Tensor::new(vec![2, 2], TensorData::Uint8(vec![1, 2, 3, 4])).unwrap(),
            )],
            outputs: Some(vec!["y".into()]),
        };
        let encoded = encode_model_infer_request(&request, "remote", "3");
        assert_eq!(
            (encoded.model_name.as_str(), encoded.model_version.as_str()),
            ("remote", "3")
        );
        let decoded = decode_model_infer_request(encoded, DecodeLimits::default()).unwrap();
        assert_eq!(decoded, request);

        let response = InferResponse {
            model_name: "remote".into(),
            model_version: "3".into(),
            id: Some("r1".into()),
            outputs: vec![NamedTensor::new(
                "y",
                Tensor::new(vec![1, 3], TensorData::Fp32(vec![0.1, 0.2, 0.7])).unwrap(),
            )],
            served_by: ServedBy::Local,
        };
        let encoded = encode_model_infer_response(response.clone());
        let decoded = decode_model_infer_response(encoded.clone(), 100).unwrap();
        assert_eq!(
            decoded,
            InferResponse {
                served_by: ServedBy::Upstream,
                ..response
            }
        );
        assert!(
            decode_model_infer_response(encoded, 2).is_err(),
            "element bound"
        );
    }
}
