//! The Open Inference Protocol (KServe V2) encodings: REST and gRPC.
//!
//! This crate turns request bodies into the protocol-neutral [`outpost_core::InferRequest`] and
//! responses back into bodies: JSON tensors (flat or nested `data`) and the binary tensor
//! extension (`Inference-Header-Content-Length`, decoded whole or while the body arrives), plus
//! the JSON shapes of the metadata, config and health answers. [`grpc`] holds the gRPC messages
//! and service generated from `proto/inference.proto` and their codec. It knows nothing about
//! models or servers. [`client_codec`] and [`grpc::client`] are the other side, for forwarding a
//! request to a remote V2 server. [`camera_form`] reads the camera endpoint's
//! `multipart/form-data` body.

mod binary;
pub mod camera_form;
pub mod client_codec;
mod decoded;
mod error;
pub mod grpc;
mod infer_codec;
mod input_header;
mod json_data;
mod request_plan;
pub mod rest;
mod streaming_decode;

pub use binary::HEADER_CONTENT_LENGTH;
pub use decoded::{DecodeLimits, DecodedInfer, OutputEncoding};
pub use error::ProtocolError;
pub use infer_codec::{
    decode_infer_request, decode_infer_request_segments, encode_infer_response, EncodedResponse,
};
pub use streaming_decode::StreamingDecoder;
