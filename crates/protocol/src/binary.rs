//! The binary tensor extension's framing: a JSON header of a stated length followed by raw
//! little-endian tensors in the order the header lists them.
//!
//! A body is read as a list of segments (the pieces the transport delivered) and is never
//! joined into one buffer: each tensor is copied once, from its segments into its own typed
//! storage. Only a JSON header that straddles segments is joined.

use std::borrow::Cow;

use crate::error::ProtocolError;

/// Header naming the length of the JSON part of a body that also carries binary tensors.
pub const HEADER_CONTENT_LENGTH: &str = "Inference-Header-Content-Length";

/// The error for an `Inference-Header-Content-Length` that runs past the body.
pub(crate) fn header_longer_than_body(json_length: usize, body_length: usize) -> ProtocolError {
    ProtocolError::BadHeader {
        header: HEADER_CONTENT_LENGTH,
        message: format!("{json_length} is longer than the {body_length}-byte body"),
    }
}

/// Total length of a segmented body.
pub(crate) fn body_length(segments: &[&[u8]]) -> usize {
    segments.iter().map(|s| s.len()).sum()
}

/// Splits a segmented body into its JSON header (joined only when it straddles segments) and
/// a cursor over the binary section.
pub(crate) fn split_body<'b>(
    segments: &'b [&'b [u8]],
    json_length: Option<usize>,
) -> Result<(Cow<'b, [u8]>, BinaryCursor<'b>), ProtocolError> {
    let total = body_length(segments);
    let json_length = match json_length {
        None => total,
        Some(len) if len <= total => len,
        Some(len) => return Err(header_longer_than_body(len, total)),
    };
    let mut cursor = BinaryCursor {
        segments,
        index: 0,
        offset: 0,
        remaining: total,
    };
    let json = match cursor.take_pieces(json_length) {
        pieces if pieces.len() == 1 => Cow::Borrowed(pieces[0]),
        pieces => Cow::Owned(pieces.concat()),
    };
    Ok((json, cursor))
}

/// Hands out consecutive ranges of the binary section, each as the segment pieces it spans.
pub(crate) struct BinaryCursor<'b> {
    segments: &'b [&'b [u8]],
    index: usize,
    offset: usize,
    remaining: usize,
}

impl<'b> BinaryCursor<'b> {
    /// The next `size` bytes, as pieces of the segments they lie in.
    pub(crate) fn take(&mut self, name: &str, size: usize) -> Result<Vec<&'b [u8]>, ProtocolError> {
        if size > self.remaining {
            return Err(ProtocolError::BinaryOverrun {
                name: name.to_string(),
                size,
                available: self.remaining,
            });
        }
        Ok(self.take_pieces(size))
    }

    /// Takes `size` bytes; the caller has checked that they are there.
    fn take_pieces(&mut self, mut size: usize) -> Vec<&'b [u8]> {
        self.remaining -= size;
        let mut pieces = Vec::with_capacity(1);
        while size > 0 {
            let segment = self.segments[self.index];
            let available = segment.len() - self.offset;
            let step = available.min(size);
            pieces.push(&segment[self.offset..self.offset + step]);
            size -= step;
            self.offset += step;
            if self.offset == segment.len() {
                self.index += 1;
                self.offset = 0;
            }
        }
        if pieces.is_empty() {
            pieces.push(&[]);
        }
        pieces
    }

    /// Errors when bytes are left over: a client whose sizes are off must hear about it.
    pub(crate) fn finish(self) -> Result<(), ProtocolError> {
        if self.remaining == 0 {
            Ok(())
        } else {
            Err(ProtocolError::UnclaimedBinary(self.remaining))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_across_segments_come_back_as_pieces() {
        let segments: [&[u8]; 3] = [b"{\"a\"", b":1}abc", b"defg"];
        let (json, mut cursor) = split_body(&segments, Some(8)).unwrap();
        assert_eq!(json.as_ref(), b"{\"a\":1}a");
        assert!(matches!(json, Cow::Owned(_)));
        assert_eq!(cursor.take("x", 4).unwrap(), vec![&b"bc"[..], &b"de"[..]]);
        assert!(matches!(
            cursor.take("y", 3),
            Err(ProtocolError::BinaryOverrun { available: 2, .. })
        ));
        assert_eq!(cursor.take("y", 2).unwrap(), vec![&b"fg"[..]]);
        cursor.finish().unwrap();
    }

    #[test]
    fn a_header_within_one_segment_is_borrowed_and_leftovers_are_reported() {
        let segments: [&[u8]; 1] = [b"{}12345"];
        let (json, mut cursor) = split_body(&segments, Some(2)).unwrap();
        assert!(matches!(json, Cow::Borrowed(b"{}")));
        cursor.take("x", 2).unwrap();
        assert!(matches!(
            cursor.finish(),
            Err(ProtocolError::UnclaimedBinary(3))
        ));
        assert!(split_body(&segments, Some(8)).is_err());
    }
}
