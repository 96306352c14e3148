//! Typed tensors: a shape plus row-major element data, and their little-endian byte form
//! (the layout of the V2 binary tensor extension and of raw gRPC contents).

use half::{bf16, f16};
use thiserror::Error;

use crate::datatype::DataType;
use crate::spare_capacity::{copy_into_spare, set_written_length};

/// Row-major element storage, one variant per datatype.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// BOOL elements.
    Bool(Vec<bool>),
    /// UINT8 elements.
    Uint8(Vec<u8>),
    /// UINT16 elements.
    Uint16(Vec<u16>),
    /// UINT32 elements.
    Uint32(Vec<u32>),
    /// UINT64 elements.
    Uint64(Vec<u64>),
    /// INT8 elements.
    Int8(Vec<i8>),
    /// INT16 elements.
    Int16(Vec<i16>),
    /// INT32 elements.
    Int32(Vec<i32>),
    /// INT64 elements.
    Int64(Vec<i64>),
    /// FP16 elements.
    Fp16(Vec<f16>),
    /// BF16 elements.
    Bf16(Vec<bf16>),
    /// FP32 elements.
    Fp32(Vec<f32>),
    /// FP64 elements.
    Fp64(Vec<f64>),
    /// BYTES elements, each a byte string.
    Bytes(Vec<Vec<u8>>),
}

/// Applies `$body` to the vector inside any numeric variant (all but Bool and Bytes).
macro_rules! with_numeric_vec {
    ($data:expr, $v:ident => $body:expr, $other:pat => $fallback:expr) => {
        match $data {
            TensorData::Uint8($v) => $body,
            TensorData::Uint16($v) => $body,
            TensorData::Uint32($v) => $body,
            TensorData::Uint64($v) => $body,
            TensorData::Int8($v) => $body,
            TensorData::Int16($v) => $body,
            TensorData::Int32($v) => $body,
            TensorData::Int64($v) => $body,
            TensorData::Fp16($v) => $body,
            TensorData::Bf16($v) => $body,
            TensorData::Fp32($v) => $body,
            TensorData::Fp64($v) => $body,
            $other => $fallback,
        }
    };
}
pub(crate) use with_numeric_vec;

/// Element types that have a fixed-size little-endian encoding.
trait LeBytes: Sized + Copy {
    const SIZE: usize;
    fn read(bytes: &[u8]) -> Self;
    fn write(self, out: &mut Vec<u8>);
}

