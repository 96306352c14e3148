//! `ModelInferRequest` into an [`InferRequest`]: every input from its typed `contents` or from
//! its entry in `raw_input_contents` (one per input, in order, when present), checked against
//! the same header rules and element limit as REST requests.

use bytes::Bytes;
use outpost_core::{DataType, InferRequest, NamedTensor, TensorData};

use super::inference::model_infer_request::InferInputTensor;
use super::inference::{InferTensorContents, ModelInferRequest};
use crate::decoded::DecodeLimits;
use crate::error::ProtocolError;
use crate::input_header::{
    check_input_header, check_output_parameters, named_tensor, reject_shared_memory_keys,
    CheckedInput,
};

/// Decodes and checks `request`. The model is not consulted; the caller validates the result
/// against the model's signature.
pub fn decode_model_infer_request(
    request: ModelInferRequest,
    limits: DecodeLimits,
) -> Result<InferRequest, ProtocolError> {
    reject_shared_memory_keys(request.parameters.keys())?;
    let raw = request.raw_input_contents;
    if !raw.is_empty() && raw.len() != request.inputs.len() {
        return Err(ProtocolError::RawContentsCount {
            raw: raw.len(),
            inputs: request.inputs.len(),
        });
    }
    let mut raw = raw.into_iter();
    let inputs = request
        .inputs
        .into_iter()
        .map(|input| decode_input(input, raw.next(), limits))
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = if request.outputs.is_empty() {
        None
    } else {
        let mut names = Vec::with_capacity(request.outputs.len());
        for output in request.outputs {
            check_output_parameters(&output.name, output.parameters.keys())?;
            names.push(output.name);
        }
        Some(names)
    };
    Ok(InferRequest {
        id: (!request.id.is_empty()).then_some(request.id),
        inputs,
        outputs,
    })
}

fn decode_input(
    input: InferInputTensor,
    raw: Option<Bytes>,
    limits: DecodeLimits,
) -> Result<NamedTensor, ProtocolError> {
    let CheckedInput {
        datatype,
        shape,
        elements,
    } = check_input_header(&input.name, &input.datatype, &input.shape, limits)?;
    reject_shared_memory_keys(input.parameters.keys())?;
    let name = input.name;
    let data = match (raw, input.contents) {
        (Some(_), Some(contents)) if !is_empty(&contents) => {
            return Err(ProtocolError::ContentsAndRaw { name })
        }
        (Some(bytes), _) => {
            if let Some(element_size) = datatype.element_size() {
                let expected = elements.saturating_mul(element_size);
                if bytes.len() != expected {
                    return Err(ProtocolError::RawSize {
                        name,
                        datatype: datatype.to_string(),
                        shape,
                        expected,
                        actual: bytes.len(),
                    });
                }
            }
            TensorData::from_le_bytes(datatype, &bytes).map_err(|e| ProtocolError::BadData {
                name: name.clone(),
                message: e.to_string(),
            })?
        }
        (None, Some(contents)) => from_contents(&name, datatype, contents)?,
        (None, None) if elements == 0 => {
            TensorData::from_le_bytes(datatype, &[]).map_err(|e| ProtocolError::BadData {
                name: name.clone(),
                message: e.to_string(),
            })?
        }
        (None, None) => return Err(ProtocolError::MissingContents { name }),
    };
    named_tensor(name, shape, data)
}

fn is_empty(c: &InferTensorContents) -> bool {
    c.bool_contents.is_empty()
        && c.int_contents.is_empty()
        && c.int64_contents.is_empty()
        && c.uint_contents.is_empty()
        && c.uint64_contents.is_empty()
        && c.fp32_contents.is_empty()
        && c.fp64_contents.is_empty()
        && c.bytes_contents.is_empty()
}

/// Narrows 32-bit typed contents into a smaller integer type, refusing values out of range.
fn narrow<S: Copy + std::fmt::Display, T: TryFrom<S>>(
    name: &str,
    datatype: DataType,
    values: Vec<S>,
) -> Result<Vec<T>, ProtocolError> {
    values
        .into_iter()
        .map(|v| {
            T::try_from(v).map_err(|_| ProtocolError::BadData {
                name: name.to_string(),
                message: format!("{v} is out of range for {datatype}"),
            })
        })
        .collect()
}

