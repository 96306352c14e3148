//! The Open Inference Protocol gRPC front end (tonic): `inference.GRPCInferenceService` on its
//! own port. Requests go through the same engine calls as REST (lookup, the one inference path,
//! model control, descriptions) and the same decode checks; this module only converts messages
//! and maps the engine's error kinds to status codes.

mod convert;
mod service;
mod status;
mod timeout;

use std::sync::Arc;

use outpost_protocol::grpc::inference::grpc_inference_service_server::GrpcInferenceServiceServer;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

pub use service::GrpcFrontEnd;

use crate::connections::{self, grpc::TrackRequestsLayer, http::Governance};
use crate::state::AppState;
use crate::tls::TlsIncoming;

/// Where gRPC connections come from.
pub enum GrpcIncoming {
    /// Plain TCP connections.
    Plaintext(TcpListener),
    /// Connections whose TLS handshake finished.
    Tls(TlsIncoming),
}

/// Serves gRPC on `incoming` until `shutdown` completes, every connection under
/// `governance`'s limits; in-flight calls finish first.
pub async fn serve(
    incoming: GrpcIncoming,
    state: Arc<AppState>,
    max_message_bytes: usize,
    governance: Governance,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let service = GrpcInferenceServiceServer::new(GrpcFrontEnd::new(state))
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(usize::MAX);
    let mut server =
        tonic::transport::Server::builder().layer(TrackRequestsLayer::new(&governance));
    let router = server.add_service(service);
    match incoming {
        GrpcIncoming::Tls(incoming) => {
            let connections = Box::pin(incoming.into_stream());
            router
                .serve_with_incoming_shutdown(
                    connections::grpc::incoming(connections, governance),
                    shutdown,
                )
                .await
        }
        GrpcIncoming::Plaintext(listener) => {
            // Answers go out at once rather than waiting on Nagle's algorithm for the client's
            // delayed ACK (40 ms per call otherwise). The builder's own nodelay setting does not
            // reach a listener that is passed in.
            let connections = TcpIncoming::from(listener).with_nodelay(Some(true));
            router
                .serve_with_incoming_shutdown(
                    connections::grpc::incoming(connections, governance),
                    shutdown,
                )
                .await
        }
    }
}