macro_rules! impl_le_bytes {
    ($($t:ty),*) => {$(
        impl LeBytes for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn read(bytes: &[u8]) -> Self {
                let mut raw = [0u8; std::mem::size_of::<$t>()];
                raw.copy_from_slice(bytes);
                <$t>::from_le_bytes(raw)
            }
            fn write(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
impl_le_bytes!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64, f16, bf16);

/// Decodes little-endian elements. On little-endian machines the bytes already are the
/// in-memory form, so this is one copy (the input need not be aligned).
fn decode_le<T: LeBytes + bytemuck::Pod>(bytes: &[u8]) -> Vec<T> {
    if cfg!(target_endian = "little") {
        let byte_len = bytes.len() / T::SIZE * T::SIZE;
        let mut values: Vec<T> = Vec::with_capacity(byte_len / T::SIZE);
        copy_into_spare(&mut values, 0, &bytes[..byte_len]);
        set_written_length(&mut values, byte_len);
        values
    } else {
        bytes.chunks_exact(T::SIZE).map(T::read).collect()
    }
}

/// Appends the little-endian form of `values`; one copy on little-endian machines.
fn encode_le<T: LeBytes + bytemuck::Pod>(values: &[T], out: &mut Vec<u8>) {
    if cfg!(target_endian = "little") {
        out.extend_from_slice(bytemuck::cast_slice(values));
    } else {
        out.reserve(values.len() * T::SIZE);
        for v in values {
            v.write(out);
        }
    }
}

impl TensorData {
    /// The datatype of the elements held.
    pub fn datatype(&self) -> DataType {
        match self {
            TensorData::Bool(_) => DataType::Bool,
            TensorData::Uint8(_) => DataType::Uint8,
            TensorData::Uint16(_) => DataType::Uint16,
            TensorData::Uint32(_) => DataType::Uint32,
            TensorData::Uint64(_) => DataType::Uint64,
            TensorData::Int8(_) => DataType::Int8,
            TensorData::Int16(_) => DataType::Int16,
            TensorData::Int32(_) => DataType::Int32,
            TensorData::Int64(_) => DataType::Int64,
            TensorData::Fp16(_) => DataType::Fp16,
            TensorData::Bf16(_) => DataType::Bf16,
            TensorData::Fp32(_) => DataType::Fp32,
            TensorData::Fp64(_) => DataType::Fp64,
            TensorData::Bytes(_) => DataType::Bytes,
        }
    }

    /// Number of elements held.
    pub fn len(&self) -> usize {
        with_numeric_vec!(self, v => v.len(), other => match other {
            TensorData::Bool(v) => v.len(),
            TensorData::Bytes(v) => v.len(),
            _ => unreachable!("numeric variants handled above"),
        })
    }

    /// True when no elements are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decodes little-endian bytes (the binary tensor layout) into typed elements.
    ///
    /// BOOL is one byte per element (any non-zero byte is true); each BYTES element is a
    /// 4-byte little-endian length followed by that many bytes.
    pub fn from_le_bytes(datatype: DataType, bytes: &[u8]) -> Result<TensorData, TensorError> {
        if let Some(size) = datatype.element_size() {
            if !bytes.len().is_multiple_of(size) {
                return Err(TensorError::RaggedBytes {
                    datatype,
                    byte_len: bytes.len(),
                });
            }
        }
        Ok(match datatype {
            DataType::Bool => TensorData::Bool(bytes.iter().map(|b| *b != 0).collect()),
            DataType::Uint8 => TensorData::Uint8(bytes.to_vec()),
            DataType::Uint16 => TensorData::Uint16(decode_le(bytes)),
            DataType::Uint32 => TensorData::Uint32(decode_le(bytes)),
            DataType::Uint64 => TensorData::Uint64(decode_le(bytes)),
            DataType::Int8 => TensorData::Int8(bytes.iter().map(|b| *b as i8).collect()),
            DataType::Int16 => TensorData::Int16(decode_le(bytes)),
            DataType::Int32 => TensorData::Int32(decode_le(bytes)),
            DataType::Int64 => TensorData::Int64(decode_le(bytes)),
            DataType::Fp16 => TensorData::Fp16(decode_le(bytes)),
            DataType::Bf16 => TensorData::Bf16(decode_le(bytes)),
            DataType::Fp32 => TensorData::Fp32(decode_le(bytes)),
            DataType::Fp64 => TensorData::Fp64(decode_le(bytes)),
            DataType::Bytes => TensorData::Bytes(decode_length_prefixed(bytes)?),
        })
    }

    /// Appends the little-endian byte form of the elements to `out`.
    pub fn write_le_bytes(&self, out: &mut Vec<u8>) {
        with_numeric_vec!(self, v => encode_le(v, out), other => match other {
            TensorData::Bool(v) => out.extend(v.iter().map(|b| u8::from(*b))),
            TensorData::Bytes(v) => {
                for element in v {
                    out.extend_from_slice(&(element.len() as u32).to_le_bytes());
                    out.extend_from_slice(element);
                }
            }
            _ => unreachable!("numeric variants handled above"),
        });
    }

    /// The little-endian byte form of the elements.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_le_bytes(&mut out);
        out
    }

    /// Length in bytes of the little-endian form.
    pub fn byte_len(&self) -> usize {
        match self {
            TensorData::Bytes(v) => v.iter().map(|e| 4 + e.len()).sum(),
            other => other.len() * other.datatype().element_size().unwrap_or(1),
        }
    }
}

fn decode_length_prefixed(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, TensorError> {
    let mut elements = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 4 {
            return Err(TensorError::TruncatedBytesElement);
        }
        let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        bytes = &bytes[4..];
        if bytes.len() < len {
            return Err(TensorError::TruncatedBytesElement);
        }
        elements.push(bytes[..len].to_vec());
        bytes = &bytes[len..];
    }
    Ok(elements)
}

/// A tensor: shape plus data whose element count matches the shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: TensorData,
}

impl Tensor {
    /// Builds a tensor, checking that the data holds exactly as many elements as the shape says.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Tensor, TensorError> {
        let expected = element_count(&shape).ok_or(TensorError::ShapeOverflow)?;
        if expected != data.len() {
            return Err(TensorError::ElementCount {
                shape,
                expected,
                actual: data.len(),
            });
        }
        Ok(Tensor { shape, data })
    }

    /// Its dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Its elements, row-major.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// Its elements, taken out.
    pub fn into_data(self) -> TensorData {
        self.data
    }

    /// Its element type.
    pub fn datatype(&self) -> DataType {
        self.data.datatype()
    }

    /// How many elements it has.
    pub fn element_count(&self) -> usize {
        self.data.len()
    }
}

