//! Filling one tensor's storage from little-endian bytes that arrive in pieces of any size (a
//! request body as the network delivers it), so that each byte is copied once, as it arrives,
//! straight into the typed storage the backend will read.

use crate::datatype::DataType;
use crate::spare_capacity::{copy_into_spare, set_written_length};
use crate::tensor::{with_numeric_vec, TensorData, TensorError};

/// Collects exactly `byte_len` bytes of one tensor, then yields its [`TensorData`].
///
/// Fixed-size numeric elements on a little-endian machine are written straight into storage of
/// their own type; BOOL, BYTES (and everything on a big-endian machine) are gathered as bytes
/// and decoded at the end.
#[derive(Debug)]
pub struct TensorFiller {
    datatype: DataType,
    byte_len: usize,
    written: usize,
    storage: Storage,
}

#[derive(Debug)]
enum Storage {
    /// A numeric vector whose capacity holds the whole tensor and whose length stays 0 until
    /// every byte has been written.
    Typed(TensorData),
    Raw(Vec<u8>),
}

/// An empty numeric vector with room for `count` elements, or `None` for BOOL and BYTES.
fn typed_storage(datatype: DataType, count: usize) -> Option<TensorData> {
    Some(match datatype {
        DataType::Uint8 => TensorData::Uint8(Vec::with_capacity(count)),
        DataType::Uint16 => TensorData::Uint16(Vec::with_capacity(count)),
        DataType::Uint32 => TensorData::Uint32(Vec::with_capacity(count)),
        DataType::Uint64 => TensorData::Uint64(Vec::with_capacity(count)),
        DataType::Int8 => TensorData::Int8(Vec::with_capacity(count)),
        DataType::Int16 => TensorData::Int16(Vec::with_capacity(count)),
        DataType::Int32 => TensorData::Int32(Vec::with_capacity(count)),
        DataType::Int64 => TensorData::Int64(Vec::with_capacity(count)),
        DataType::Fp16 => TensorData::Fp16(Vec::with_capacity(count)),
        DataType::Bf16 => TensorData::Bf16(Vec::with_capacity(count)),
        DataType::Fp32 => TensorData::Fp32(Vec::with_capacity(count)),
        DataType::Fp64 => TensorData::Fp64(Vec::with_capacity(count)),
        DataType::Bool | DataType::Bytes => return None,
    })
}

impl TensorFiller {
    /// Prepares storage for `byte_len` bytes of `datatype` elements. The storage is allocated
    /// up front, so the caller bounds `byte_len` (by the body it is reading) before calling.
    pub fn new(datatype: DataType, byte_len: usize) -> Result<TensorFiller, TensorError> {
        let typed = match datatype.element_size() {
            Some(size) if !byte_len.is_multiple_of(size) => {
                return Err(TensorError::RaggedBytes { datatype, byte_len })
            }
            Some(size) if cfg!(target_endian = "little") => {
                typed_storage(datatype, byte_len / size)
            }
            _ => None,
        };
        let storage = match typed {
            Some(data) => Storage::Typed(data),
            None => Storage::Raw(Vec::with_capacity(byte_len)),
        };
        Ok(TensorFiller {
            datatype,
            byte_len,
            written: 0,
            storage,
        })
    }

    /// Bytes still expected.
    pub fn remaining(&self) -> usize {
        self.byte_len - self.written
    }

    /// Copies in as much of `bytes` as the tensor still needs and returns how many it took.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let take = bytes.len().min(self.remaining());
        let bytes = &bytes[..take];
        match &mut self.storage {
            Storage::Raw(raw) => raw.extend_from_slice(bytes),
            Storage::Typed(data) => with_numeric_vec!(
                data,
                values => copy_into_spare(values, self.written, bytes),
                _ => unreachable!("typed storage is always numeric")
            ),
        }
        self.written += take;
        take
    }

    /// The tensor's elements, once every byte has arrived.
    pub fn finish(self) -> Result<TensorData, TensorError> {
        if self.written != self.byte_len {
            return Err(TensorError::Incomplete {
                expected: self.byte_len,
                received: self.written,
            });
        }
        match self.storage {
            Storage::Raw(raw) => TensorData::from_le_bytes(self.datatype, &raw),
            Storage::Typed(mut data) => {
                with_numeric_vec!(
                    &mut data,
                    values => set_written_length(values, self.byte_len),
                    _ => unreachable!("typed storage is always numeric")
                );
                Ok(data)
            }
        }
    }
}

impl TensorData {
    /// [`TensorData::from_le_bytes`] for bytes held in consecutive pieces (a request body as
    /// it arrived): fixed-size elements are copied from the pieces into their storage once.
    pub fn from_le_pieces(datatype: DataType, pieces: &[&[u8]]) -> Result<TensorData, TensorError> {
        if let [single] = pieces {
            return TensorData::from_le_bytes(datatype, single);
        }
        let byte_len = pieces.iter().map(|p| p.len()).sum();
        let mut filler = TensorFiller::new(datatype, byte_len)?;
        for piece in pieces {
            filler.push(piece);
        }
        filler.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    #[test]
    fn bytes_in_any_pieces_make_the_same_tensor() {
        let samples = [
            TensorData::Fp32(vec![1.5, -2.0, 3.25]),
            TensorData::Int64(vec![i64::MIN, 0, 9]),
            TensorData::Fp16(vec![f16::from_f32(0.5)]),
            TensorData::Uint8(vec![1, 2, 3, 4, 5]),
            TensorData::Bool(vec![true, false]),
            TensorData::Bytes(vec![b"ab".to_vec(), vec![]]),
        ];
        for data in samples {
            let bytes = data.to_le_bytes();
            for step in 1..=bytes.len().max(1) {
                let mut filler = TensorFiller::new(data.datatype(), bytes.len()).unwrap();
                for piece in bytes.chunks(step) {
                    assert_eq!(filler.push(piece), piece.len());
                }
                assert_eq!(filler.remaining(), 0);
                assert_eq!(filler.finish().unwrap(), data, "pieces of {step}");
            }
        }
    }

    #[test]
    fn takes_only_what_the_tensor_needs() {
        let mut filler = TensorFiller::new(DataType::Int32, 8).unwrap();
        assert_eq!(filler.push(&[1, 0, 0, 0, 2, 0]), 6);
        assert_eq!(filler.push(&[0, 0, 99, 99]), 2);
        assert_eq!(filler.push(&[7]), 0);
        assert_eq!(filler.finish().unwrap(), TensorData::Int32(vec![1, 2]));
    }

    #[test]
    fn ragged_or_short_data_is_an_error() {
        assert!(matches!(
            TensorFiller::new(DataType::Fp32, 6),
            Err(TensorError::RaggedBytes { .. })
        ));
        let mut filler = TensorFiller::new(DataType::Fp32, 8).unwrap();
        filler.push(&[0; 5]);
        assert_eq!(
            filler.finish(),
            Err(TensorError::Incomplete {
                expected: 8,
                received: 5
            })
        );
        let empty = TensorFiller::new(DataType::Fp64, 0).unwrap();
        assert_eq!(empty.finish().unwrap(), TensorData::Fp64(vec![]));
    }
}
