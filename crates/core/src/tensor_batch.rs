//! Joining tensors along their first (batch) dimension and splitting them again: what dynamic
//! batching does to the inputs of several requests before one execution, and to the outputs
//! after it.

use thiserror::Error;

use crate::datatype::DataType;
use crate::tensor::{Tensor, TensorData};

/// Why tensors could not be joined or split along the batch dimension.
#[derive(Debug, Error, PartialEq)]
pub enum BatchError {
    /// Nothing to join.
    #[error("no tensors to join")]
    Empty,
    /// A tensor of rank 0.
    #[error("a tensor without dimensions has no batch dimension to join or split along")]
    Scalar,
    /// The tensors' element types differ.
    #[error("cannot join {first} and {other} tensors")]
    Datatype {
        /// The first tensor's type.
        first: DataType,
        /// A later tensor's type.
        other: DataType,
    },
    /// The tensors' shapes differ beyond the batch dimension.
    #[error("cannot join shapes {first:?} and {other:?}: they differ beyond the batch dimension")]
    Shape {
        /// The first tensor's shape.
        first: Vec<usize>,
        /// A later tensor's shape.
        other: Vec<usize>,
    },
    /// The parts do not add up to the batch.
    #[error("cannot split a batch of {rows} into parts of {parts:?}")]
    Split {
        /// Rows in the batch.
        rows: usize,
        /// Rows asked for, per part.
        parts: Vec<usize>,
    },
}

/// Applies `$body` to the vector inside any variant, binding the variant's constructor to
/// `$make` so the body can build the same variant again.
macro_rules! with_any_vec {
    ($data:expr, $v:ident, $make:ident => $body:expr) => {
        match $data {
            TensorData::Bool($v) => {
                let $make = TensorData::Bool;
                $body
            }
            TensorData::Uint8($v) => {
                let $make = TensorData::Uint8;
                $body
            }
            TensorData::Uint16($v) => {
                let $make = TensorData::Uint16;
                $body
            }
            TensorData::Uint32($v) => {
                let $make = TensorData::Uint32;
                $body
            }
            TensorData::Uint64($v) => {
                let $make = TensorData::Uint64;
                $body
            }
            TensorData::Int8($v) => {
                let $make = TensorData::Int8;
                $body
            }
            TensorData::Int16($v) => {
                let $make = TensorData::Int16;
                $body
            }
            TensorData::Int32($v) => {
                let $make = TensorData::Int32;
                $body
            }
            TensorData::Int64($v) => {
                let $make = TensorData::Int64;
                $body
            }
            TensorData::Fp16($v) => {
                let $make = TensorData::Fp16;
                $body
            }
            TensorData::Bf16($v) => {
                let $make = TensorData::Bf16;
                $body
            }
            TensorData::Fp32($v) => {
                let $make = TensorData::Fp32;
                $body
            }
            TensorData::Fp64($v) => {
                let $make = TensorData::Fp64;
                $body
            }
            TensorData::Bytes($v) => {
                let $make = TensorData::Bytes;
                $body
            }
        }
    };
}

/// Appends the elements of `extra` to `into`; both must hold the same datatype.
fn append(into: &mut TensorData, extra: TensorData) -> Result<(), BatchError> {
    let (first, other) = (into.datatype(), extra.datatype());
    macro_rules! join {
        ($($variant:ident),*) => {
            match (into, extra) {
                $((TensorData::$variant(a), TensorData::$variant(b)) => a.extend(b),)*
                _ => return Err(BatchError::Datatype { first, other }),
            }
        };
    }
    join!(
        Bool, Uint8, Uint16, Uint32, Uint64, Int8, Int16, Int32, Int64, Fp16, Bf16, Fp32, Fp64,
        Bytes
    );
    Ok(())
}

