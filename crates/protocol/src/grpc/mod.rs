//! The Open Inference Protocol over gRPC: the messages, server trait and client generated from
//! `proto/inference.proto` ([`inference`]), and the codec between `ModelInferRequest` /
//! `ModelInferResponse` and the protocol-neutral [`outpost_core::InferRequest`] /
//! [`outpost_core::InferResponse`]. The checks on tensor headers are the ones the REST decoder
//! applies. [`client`] is the other side, for forwarding a request to a remote V2 server.

pub mod client;
mod decode;
mod encode;

pub use decode::decode_model_infer_request;
pub use encode::encode_model_infer_response;

/// Generated code for the `inference` package.
#[allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]
pub mod inference {
    tonic::include_proto!("inference");
}
