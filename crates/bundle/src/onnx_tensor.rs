//! Reading serialized `onnx.TensorProto` files (the reference tensors of the ONNX model zoo
//! layout, and the tensors of golden cases) into Outpost tensors. Only the fields such files use
//! are decoded.

use std::path::Path;

use outpost_core::{DataType, Tensor, TensorData};
use prost::Message;
use thiserror::Error;

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(float, repeated, tag = "4")]
    float_data: Vec<f32>,
    #[prost(int32, repeated, tag = "5")]
    int32_data: Vec<i32>,
    #[prost(bytes = "vec", repeated, tag = "6")]
    string_data: Vec<Vec<u8>>,
    #[prost(int64, repeated, tag = "7")]
    int64_data: Vec<i64>,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(bytes = "vec", tag = "9")]
    raw_data: Vec<u8>,
    #[prost(double, repeated, tag = "10")]
    double_data: Vec<f64>,
}

/// Why a TensorProto file could not be read as a tensor.
#[derive(Debug, Error)]
pub enum OnnxTensorError {
    /// The file could not be read (its path, why).
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
    /// The file is no TensorProto.
    #[error("not a TensorProto: {0}")]
    Decode(#[from] prost::DecodeError),
    /// An ONNX element type Outpost has no datatype for.
    #[error("unsupported ONNX element type {0}")]
    UnsupportedType(i32),
    /// The data does not fit the dimensions.
    #[error("bad tensor: {0}")]
    Tensor(#[from] outpost_core::TensorError),
}

/// ONNX `TensorProto.DataType` codes and their V2 datatypes.
fn datatype(code: i32) -> Option<DataType> {
    Some(match code {
        1 => DataType::Fp32,
        2 => DataType::Uint8,
        3 => DataType::Int8,
        4 => DataType::Uint16,
        5 => DataType::Int16,
        6 => DataType::Int32,
        7 => DataType::Int64,
        8 => DataType::Bytes,
        9 => DataType::Bool,
        10 => DataType::Fp16,
        11 => DataType::Fp64,
        12 => DataType::Uint32,
        13 => DataType::Uint64,
        _ => return None,
    })
}

/// Reads a `.pb` file holding one TensorProto; returns its name and tensor.
pub fn read_tensor_file(path: &Path) -> Result<(String, Tensor), OnnxTensorError> {
    let bytes =
        std::fs::read(path).map_err(|e| OnnxTensorError::Io(path.display().to_string(), e))?;
    read_tensor(&bytes)
}

/// Reads one serialized TensorProto; returns its name and tensor.
pub fn read_tensor(bytes: &[u8]) -> Result<(String, Tensor), OnnxTensorError> {
    let proto = TensorProto::decode(bytes)?;
    let dt = datatype(proto.data_type).ok_or(OnnxTensorError::UnsupportedType(proto.data_type))?;
    let shape: Vec<usize> = proto.dims.iter().map(|d| *d as usize).collect();
    let data = if proto.raw_data.is_empty() {
        match dt {
            DataType::Fp32 => TensorData::Fp32(proto.float_data),
            DataType::Fp64 => TensorData::Fp64(proto.double_data),
            DataType::Int64 => TensorData::Int64(proto.int64_data),
            DataType::Int32 => TensorData::Int32(proto.int32_data),
            DataType::Uint8 => {
                TensorData::Uint8(proto.int32_data.iter().map(|v| *v as u8).collect())
            }
            DataType::Int8 => TensorData::Int8(proto.int32_data.iter().map(|v| *v as i8).collect()),
            DataType::Bool => TensorData::Bool(proto.int32_data.iter().map(|v| *v != 0).collect()),
            DataType::Bytes => TensorData::Bytes(proto.string_data),
            _ => return Err(OnnxTensorError::UnsupportedType(proto.data_type)),
        }
    } else {
        TensorData::from_le_bytes(dt, &proto.raw_data)?
    };
    Ok((proto.name, Tensor::new(shape, data)?))
}