/// The elements of `datatype` held in its typed field; the other fields must be empty.
pub(super) fn from_contents(
    name: &str,
    datatype: DataType,
    contents: InferTensorContents,
) -> Result<TensorData, ProtocolError> {
    let filled = [
        ("bool_contents", !contents.bool_contents.is_empty()),
        ("int_contents", !contents.int_contents.is_empty()),
        ("int64_contents", !contents.int64_contents.is_empty()),
        ("uint_contents", !contents.uint_contents.is_empty()),
        ("uint64_contents", !contents.uint64_contents.is_empty()),
        ("fp32_contents", !contents.fp32_contents.is_empty()),
        ("fp64_contents", !contents.fp64_contents.is_empty()),
        ("bytes_contents", !contents.bytes_contents.is_empty()),
    ];
    let field = typed_field(datatype).ok_or_else(|| ProtocolError::BadData {
        name: name.to_string(),
        message: format!("{datatype} has no typed contents; send it in raw_input_contents"),
    })?;
    if let Some((wrong, _)) = filled.iter().find(|(f, set)| *set && *f != field) {
        return Err(ProtocolError::BadData {
            name: name.to_string(),
            message: format!("{datatype} elements belong in {field}, not {wrong}"),
        });
    }
    let c = contents;
    Ok(match datatype {
        DataType::Bool => TensorData::Bool(c.bool_contents),
        DataType::Int8 => TensorData::Int8(narrow(name, datatype, c.int_contents)?),
        DataType::Int16 => TensorData::Int16(narrow(name, datatype, c.int_contents)?),
        DataType::Int32 => TensorData::Int32(c.int_contents),
        DataType::Int64 => TensorData::Int64(c.int64_contents),
        DataType::Uint8 => TensorData::Uint8(narrow(name, datatype, c.uint_contents)?),
        DataType::Uint16 => TensorData::Uint16(narrow(name, datatype, c.uint_contents)?),
        DataType::Uint32 => TensorData::Uint32(c.uint_contents),
        DataType::Uint64 => TensorData::Uint64(c.uint64_contents),
        DataType::Fp32 => TensorData::Fp32(c.fp32_contents),
        DataType::Fp64 => TensorData::Fp64(c.fp64_contents),
        DataType::Bytes => TensorData::Bytes(c.bytes_contents.into_iter().map(Vec::from).collect()),
        DataType::Fp16 | DataType::Bf16 => unreachable!("no typed field, refused above"),
    })
}

