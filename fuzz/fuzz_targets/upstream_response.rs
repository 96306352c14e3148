//! An upstream's answer, as a hostile or broken cloud could send it: the first byte chooses REST
//! (JSON, or JSON plus binary tensors with a header length from the next two bytes) or gRPC
//! (`ModelInferResponse` protobuf); the rest is the body. What must hold: no panic, and every
//! decoded output within the element limit the server asks for and as long as its shape.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_core::InferResponse;
use outpost_fuzz::assert_shaped;
use outpost_protocol::client_codec::decode_infer_response;
use outpost_protocol::grpc::client::decode_model_infer_response;
use outpost_protocol::grpc::inference::ModelInferResponse;
use prost::Message;

const MAX_ELEMENTS: usize = 1 << 20;

fn check(response: &InferResponse) {
    for output in &response.outputs {
        let elements = assert_shaped(&output.name, &output.tensor);
        assert!(
            elements <= MAX_ELEMENTS,
            "output '{}' over the limit",
            output.name
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    match kind % 3 {
        0 => {
            if let Ok(response) = decode_infer_response(rest, None, MAX_ELEMENTS) {
                check(&response);
            }
        }
        1 if rest.len() >= 2 => {
            let (length, body) = rest.split_at(2);
            let json_length =
                usize::from(u16::from_le_bytes([length[0], length[1]])) % (body.len() + 1);
            if let Ok(response) = decode_infer_response(body, Some(json_length), MAX_ELEMENTS) {
                check(&response);
            }
        }
        _ => {
            let Ok(message) = ModelInferResponse::decode(rest) else {
                return;
            };
            if let Ok(response) = decode_model_infer_response(message, MAX_ELEMENTS) {
                check(&response);
            }
        }
    }
});