impl Tensor {
    /// Joins tensors along their first dimension: shapes must agree beyond it, and the datatypes
    /// must match. The result's first dimension is the sum of theirs.
    pub fn concat_batch(parts: Vec<Tensor>) -> Result<Tensor, BatchError> {
        let mut parts = parts.into_iter();
        let first = parts.next().ok_or(BatchError::Empty)?;
        let mut shape = first.shape().to_vec();
        if shape.is_empty() {
            return Err(BatchError::Scalar);
        }
        let mut data = first.into_data();
        for part in parts {
            if part.shape().len() != shape.len() || part.shape()[1..] != shape[1..] {
                return Err(BatchError::Shape {
                    first: shape,
                    other: part.shape().to_vec(),
                });
            }
            shape[0] += part.shape()[0];
            append(&mut data, part.into_data())?;
        }
        Ok(Tensor::new(shape, data).expect("joined parts hold the joined shape's elements"))
    }

    /// Splits a tensor along its first dimension into parts of `rows` rows each (in order);
    /// `rows` must add up to the first dimension.
    pub fn split_batch(self, rows: &[usize]) -> Result<Vec<Tensor>, BatchError> {
        let shape = self.shape().to_vec();
        let Some((&batch, rest)) = shape.split_first() else {
            return Err(BatchError::Scalar);
        };
        if rows.iter().sum::<usize>() != batch {
            return Err(BatchError::Split {
                rows: batch,
                parts: rows.to_vec(),
            });
        }
        let row_len: usize = rest.iter().product();
        let mut parts = Vec::with_capacity(rows.len());
        with_any_vec!(self.into_data(), values, make => {
            let mut values = values.into_iter();
            for &count in rows {
                let mut part_shape = shape.clone();
                part_shape[0] = count;
                let data = make(values.by_ref().take(count * row_len).collect());
                parts.push(Tensor::new(part_shape, data).expect("each part holds its rows"));
            }
        });
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp32(shape: Vec<usize>, values: Vec<f32>) -> Tensor {
        Tensor::new(shape, TensorData::Fp32(values)).unwrap()
    }

    #[test]
    fn joined_tensors_split_back_into_the_same_parts() {
        let a = fp32(vec![1, 2], vec![1.0, 2.0]);
        let b = fp32(vec![2, 2], vec![3.0, 4.0, 5.0, 6.0]);
        let joined = Tensor::concat_batch(vec![a.clone(), b.clone()]).unwrap();
        assert_eq!(joined.shape(), &[3, 2]);
        assert_eq!(
            joined.data(),
            &TensorData::Fp32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
        assert_eq!(joined.split_batch(&[1, 2]).unwrap(), vec![a, b]);
    }

    #[test]
    fn bytes_and_bools_join_and_split_too() {
        let a = Tensor::new(vec![1], TensorData::Bytes(vec![b"x".to_vec()])).unwrap();
        let b = Tensor::new(vec![1], TensorData::Bytes(vec![b"yz".to_vec()])).unwrap();
        let joined = Tensor::concat_batch(vec![a.clone(), b.clone()]).unwrap();
        assert_eq!(joined.split_batch(&[1, 1]).unwrap(), vec![a, b]);
        let flags = Tensor::new(vec![2, 1], TensorData::Bool(vec![true, false])).unwrap();
        let parts = flags.clone().split_batch(&[1, 1]).unwrap();
        assert_eq!(Tensor::concat_batch(parts).unwrap(), flags);
    }

    #[test]
    fn mismatched_parts_are_refused() {
        let a = fp32(vec![1, 2], vec![1.0, 2.0]);
        assert!(matches!(
            Tensor::concat_batch(vec![a.clone(), fp32(vec![1, 3], vec![0.0; 3])]),
            Err(BatchError::Shape { .. })
        ));
        let ints = Tensor::new(vec![1, 2], TensorData::Int32(vec![1, 2])).unwrap();
        assert!(matches!(
            Tensor::concat_batch(vec![a.clone(), ints]),
            Err(BatchError::Datatype { .. })
        ));
        assert_eq!(Tensor::concat_batch(vec![]), Err(BatchError::Empty));
        assert!(matches!(
            a.clone().split_batch(&[2]),
            Err(BatchError::Split { .. })
        ));
        let scalar = fp32(vec![], vec![1.0]);
        assert_eq!(scalar.split_batch(&[1]), Err(BatchError::Scalar));
    }
}
