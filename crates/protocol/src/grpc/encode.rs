//! An [`InferResponse`] into a `ModelInferResponse`: every output's elements go in
//! `raw_output_contents` (what tritonclient and perf_analyzer read), in output order.

use std::collections::HashMap;

use bytes::Bytes;
use outpost_core::request::SERVED_BY_PARAMETER;
use outpost_core::InferResponse;

use super::inference::infer_parameter::ParameterChoice;
use super::inference::InferParameter;

use super::inference::model_infer_response::InferOutputTensor;
use super::inference::ModelInferResponse;

/// The gRPC answer for `response`.
pub fn encode_model_infer_response(response: InferResponse) -> ModelInferResponse {
    let mut outputs = Vec::with_capacity(response.outputs.len());
    let mut raw = Vec::with_capacity(response.outputs.len());
    for output in response.outputs {
        outputs.push(InferOutputTensor {
            name: output.name,
            datatype: output.tensor.datatype().to_string(),
            shape: output.tensor.shape().iter().map(|d| *d as i64).collect(),
            parameters: HashMap::default(),
            contents: None,
        });
        raw.push(Bytes::from(output.tensor.data().to_le_bytes()));
    }
    ModelInferResponse {
        model_name: response.model_name,
        model_version: response.model_version,
        id: response.id.unwrap_or_default(),
        parameters: HashMap::from([(
            SERVED_BY_PARAMETER.to_string(),
            InferParameter {
                parameter_choice: Some(ParameterChoice::StringParam(
                    response.served_by.as_str().to_string(),
                )),
            },
        )]),
        outputs,
        raw_output_contents: raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_core::{NamedTensor, Tensor, TensorData};

    #[test]
    fn outputs_travel_as_raw_little_endian_bytes() {
        let tensor = Tensor::new(vec![1, 2], TensorData::Fp32(vec![0.25, 4.0])).unwrap();
        let encoded = encode_model_infer_response(InferResponse {
            model_name: "m".into(),
            model_version: "3".into(),
            id: Some("frame-7".into()),
            outputs: vec![NamedTensor::new("p", tensor)],
            served_by: outpost_core::ServedBy::Upstream,
        });
        let served_by = &encoded.parameters["outpost_served_by"];
        assert_eq!(
            served_by.parameter_choice,
            Some(ParameterChoice::StringParam("upstream".into()))
        );
        assert_eq!(encoded.model_version, "3");
        assert_eq!(encoded.id, "frame-7");
        assert_eq!(encoded.outputs[0].datatype, "FP32");
        assert_eq!(encoded.outputs[0].shape, vec![1, 2]);
        let expected: Vec<u8> = [0.25f32, 4.0]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        assert_eq!(encoded.raw_output_contents[0].as_ref(), expected.as_slice());
    }
}