/// The `InferTensorContents` field that carries `datatype`.
fn typed_field(datatype: DataType) -> Option<&'static str> {
    Some(match datatype {
        DataType::Bool => "bool_contents",
        DataType::Int8 | DataType::Int16 | DataType::Int32 => "int_contents",
        DataType::Int64 => "int64_contents",
        DataType::Uint8 | DataType::Uint16 | DataType::Uint32 => "uint_contents",
        DataType::Uint64 => "uint64_contents",
        DataType::Fp32 => "fp32_contents",
        DataType::Fp64 => "fp64_contents",
        DataType::Bytes => "bytes_contents",
        DataType::Fp16 | DataType::Bf16 => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::grpc::inference::model_infer_request::InferRequestedOutputTensor;
    use crate::grpc::inference::InferParameter;

    fn input(name: &str, datatype: &str, shape: &[i64]) -> InferInputTensor {
        InferInputTensor {
            name: name.into(),
            datatype: datatype.into(),
            shape: shape.to_vec(),
            parameters: HashMap::new(),
            contents: None,
        }
    }

    fn request(inputs: Vec<InferInputTensor>, raw: Vec<Vec<u8>>) -> ModelInferRequest {
        ModelInferRequest {
            model_name: "m".into(),
            inputs,
            raw_input_contents: raw.into_iter().map(Bytes::from).collect(),
            ..Default::default()
        }
    }

    fn decode(r: ModelInferRequest) -> Result<InferRequest, ProtocolError> {
        decode_model_infer_request(r, DecodeLimits::default())
    }

    #[test]
    fn raw_contents_become_typed_tensors_in_input_order() {
        let floats: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        let mut strings = Vec::new();
        strings.extend_from_slice(&3u32.to_le_bytes());
        strings.extend_from_slice(b"cat");
        let decoded = decode(request(
            vec![input("a", "FP32", &[1, 2]), input("s", "BYTES", &[1])],
            vec![floats, strings],
        ))
        .unwrap();
        assert_eq!(decoded.id, None);
        assert_eq!(decoded.outputs, None);
        assert_eq!(decoded.inputs[0].tensor.shape(), &[1, 2]);
        assert_eq!(
            decoded.inputs[0].tensor.data(),
            &TensorData::Fp32(vec![1.5, -2.0])
        );
        assert_eq!(
            decoded.inputs[1].tensor.data(),
            &TensorData::Bytes(vec![b"cat".to_vec()])
        );
    }

    #[test]
    fn typed_contents_are_narrowed_with_range_checks() {
        let mut small = input("i", "INT8", &[3]);
        small.contents = Some(InferTensorContents {
            int_contents: vec![-128, 0, 127],
            ..Default::default()
        });
        let decoded = decode(request(vec![small.clone()], vec![])).unwrap();
        assert_eq!(
            decoded.inputs[0].tensor.data(),
            &TensorData::Int8(vec![-128, 0, 127])
        );
        small.contents = Some(InferTensorContents {
            int_contents: vec![1, 2, 300],
            ..Default::default()
        });
        let error = decode(request(vec![small], vec![])).unwrap_err();
        assert!(
            error.to_string().contains("300 is out of range for INT8"),
            "{error}"
        );
    }

    #[test]
    fn every_bad_request_gets_its_own_reason() {
        let cases: Vec<(ModelInferRequest, &str)> = vec![
            (
                request(vec![input("a", "FP32", &[2])], vec![vec![0; 7]]),
                "raw_input_contents holds 7 bytes but shape [2] of FP32 needs 8",
            ),
            (
                request(
                    vec![input("a", "FP32", &[2]), input("b", "FP32", &[1])],
                    vec![vec![0; 8]],
                ),
                "raw_input_contents has 1 entries for 2 inputs",
            ),
            (
                request(vec![input("a", "FP32", &[2])], vec![]),
                "has no contents",
            ),
            (
                request(vec![input("a", "FLOAT", &[2])], vec![vec![0; 8]]),
                "unknown datatype 'FLOAT'",
            ),
            (
                request(vec![input("a", "FP32", &[-1])], vec![vec![]]),
                "negative dimension",
            ),
            (
                request(vec![input("a", "FP32", &[1 << 40])], vec![vec![]]),
                "exceed the limit",
            ),
            (
                {
                    let mut fp16 = input("h", "FP16", &[1]);
                    fp16.contents = Some(InferTensorContents {
                        fp32_contents: vec![1.0],
                        ..Default::default()
                    });
                    request(vec![fp16], vec![])
                },
                "FP16 has no typed contents",
            ),
            (
                {
                    let mut wrong = input("f", "FP32", &[1]);
                    wrong.contents = Some(InferTensorContents {
                        int64_contents: vec![1],
                        ..Default::default()
                    });
                    request(vec![wrong], vec![])
                },
                "FP32 elements belong in fp32_contents, not int64_contents",
            ),
            (
                {
                    let mut short = input("f", "FP32", &[3]);
                    short.contents = Some(InferTensorContents {
                        fp32_contents: vec![1.0],
                        ..Default::default()
                    });
                    request(vec![short], vec![])
                },
                "needs 3 elements but 1 were sent",
            ),
            (
                {
                    let mut r = request(vec![input("a", "FP32", &[1])], vec![vec![0; 4]]);
                    r.parameters
                        .insert("shared_memory_region".into(), InferParameter::default());
                    r
                },
                "shared-memory tensors are not supported",
            ),
            (
                {
                    let mut r = request(vec![input("a", "FP32", &[1])], vec![vec![0; 4]]);
                    let mut parameters = HashMap::new();
                    parameters.insert("classification".to_string(), InferParameter::default());
                    r.outputs.push(InferRequestedOutputTensor {
                        name: "out".into(),
                        parameters,
                    });
                    r
                },
                "'classification' parameter is not supported",
            ),
        ];
        for (request, expected) in cases {
            let error = decode(request).unwrap_err().to_string();
            assert!(
                error.contains(expected),
                "{error:?} should contain {expected:?}"
            );
        }
    }
}
