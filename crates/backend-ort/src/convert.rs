//! Moving tensors between Outpost and ONNX Runtime: inputs are lent to ONNX Runtime without a
//! copy (BYTES become ONNX string tensors), outputs are copied out into Outpost tensors.

use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor as OrtTensor, TensorElementType, TensorRef, ValueType};
use outpost_core::{BackendError, DataType, NamedTensor, Tensor, TensorData};

/// ONNX Runtime's element type for an Outpost datatype.
pub(crate) fn datatype_from_ort(ty: TensorElementType) -> Option<DataType> {
    Some(match ty {
        TensorElementType::Bool => DataType::Bool,
        TensorElementType::Uint8 => DataType::Uint8,
        TensorElementType::Uint16 => DataType::Uint16,
        TensorElementType::Uint32 => DataType::Uint32,
        TensorElementType::Uint64 => DataType::Uint64,
        TensorElementType::Int8 => DataType::Int8,
        TensorElementType::Int16 => DataType::Int16,
        TensorElementType::Int32 => DataType::Int32,
        TensorElementType::Int64 => DataType::Int64,
        TensorElementType::Float16 => DataType::Fp16,
        TensorElementType::Bfloat16 => DataType::Bf16,
        TensorElementType::Float32 => DataType::Fp32,
        TensorElementType::Float64 => DataType::Fp64,
        TensorElementType::String => DataType::Bytes,
        _ => return None,
    })
}

fn inference_error(e: impl std::fmt::Display) -> BackendError {
    BackendError::Inference(e.to_string())
}

/// Wraps an Outpost tensor as an ONNX Runtime input, borrowing its data where possible.
fn to_input(tensor: &Tensor) -> Result<SessionInputValue<'_>, BackendError> {
    let shape: Vec<i64> = tensor.shape().iter().map(|d| *d as i64).collect();
    macro_rules! borrow {
        ($values:expr) => {
            TensorRef::from_array_view((shape, $values.as_slice()))
                .map(SessionInputValue::from)
                .map_err(inference_error)
        };
    }
    match tensor.data() {
        TensorData::Bool(v) => borrow!(v),
        TensorData::Uint8(v) => borrow!(v),
        TensorData::Uint16(v) => borrow!(v),
        TensorData::Uint32(v) => borrow!(v),
        TensorData::Uint64(v) => borrow!(v),
        TensorData::Int8(v) => borrow!(v),
        TensorData::Int16(v) => borrow!(v),
        TensorData::Int32(v) => borrow!(v),
        TensorData::Int64(v) => borrow!(v),
        TensorData::Fp16(v) => borrow!(v),
        TensorData::Bf16(v) => borrow!(v),
        TensorData::Fp32(v) => borrow!(v),
        TensorData::Fp64(v) => borrow!(v),
        TensorData::Bytes(v) => {
            let strings = v
                .iter()
                .map(|bytes| String::from_utf8(bytes.clone()))
                .collect::<Result<Vec<String>, _>>()
                .map_err(|_| {
                    BackendError::Inference(
                        "BYTES elements must be UTF-8 to become ONNX strings".into(),
                    )
                })?;
            OrtTensor::from_string_array((shape, strings.as_slice()))
                .map(SessionInputValue::from)
                .map_err(inference_error)
        }
    }
}

/// Copies an ONNX Runtime output into an Outpost tensor.
fn from_output(value: &DynValue) -> Result<Tensor, BackendError> {
    let ValueType::Tensor { ty, .. } = value.dtype() else {
        return Err(BackendError::Inference(format!(
            "output of type {} is not a tensor",
            value.dtype()
        )));
    };
    macro_rules! copy_out {
        ($t:ty, $variant:ident) => {{
            let (shape, data) = value.try_extract_tensor::<$t>().map_err(inference_error)?;
            (
                shape.iter().map(|d| *d as usize).collect::<Vec<_>>(),
                TensorData::$variant(data.to_vec()),
            )
        }};
    }
    let (shape, data) = match ty {
        TensorElementType::Bool => copy_out!(bool, Bool),
        TensorElementType::Uint8 => copy_out!(u8, Uint8),
        TensorElementType::Uint16 => copy_out!(u16, Uint16),
        TensorElementType::Uint32 => copy_out!(u32, Uint32),
        TensorElementType::Uint64 => copy_out!(u64, Uint64),
        TensorElementType::Int8 => copy_out!(i8, Int8),
        TensorElementType::Int16 => copy_out!(i16, Int16),
        TensorElementType::Int32 => copy_out!(i32, Int32),
        TensorElementType::Int64 => copy_out!(i64, Int64),
        TensorElementType::Float16 => copy_out!(half::f16, Fp16),
        TensorElementType::Bfloat16 => copy_out!(half::bf16, Bf16),
        TensorElementType::Float32 => copy_out!(f32, Fp32),
        TensorElementType::Float64 => copy_out!(f64, Fp64),
        TensorElementType::String => {
            let (shape, strings) = value.try_extract_strings().map_err(inference_error)?;
            (
                shape.iter().map(|d| *d as usize).collect(),
                TensorData::Bytes(strings.into_iter().map(String::into_bytes).collect()),
            )
        }
        other => {
            return Err(BackendError::Inference(format!(
                "output element type {other} is not supported"
            )))
        }
    };
    Tensor::new(shape, data).map_err(inference_error)
}

/// Runs `session` on `inputs` and returns the outputs named in `outputs`, in that order.
pub(crate) fn run(
    session: &mut Session,
    inputs: &[NamedTensor],
    outputs: &[String],
) -> Result<Vec<NamedTensor>, BackendError> {
    let feeds = inputs
        .iter()
        .map(|input| Ok((input.name.as_str(), to_input(&input.tensor)?)))
        .collect::<Result<Vec<_>, BackendError>>()?;
    let results = session.run(feeds).map_err(inference_error)?;
    outputs
        .iter()
        .map(|name| {
            let value = results.get(name.as_str()).ok_or_else(|| {
                BackendError::Inference(format!("the model produced no output '{name}'"))
            })?;
            Ok(NamedTensor::new(name.clone(), from_output(value)?))
        })
        .collect()
}
