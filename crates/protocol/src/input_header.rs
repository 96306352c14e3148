//! The checks every tensor's header gets, whichever front end (REST or gRPC) it came through:
//! a known datatype, no negative dimension, an element count within the per-tensor limit, and no
//! parameters asking for what the server does not do (shared memory, classification outputs).

use outpost_core::tensor::element_count;
use outpost_core::{DataType, NamedTensor, Tensor, TensorData, TensorError};

use crate::decoded::DecodeLimits;
use crate::error::ProtocolError;

/// An input's header after the checks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CheckedInput {
    pub datatype: DataType,
    pub shape: Vec<usize>,
    pub elements: usize,
}

/// Checks an input's datatype name and shape against `limits`.
pub(crate) fn check_input_header(
    name: &str,
    datatype: &str,
    shape: &[i64],
    limits: DecodeLimits,
) -> Result<CheckedInput, ProtocolError> {
    let datatype = DataType::parse(datatype).ok_or_else(|| ProtocolError::UnknownDatatype {
        name: name.to_string(),
        datatype: datatype.to_string(),
    })?;
    if shape.iter().any(|d| *d < 0) {
        return Err(ProtocolError::NegativeDimension {
            name: name.to_string(),
            shape: shape.to_vec(),
        });
    }
    let shape: Vec<usize> = shape.iter().map(|d| *d as usize).collect();
    let elements = element_count(&shape).unwrap_or(usize::MAX);
    if elements > limits.max_elements_per_tensor {
        return Err(ProtocolError::TooManyElements {
            name: name.to_string(),
            elements,
            limit: limits.max_elements_per_tensor,
        });
    }
    Ok(CheckedInput {
        datatype,
        shape,
        elements,
    })
}

/// Refuses parameters that place tensors in shared memory.
pub(crate) fn reject_shared_memory_keys<'a>(
    mut keys: impl Iterator<Item = &'a String>,
) -> Result<(), ProtocolError> {
    if keys.any(|k| k.starts_with("shared_memory")) {
        return Err(ProtocolError::Unsupported(
            "shared-memory tensors are not supported".into(),
        ));
    }
    Ok(())
}

/// Refuses a requested output's parameters that the server does not support.
pub(crate) fn check_output_parameters<'a>(
    output: &str,
    keys: impl Iterator<Item = &'a String>,
) -> Result<(), ProtocolError> {
    let keys: Vec<&String> = keys.collect();
    reject_shared_memory_keys(keys.iter().copied())?;
    if keys.iter().any(|k| *k == "classification") {
        return Err(ProtocolError::Unsupported(format!(
            "output '{output}': the 'classification' parameter is not supported"
        )));
    }
    Ok(())
}

/// Puts an input's decoded elements into its shape, naming the input in the error.
pub(crate) fn named_tensor(
    name: String,
    shape: Vec<usize>,
    data: TensorData,
) -> Result<NamedTensor, ProtocolError> {
    match Tensor::new(shape, data) {
        Ok(tensor) => Ok(NamedTensor::new(name, tensor)),
        Err(TensorError::ElementCount {
            shape,
            expected,
            actual,
        }) => Err(ProtocolError::ElementCount {
            name,
            shape,
            expected,
            actual,
        }),
        Err(other) => Err(ProtocolError::BadData {
            name,
            message: other.to_string(),
        }),
    }
}