/// Product of the dimensions, or `None` if it overflows.
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, d| acc.checked_mul(*d))
}

/// A tensor with the input or output name it travels under.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// The input or output name.
    pub name: String,
    /// The tensor.
    pub tensor: Tensor,
}

impl NamedTensor {
    /// `tensor` under `name`.
    pub fn new(name: impl Into<String>, tensor: Tensor) -> NamedTensor {
        NamedTensor {
            name: name.into(),
            tensor,
        }
    }
}

/// Why bytes or values could not become a tensor.
#[derive(Debug, Error, PartialEq)]
pub enum TensorError {
    /// The elements do not fill the shape.
    #[error("shape {shape:?} needs {expected} elements but {actual} were given")]
    ElementCount {
        /// The shape.
        shape: Vec<usize>,
        /// Elements it needs.
        expected: usize,
        /// Elements given.
        actual: usize,
    },
    /// The shape's element count does not fit in `usize`.
    #[error("shape is too large: its element count overflows")]
    ShapeOverflow,
    /// The bytes end in the middle of an element.
    #[error("{byte_len} bytes is not a whole number of {datatype} elements")]
    RaggedBytes {
        /// The element type.
        datatype: DataType,
        /// Bytes given.
        byte_len: usize,
    },
    /// A BYTES element claims more bytes than follow.
    #[error("a BYTES element's 4-byte length prefix points past the end of the data")]
    TruncatedBytesElement,
    /// Fewer bytes arrived than the tensor was declared with.
    #[error("{expected} bytes of tensor data were expected but {received} arrived")]
    Incomplete {
        /// Bytes declared.
        expected: usize,
        /// Bytes that arrived.
        received: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn le_round_trip_for_every_datatype() {
        let samples = vec![
            TensorData::Bool(vec![true, false, true]),
            TensorData::Uint8(vec![0, 1, 255]),
            TensorData::Uint16(vec![0, 1, 65535]),
            TensorData::Uint32(vec![7, u32::MAX]),
            TensorData::Uint64(vec![7, u64::MAX]),
            TensorData::Int8(vec![-128, 0, 127]),
            TensorData::Int16(vec![-2, 2]),
            TensorData::Int32(vec![-5, 5]),
            TensorData::Int64(vec![i64::MIN, i64::MAX]),
            TensorData::Fp16(vec![f16::from_f32(1.5), f16::from_f32(-2.0)]),
            TensorData::Bf16(vec![bf16::from_f32(3.0)]),
            TensorData::Fp32(vec![0.25, -1.0e9]),
            TensorData::Fp64(vec![std::f64::consts::PI]),
            TensorData::Bytes(vec![b"abc".to_vec(), vec![], vec![0, 1, 2]]),
        ];
        for data in samples {
            let bytes = data.to_le_bytes();
            assert_eq!(bytes.len(), data.byte_len());
            let back = TensorData::from_le_bytes(data.datatype(), &bytes).unwrap();
            assert_eq!(back, data);
            // The same bytes split at every point, including inside an element.
            for cut in 0..=bytes.len() {
                let (a, b) = bytes.split_at(cut);
                let back = TensorData::from_le_pieces(data.datatype(), &[a, b, &[]]).unwrap();
                assert_eq!(back, data, "split at {cut}");
            }
        }
        assert!(TensorData::from_le_pieces(DataType::Fp32, &[&[0, 0], &[0]]).is_err());
    }

    #[test]
    fn ragged_and_truncated_bytes_are_errors() {
        assert!(matches!(
            TensorData::from_le_bytes(DataType::Fp32, &[0, 0, 0]),
            Err(TensorError::RaggedBytes { .. })
        ));
        assert_eq!(
            TensorData::from_le_bytes(DataType::Bytes, &[5, 0, 0, 0, b'a']),
            Err(TensorError::TruncatedBytesElement)
        );
        assert_eq!(
            TensorData::from_le_bytes(DataType::Bytes, &[1, 0]),
            Err(TensorError::TruncatedBytesElement)
        );
    }

    #[test]
    fn tensor_checks_element_count() {
        assert!(Tensor::new(vec![2, 2], TensorData::Fp32(vec![1.0; 4])).is_ok());
        assert!(matches!(
            Tensor::new(vec![2, 3], TensorData::Fp32(vec![1.0; 4])),
            Err(TensorError::ElementCount {
                expected: 6,
                actual: 4,
                ..
            })
        ));
        assert_eq!(
            Tensor::new(vec![usize::MAX, 2], TensorData::Fp32(vec![])),
            Err(TensorError::ShapeOverflow)
        );
    }
}
