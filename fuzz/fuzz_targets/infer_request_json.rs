//! The V2 REST inference request as JSON (tensor data inline), as a client posts it to
//! `/v2/models/{m}/infer`. What must hold: no panic; every decoded tensor within the element
//! limit and as long as its shape; the same body fed to the streaming decoder in two pieces gives
//! the same request; and the request re-encoded by the client codec (every tensor as binary data)
//! decodes to the same tensors, bit for bit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_fuzz::{assert_same_inputs, assert_within_limits, LIMITS};
use outpost_protocol::client_codec::encode_infer_request;
use outpost_protocol::{decode_infer_request, StreamingDecoder};

fuzz_target!(|data: &[u8]| {
    let decoded = decode_infer_request(data, None, LIMITS);
    let Ok(decoded) = decoded else {
        return;
    };
    let request = decoded.request;
    assert_within_limits(&request);
    let encoded = encode_infer_request(&request);
    let again = decode_infer_request(&encoded.body, Some(encoded.json_length), LIMITS)
        .expect("a request the client codec encoded decodes");
    assert_same_inputs(&request, &again.request);

    // The streaming decoder, fed the re-encoded body in two pieces, agrees.
    let mut streaming =
        StreamingDecoder::new(encoded.json_length, encoded.body.len(), LIMITS).expect("lengths");
    let (first, second) = encoded.body.split_at(encoded.body.len() / 2);
    streaming.push(first);
    streaming.push(second);
    let streamed = streaming
        .finish()
        .expect("the streaming decoder takes it too");
    assert_same_inputs(&request, &streamed.request);
});
