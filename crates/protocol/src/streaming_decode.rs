//! Decoding a binary-extension infer request while its body is still arriving.
//!
//! Once the JSON header is complete it is checked, and storage for every binary input is
//! allocated; after that each piece of the body is copied straight into the tensor it belongs
//! to as it arrives. The request is ready as soon as the last byte is in, and the body never
//! exists as a second copy in memory. Errors are the ones the whole-body decoder gives for the
//! same bytes; a failed decoder ignores the rest of the body so that the caller can still read
//! it to its end.

use outpost_core::TensorFiller;

use crate::binary::header_longer_than_body;
use crate::decoded::{DecodeLimits, DecodedInfer};
use crate::error::ProtocolError;
use crate::request_plan::RequestPlan;

/// Incremental decoder for a body of known length whose first `json_length` bytes are the JSON
/// header (`Inference-Header-Content-Length`).
#[derive(Debug)]
pub struct StreamingDecoder {
    limits: DecodeLimits,
    json_length: usize,
    body_length: usize,
    header: Vec<u8>,
    stage: Stage,
}

#[derive(Debug)]
enum Stage {
    Header,
    Binary {
        plan: RequestPlan,
        /// One per binary input, in body order; `current` is the one being filled.
        fillers: Vec<TensorFiller>,
        current: usize,
    },
    Failed(ProtocolError),
}

impl StreamingDecoder {
    /// A decoder for a `body_length`-byte body. The caller bounds `body_length` (the body-size
    /// limit): storage for the tensors it announces is allocated as soon as the header is in.
    pub fn new(
        json_length: usize,
        body_length: usize,
        limits: DecodeLimits,
    ) -> Result<StreamingDecoder, ProtocolError> {
        if json_length > body_length {
            return Err(header_longer_than_body(json_length, body_length));
        }
        Ok(StreamingDecoder {
            limits,
            json_length,
            body_length,
            header: Vec::with_capacity(json_length),
            stage: Stage::Header,
        })
    }

    /// Takes the next piece of the body.
    pub fn push(&mut self, mut piece: &[u8]) {
        while !piece.is_empty() {
            match &mut self.stage {
                Stage::Failed(_) => return,
                Stage::Header => {
                    let take = piece.len().min(self.json_length - self.header.len());
                    self.header.extend_from_slice(&piece[..take]);
                    piece = &piece[take..];
                    if self.header.len() == self.json_length {
                        self.start_binary();
                    }
                }
                Stage::Binary {
                    fillers, current, ..
                } => {
                    while *current < fillers.len() && fillers[*current].remaining() == 0 {
                        *current += 1;
                    }
                    let Some(filler) = fillers.get_mut(*current) else {
                        // More bytes than the stated body length: only a caller that passed
                        // the wrong length gets here.
                        self.stage = Stage::Failed(ProtocolError::UnclaimedBinary(piece.len()));
                        return;
                    };
                    let taken = filler.push(piece);
                    piece = &piece[taken..];
                }
            }
        }
    }

    /// Checks the complete header and allocates storage for the binary inputs it announces.
    fn start_binary(&mut self) {
        let header = std::mem::take(&mut self.header);
        self.stage = match self.plan_binary(&header) {
            Ok((plan, fillers)) => Stage::Binary {
                plan,
                fillers,
                current: 0,
            },
            Err(e) => Stage::Failed(e),
        };
    }

    fn plan_binary(
        &self,
        header: &[u8],
    ) -> Result<(RequestPlan, Vec<TensorFiller>), ProtocolError> {
        let plan = RequestPlan::parse(header, self.limits)?;
        let mut available = self.body_length - self.json_length;
        let mut fillers = Vec::new();
        for input in plan.binary_inputs() {
            if input.size > available {
                return Err(ProtocolError::BinaryOverrun {
                    name: input.name.to_string(),
                    size: input.size,
                    available,
                });
            }
            available -= input.size;
            let filler = TensorFiller::new(input.datatype, input.size).map_err(|e| {
                ProtocolError::BadData {
                    name: input.name.to_string(),
                    message: e.to_string(),
                }
            })?;
            fillers.push(filler);
        }
        if available > 0 {
            return Err(ProtocolError::UnclaimedBinary(available));
        }
        Ok((plan, fillers))
    }

