//! Reading model outputs as `f32`, whatever numeric type the model produced. `f32` outputs are
//! borrowed, not copied.

use std::borrow::Cow;

use outpost_core::{NamedTensor, TensorData};

use crate::error::VisionError;

/// The output named `name` among `outputs`, as `f32` values with its shape.
pub fn output_f32<'a>(
    outputs: &'a [NamedTensor],
    name: &str,
) -> Result<(Cow<'a, [f32]>, &'a [usize]), VisionError> {
    let found = outputs
        .iter()
        .find(|o| o.name == name)
        .ok_or_else(|| VisionError::Outputs(format!("output '{name}' is missing")))?;
    let values = to_f32(found.tensor.data()).ok_or_else(|| {
        VisionError::Outputs(format!(
            "output '{name}' is {}, not a number type",
            found.tensor.datatype()
        ))
    })?;
    Ok((values, found.tensor.shape()))
}

/// Every element as `f32`; `None` for BYTES and BOOL.
pub fn to_f32(data: &TensorData) -> Option<Cow<'_, [f32]>> {
    Some(Cow::Owned(match data {
        TensorData::Fp32(v) => return Some(Cow::Borrowed(v)),
        TensorData::Fp16(v) => v.iter().map(|x| x.to_f32()).collect(),
        TensorData::Bf16(v) => v.iter().map(|x| x.to_f32()).collect(),
        TensorData::Fp64(v) => v.iter().map(|x| *x as f32).collect(),
        TensorData::Uint8(v) => v.iter().map(|x| f32::from(*x)).collect(),
        TensorData::Int8(v) => v.iter().map(|x| f32::from(*x)).collect(),
        TensorData::Uint16(v) => v.iter().map(|x| f32::from(*x)).collect(),
        TensorData::Int16(v) => v.iter().map(|x| f32::from(*x)).collect(),
        TensorData::Uint32(v) => v.iter().map(|x| *x as f32).collect(),
        TensorData::Int32(v) => v.iter().map(|x| *x as f32).collect(),
        TensorData::Uint64(v) => v.iter().map(|x| *x as f32).collect(),
        TensorData::Int64(v) => v.iter().map(|x| *x as f32).collect(),
        TensorData::Bool(_) | TensorData::Bytes(_) => return None,
    }))
}
