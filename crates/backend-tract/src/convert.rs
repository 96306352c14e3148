//! Moving tensors between Outpost and tract, and reading a typed model's signature.

use std::path::Path;

use outpost_core::{BackendError, DataType, ModelSignature, Tensor, TensorData, TensorSpec};
use tract_onnx::prelude::{DatumType, Tensor as TractTensor, TypedModel};

fn datatype_from_tract(dt: DatumType) -> Option<DataType> {
    Some(match dt.unquantized() {
        DatumType::Bool => DataType::Bool,
        DatumType::U8 => DataType::Uint8,
        DatumType::U16 => DataType::Uint16,
        DatumType::U32 => DataType::Uint32,
        DatumType::U64 => DataType::Uint64,
        DatumType::I8 => DataType::Int8,
        DatumType::I16 => DataType::Int16,
        DatumType::I32 => DataType::Int32,
        DatumType::I64 => DataType::Int64,
        DatumType::F16 => DataType::Fp16,
        DatumType::F32 => DataType::Fp32,
        DatumType::F64 => DataType::Fp64,
        DatumType::String => DataType::Bytes,
        _ => return None,
    })
}

fn inference_error(e: impl std::fmt::Display) -> BackendError {
    BackendError::Inference(format!("{e:#}"))
}

/// Copies an Outpost tensor into a tract tensor.
pub(crate) fn to_tract(tensor: &Tensor) -> Result<TractTensor, BackendError> {
    let shape = tensor.shape();
    macro_rules! copy_in {
        ($values:expr) => {
            TractTensor::from_shape(shape, $values.as_slice()).map_err(inference_error)
        };
    }
    match tensor.data() {
        TensorData::Bool(v) => copy_in!(v),
        TensorData::Uint8(v) => copy_in!(v),
        TensorData::Uint16(v) => copy_in!(v),
        TensorData::Uint32(v) => copy_in!(v),
        TensorData::Uint64(v) => copy_in!(v),
        TensorData::Int8(v) => copy_in!(v),
        TensorData::Int16(v) => copy_in!(v),
        TensorData::Int32(v) => copy_in!(v),
        TensorData::Int64(v) => copy_in!(v),
        TensorData::Fp16(v) => copy_in!(v),
        TensorData::Fp32(v) => copy_in!(v),
        TensorData::Fp64(v) => copy_in!(v),
        TensorData::Bf16(_) => Err(BackendError::Inference(
            "tract does not run BF16 tensors".into(),
        )),
        TensorData::Bytes(v) => {
            let strings = v
                .iter()
                .map(|b| String::from_utf8(b.clone()))
                .collect::<Result<Vec<String>, _>>()
                .map_err(|_| {
                    BackendError::Inference(
                        "BYTES elements must be UTF-8 to become ONNX strings".into(),
                    )
                })?;
            let array =
                tract_onnx::prelude::tract_ndarray::ArrayD::from_shape_vec(shape.to_vec(), strings)
                    .map_err(inference_error)?;
            Ok(array.into())
        }
    }
}

/// Copies a tract tensor out into an Outpost tensor.
pub(crate) fn from_tract(tensor: &TractTensor) -> Result<Tensor, BackendError> {
    macro_rules! copy_out {
        ($t:ty, $variant:ident) => {
            TensorData::$variant(
                tensor
                    .to_plain_array_view::<$t>()
                    .map_err(inference_error)?
                    .iter()
                    .cloned()
                    .collect(),
            )
        };
    }
    let data = match tensor.datum_type().unquantized() {
        DatumType::Bool => copy_out!(bool, Bool),
        DatumType::U8 => copy_out!(u8, Uint8),
        DatumType::U16 => copy_out!(u16, Uint16),
        DatumType::U32 => copy_out!(u32, Uint32),
        DatumType::U64 => copy_out!(u64, Uint64),
        DatumType::I8 => copy_out!(i8, Int8),
        DatumType::I16 => copy_out!(i16, Int16),
        DatumType::I32 => copy_out!(i32, Int32),
        DatumType::I64 => copy_out!(i64, Int64),
        DatumType::F16 => copy_out!(half::f16, Fp16),
        DatumType::F32 => copy_out!(f32, Fp32),
        DatumType::F64 => copy_out!(f64, Fp64),
        DatumType::String => TensorData::Bytes(
            tensor
                .to_plain_array_view::<String>()
                .map_err(inference_error)?
                .iter()
                .map(|s| s.as_bytes().to_vec())
                .collect(),
        ),
        other => {
            return Err(BackendError::Inference(format!(
                "tract output type {other:?} is not supported"
            )))
        }
    };
    Tensor::new(tensor.shape().to_vec(), data).map_err(inference_error)
}

/// Inputs and outputs of an optimised model; symbolic dimensions become -1.
pub(crate) fn signature(model: &TypedModel, path: &Path) -> Result<ModelSignature, BackendError> {
    let spec = |name: String, outlet| -> Result<TensorSpec, BackendError> {
        let fact = model.outlet_fact(outlet).map_err(|e| BackendError::Load {
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        })?;
        let datatype =
            datatype_from_tract(fact.datum_type).ok_or_else(|| BackendError::Unsupported {
                backend: crate::NAME,
                path: path.to_path_buf(),
                message: format!(
                    "'{name}' has type {:?}, which the V2 protocol cannot carry",
                    fact.datum_type
                ),
            })?;
        let shape = fact
            .shape
            .iter()
            .map(|d| d.to_i64().unwrap_or(-1))
            .collect();
        Ok(TensorSpec::new(name, datatype, shape))
    };
    let input_outlets = model.input_outlets().map_err(inference_error)?;
    let output_outlets = model.output_outlets().map_err(inference_error)?;
    let inputs = input_outlets
        .iter()
        .map(|o| spec(model.node(o.node).name.clone(), *o))
        .collect::<Result<_, _>>()?;
    let outputs = output_outlets
        .iter()
        .map(|o| {
            let name = model
                .outlet_label(*o)
                .unwrap_or(&model.node(o.node).name)
                .to_string();
            spec(name, *o)
        })
        .collect::<Result<_, _>>()?;
    Ok(ModelSignature { inputs, outputs })
}
