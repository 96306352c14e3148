//! The V2 REST inference request with the binary tensor extension: a JSON header of
//! `Inference-Header-Content-Length` bytes, then raw tensors. The first two bytes of the input
//! choose the header length (within the body); the rest is the body. What must hold: no panic;
//! the one-shot decoder and the streaming decoder (fed the body in three pieces) agree, in
//! success and in failure; a decoded request is within the limits; re-encoded, it decodes to the
//! same tensors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_fuzz::{assert_same_inputs, assert_within_limits, LIMITS};
use outpost_protocol::client_codec::encode_infer_request;
use outpost_protocol::{decode_infer_request, StreamingDecoder};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (length, body) = data.split_at(2);
    let json_length = usize::from(u16::from_le_bytes([length[0], length[1]])) % (body.len() + 1);
    let decoded = decode_infer_request(body, Some(json_length), LIMITS);

    let streamed = StreamingDecoder::new(json_length, body.len(), LIMITS).and_then(|mut d| {
        let third = body.len() / 3;
        d.push(&body[..third]);
        d.push(&body[third..2 * third]);
        d.push(&body[2 * third..]);
        d.finish()
    });
    assert_eq!(
        decoded.is_ok(),
        streamed.is_ok(),
        "one-shot {:?} against streaming {:?}",
        decoded.as_ref().err(),
        streamed.as_ref().err()
    );
    let (Ok(decoded), Ok(streamed)) = (decoded, streamed) else {
        return;
    };
    assert_same_inputs(&decoded.request, &streamed.request);
    assert_eq!(decoded.output_encoding, streamed.output_encoding);
    assert_within_limits(&decoded.request);
    let encoded = encode_infer_request(&decoded.request);
    let again = decode_infer_request(&encoded.body, Some(encoded.json_length), LIMITS)
        .expect("a request the client codec encoded decodes");
    assert_same_inputs(&decoded.request, &again.request);
});
