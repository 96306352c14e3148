//! The gRPC `ModelInferRequest` as it arrives on the wire (protobuf bytes), decoded as the
//! server's gRPC front end does: inputs in typed `contents` or in `raw_input_contents`. What
//! must hold: no panic; a decoded request is within the limits; encoded again by the gRPC client
//! codec (raw contents) and decoded, it carries the same tensors, bit for bit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_fuzz::{assert_same_inputs, assert_within_limits, LIMITS};
use outpost_protocol::grpc::client::encode_model_infer_request;
use outpost_protocol::grpc::decode_model_infer_request;
use outpost_protocol::grpc::inference::ModelInferRequest;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = ModelInferRequest::decode(data) else {
        return;
    };
    let Ok(request) = decode_model_infer_request(message, LIMITS) else {
        return;
    };
    assert_within_limits(&request);
    let encoded = encode_model_infer_request(&request, "model", "");
    let bytes = encoded.encode_to_vec();
    let message = ModelInferRequest::decode(bytes.as_slice()).expect("our own encoding decodes");
    let again = decode_model_infer_request(message, LIMITS).expect("and is a valid request");
    assert_same_inputs(&request, &again);
});
