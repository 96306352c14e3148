//! The binary tensor extension's framing: a JSON header of a stated length followed by raw
//! little-endian tensors in the order the header lists them.

use crate::error::ProtocolError;

/// Header naming the length of the JSON part of a body that also carries binary tensors.
pub const HEADER_CONTENT_LENGTH: &str = "Inference-Header-Content-Length";

/// Splits a body into its JSON header and binary section.
pub(crate) fn split_body(
    body: &[u8],
    json_length: Option<usize>,
) -> Result<(&[u8], &[u8]), ProtocolError> {
    match json_length {
        None => Ok((body, &[])),
        Some(len) if len <= body.len() => Ok(body.split_at(len)),
        Some(len) => Err(ProtocolError::BadHeader {
            header: HEADER_CONTENT_LENGTH,
            message: format!("{len} is longer than the {}-byte body", body.len()),
        }),
    }
}

/// Hands out consecutive chunks of the binary section.
pub(crate) struct BinaryCursor<'b> {
    rest: &'b [u8],
}

impl<'b> BinaryCursor<'b> {
    pub(crate) fn new(section: &'b [u8]) -> BinaryCursor<'b> {
        BinaryCursor { rest: section }
    }

    pub(crate) fn take(&mut self, name: &str, size: usize) -> Result<&'b [u8], ProtocolError> {
        if size > self.rest.len() {
            return Err(ProtocolError::BinaryOverrun {
                name: name.to_string(),
                size,
                available: self.rest.len(),
            });
        }
        let (chunk, rest) = self.rest.split_at(size);
        self.rest = rest;
        Ok(chunk)
    }

    /// Errors when bytes are left over: a client whose sizes are off must hear about it.
    pub(crate) fn finish(self) -> Result<(), ProtocolError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(ProtocolError::UnclaimedBinary(self.rest.len()))
        }
    }
}