    /// The decoded request, once the whole body has been pushed.
    pub fn finish(mut self) -> Result<DecodedInfer, ProtocolError> {
        if matches!(self.stage, Stage::Header) {
            if self.header.len() < self.json_length {
                return Err(header_longer_than_body(self.json_length, self.header.len()));
            }
            self.start_binary();
        }
        let (plan, fillers) = match self.stage {
            Stage::Failed(e) => return Err(e),
            Stage::Header => unreachable!("the header stage ends above"),
            Stage::Binary { plan, fillers, .. } => (plan, fillers),
        };
        let mut fillers = fillers.into_iter();
        plan.into_decoded(|name, _, size| {
            let filler = fillers
                .next()
                .expect("one filler was made for each binary input");
            filler.finish().map_err(|e| match e {
                outpost_core::TensorError::Incomplete { received, .. } => {
                    ProtocolError::BinaryOverrun {
                        name: name.to_string(),
                        size,
                        available: received,
                    }
                }
                other => ProtocolError::BadData {
                    name: name.to_string(),
                    message: other.to_string(),
                },
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer_codec::decode_infer_request;
    use outpost_core::TensorData;
    use serde_json::{json, Value};

    fn body(header: &Value, tensors: &[&[u8]]) -> (Vec<u8>, usize) {
        let mut body = serde_json::to_vec(&header).unwrap();
        let json_length = body.len();
        for tensor in tensors {
            body.extend_from_slice(tensor);
        }
        (body, json_length)
    }

    fn stream(
        body: &[u8],
        json_length: usize,
        piece: usize,
    ) -> Result<DecodedInfer, ProtocolError> {
        let mut decoder = StreamingDecoder::new(json_length, body.len(), DecodeLimits::default())?;
        for chunk in body.chunks(piece) {
            decoder.push(chunk);
        }
        decoder.finish()
    }

    #[test]
    fn any_split_of_the_body_decodes_like_the_whole_body() {
        let a: Vec<u8> = [1.0f32, -2.5, 3.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let b = TensorData::Bytes(vec![b"hi".to_vec(), vec![]]).to_le_bytes();
        let (body, json_length) = body(
            &json!({
                "id": "r1",
                "inputs": [
                    {"name": "a", "shape": [1, 3], "datatype": "FP32", "parameters": {"binary_data_size": 12}},
                    {"name": "e", "shape": [0], "datatype": "INT32", "parameters": {"binary_data_size": 0}},
                    {"name": "j", "shape": [2], "datatype": "UINT8", "data": [7, 8]},
                    {"name": "b", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": b.len()}}
                ],
                "outputs": [{"name": "y", "parameters": {"binary_data": true}}]
            }),
            &[&a, &b],
        );
        let whole = decode_infer_request(&body, Some(json_length), DecodeLimits::default())
            .unwrap()
            .request;
        for piece in 1..=body.len() {
            let decoded = stream(&body, json_length, piece).unwrap();
            assert_eq!(decoded.request.id, whole.id);
            assert_eq!(decoded.request.outputs, whole.outputs);
            assert_eq!(decoded.request.inputs, whole.inputs, "pieces of {piece}");
            assert!(decoded.output_encoding.is_binary("y"));
        }
    }

    #[test]
    fn errors_match_the_whole_body_decoder() {
        let header = |size: usize| json!({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": size}}]});
        let cases = [
            body(&header(8), &[&[0; 4]]),
            body(&header(8), &[&[0; 12]]),
            body(&header(4), &[&[0; 8]]),
            body(&json!({"inputs": [{"name": "x"}]}), &[]),
            (b"{not json".to_vec(), 9),
        ];
        for (body, json_length) in cases {
            let whole = decode_infer_request(&body, Some(json_length), DecodeLimits::default())
                .unwrap_err();
            for piece in [1, 3, body.len()] {
                assert_eq!(
                    stream(&body, json_length, piece).unwrap_err(),
                    whole,
                    "pieces of {piece}"
                );
            }
        }
        assert!(matches!(
            StreamingDecoder::new(10, 4, DecodeLimits::default()),
            Err(ProtocolError::BadHeader { .. })
        ));
    }

    #[test]
    fn a_body_that_ends_early_is_an_error() {
        let (body, json_length) = body(
            &json!({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}),
            &[&[0; 8]],
        );
        let mut decoder =
            StreamingDecoder::new(json_length, body.len(), DecodeLimits::default()).unwrap();
        decoder.push(&body[..body.len() - 3]);
        assert!(matches!(
            decoder.finish(),
            Err(ProtocolError::BinaryOverrun { available: 5, .. })
        ));
        let mut decoder =
            StreamingDecoder::new(json_length, body.len(), DecodeLimits::default()).unwrap();
        decoder.push(&body[..2]);
        assert!(matches!(
            decoder.finish(),
            Err(ProtocolError::BadHeader { .. })
        ));
    }
}
