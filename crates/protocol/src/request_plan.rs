//! The checked form of an infer request's JSON header.
//!
//! Every input is validated here (datatype, shape, element limit, `data` versus
//! `binary_data_size`, binary size against the shape) and JSON `data` is decoded; binary inputs
//! are left waiting for their bytes. The whole-body decoder and the streaming decoder both
//! start from a [`RequestPlan`] and differ only in where the binary bytes come from.

use std::collections::HashMap;

use outpost_core::{DataType, InferRequest, TensorData};
use serde_json::Value;

use crate::decoded::{DecodeLimits, DecodedInfer, OutputEncoding};
use crate::error::ProtocolError;
use crate::input_header::{
    check_input_header, check_output_parameters, named_tensor, reject_shared_memory_keys,
    CheckedInput,
};
use crate::json_data;
use crate::rest::{InferRequestJson, InputTensorJson, Parameters};

/// A request whose header is fully checked; binary inputs still need their bytes.
#[derive(Debug)]
pub(crate) struct RequestPlan {
    id: Option<String>,
    inputs: Vec<PlannedInput>,
    outputs: Option<Vec<String>>,
    encoding: OutputEncoding,
}

#[derive(Debug)]
struct PlannedInput {
    name: String,
    shape: Vec<usize>,
    datatype: DataType,
    source: InputSource,
}

#[derive(Debug)]
enum InputSource {
    /// `binary_data_size` bytes in the binary section, in input order.
    Binary(usize),
    /// Decoded from the header's `data`.
    Json(TensorData),
}

/// One binary input's place in the binary section.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BinaryInput<'p> {
    pub name: &'p str,
    pub datatype: DataType,
    pub size: usize,
}

impl RequestPlan {
    /// Parses and checks the JSON header.
    pub(crate) fn parse(json: &[u8], limits: DecodeLimits) -> Result<RequestPlan, ProtocolError> {
        let parsed: InferRequestJson = serde_json::from_slice(json)
            .map_err(|e| ProtocolError::MalformedJson(e.to_string()))?;
        reject_shared_memory(parsed.parameters.as_ref())?;
        let inputs = parsed
            .inputs
            .into_iter()
            .map(|input| plan_input(input, limits))
            .collect::<Result<Vec<_>, _>>()?;
        let mut encoding = OutputEncoding {
            binary_by_default: bool_parameter(parsed.parameters.as_ref(), "binary_data_output")?
                .unwrap_or(false),
            per_output: HashMap::new(),
        };
        let outputs = match parsed.outputs {
            None => None,
            Some(requested) => {
                let mut names = Vec::with_capacity(requested.len());
                for output in requested {
                    let params = output.parameters.as_ref();
                    check_output_parameters(
                        &output.name,
                        params.into_iter().flat_map(|p| p.keys()),
                    )?;
                    if let Some(binary) = bool_parameter(params, "binary_data")? {
                        encoding.per_output.insert(output.name.clone(), binary);
                    }
                    names.push(output.name);
                }
                Some(names)
            }
        };
        Ok(RequestPlan {
            id: parsed.id,
            inputs,
            outputs,
            encoding,
        })
    }

    /// The binary inputs in the order their bytes follow the header.
    pub(crate) fn binary_inputs(&self) -> impl Iterator<Item = BinaryInput<'_>> {
        self.inputs.iter().filter_map(|input| match input.source {
            InputSource::Binary(size) => Some(BinaryInput {
                name: &input.name,
                datatype: input.datatype,
                size,
            }),
            InputSource::Json(_) => None,
        })
    }

    /// Completes the request. `binary_data` is called once per binary input, in order, and
    /// returns that input's elements.
    pub(crate) fn into_decoded(
        self,
        mut binary_data: impl FnMut(&str, DataType, usize) -> Result<TensorData, ProtocolError>,
    ) -> Result<DecodedInfer, ProtocolError> {
        let inputs = self
            .inputs
            .into_iter()
            .map(|input| {
                let data = match input.source {
                    InputSource::Json(data) => data,
                    InputSource::Binary(size) => binary_data(&input.name, input.datatype, size)?,
                };
                named_tensor(input.name, input.shape, data)
            })
            .collect::<Result<Vec<_>, ProtocolError>>()?;
        Ok(DecodedInfer {
            request: InferRequest {
                id: self.id,
                inputs,
                outputs: self.outputs,
            },
            output_encoding: self.encoding,
        })
    }
}

fn plan_input(input: InputTensorJson, limits: DecodeLimits) -> Result<PlannedInput, ProtocolError> {
    let CheckedInput {
        datatype,
        shape,
        elements,
    } = check_input_header(&input.name, &input.datatype, &input.shape, limits)?;
    let name = input.name;
    reject_shared_memory(input.parameters.as_ref())?;
    let binary_size = size_parameter(input.parameters.as_ref(), "binary_data_size")?;
    let source = match (binary_size, input.data) {
        (Some(_), Some(_)) => return Err(ProtocolError::DataAndBinary { name }),
        (None, None) => return Err(ProtocolError::MissingData { name }),
        (Some(size), None) => {
            if let Some(element_size) = datatype.element_size() {
                let expected = elements.saturating_mul(element_size);
                if size != expected {
                    return Err(ProtocolError::BinarySize {
                        name,
                        datatype: datatype.to_string(),
                        shape,
                        expected,
                        actual: size,
                    });
                }
            }
            InputSource::Binary(size)
        }
        (None, Some(json)) => {
            InputSource::Json(json_data::from_json(json, datatype, elements).map_err(
                |message| ProtocolError::BadData {
                    name: name.clone(),
                    message,
                },
            )?)
        }
    };
    Ok(PlannedInput {
        name,
        shape,
        datatype,
        source,
    })
}

fn bool_parameter(params: Option<&Parameters>, key: &str) -> Result<Option<bool>, ProtocolError> {
    match params.and_then(|p| p.get(key)) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ProtocolError::BadParameter {
            name: key.to_string(),
            message: format!("expected true or false, got {other}"),
        }),
    }
}

fn size_parameter(params: Option<&Parameters>, key: &str) -> Result<Option<usize>, ProtocolError> {
    match params.and_then(|p| p.get(key)) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| ProtocolError::BadParameter {
                name: key.to_string(),
                message: format!("expected a non-negative integer, got {v}"),
            }),
    }
}

fn reject_shared_memory(params: Option<&Parameters>) -> Result<(), ProtocolError> {
    reject_shared_memory_keys(params.into_iter().flat_map(|p| p.keys()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binary_inputs_are_listed_in_order_and_json_inputs_are_decoded() {
        let header = json!({
            "inputs": [
                {"name": "a", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
                {"name": "j", "shape": [1], "datatype": "INT64", "data": [5]},
                {"name": "b", "shape": [], "datatype": "BYTES", "parameters": {"binary_data_size": 9}}
            ]
        });
        let plan = RequestPlan::parse(
            &serde_json::to_vec(&header).unwrap(),
            DecodeLimits::default(),
        )
        .unwrap();
        let binary: Vec<_> = plan.binary_inputs().collect();
        assert_eq!(
            binary,
            vec![
                BinaryInput {
                    name: "a",
                    datatype: DataType::Fp32,
                    size: 8
                },
                BinaryInput {
                    name: "b",
                    datatype: DataType::Bytes,
                    size: 9
                }
            ]
        );
        let mut asked = Vec::new();
        let decoded = plan
            .into_decoded(|name, datatype, size| {
                asked.push(name.to_string());
                Ok(match datatype {
                    DataType::Fp32 => TensorData::Fp32(vec![0.0; size / 4]),
                    _ => TensorData::Bytes(vec![b"x".to_vec()]),
                })
            })
            .unwrap();
        assert_eq!(asked, ["a", "b"]);
        assert_eq!(
            decoded.request.inputs[1].tensor.data(),
            &TensorData::Int64(vec![5])
        );
    }
}
