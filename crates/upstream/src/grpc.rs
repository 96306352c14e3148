//! A remote model over V2 gRPC (`grpc://` plaintext HTTP/2, `grpcs://` TLS with the system's
//! roots plus `ca_file`): `ModelInfer` with every input in `raw_input_contents`, `ModelReady` as
//! the probe. The channel connects on first use and reconnects by itself.

use std::time::Duration;

use outpost_core::upstream::RemoteFuture;
use outpost_core::{
    ConnectError, CredentialError, InferRequest, InferResponse, RemoteError, RemoteModel,
    UpstreamConfig,
};
use outpost_protocol::grpc::client::{decode_model_infer_response, encode_model_infer_request};
use outpost_protocol::grpc::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use outpost_protocol::grpc::inference::ModelReadyRequest;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::{credential, describe, MAX_OUTPUT_ELEMENTS};

/// Largest answer message accepted.
const MAX_ANSWER_BYTES: usize = 256 * 1024 * 1024;

/// A model on a remote V2 gRPC server.
pub struct GrpcModel {
    endpoint_config: Endpoint,
    channel: std::sync::OnceLock<Channel>,
    model: String,
    version: String,
    endpoint: String,
    credential: Option<(AsciiMetadataKey, AsciiMetadataValue)>,
}

impl std::fmt::Debug for GrpcModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcModel")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl GrpcModel {
    /// The client of `config`'s upstream for the local model `local_name`.
    pub fn new(config: &UpstreamConfig, local_name: &str) -> Result<GrpcModel, ConnectError> {
        let (base, endpoint) = describe(config, local_name);
        let (uri, tls) = match base.split_once("://") {
            Some(("grpcs", rest)) => (format!("https://{rest}"), true),
            Some((_, rest)) => (format!("http://{rest}"), false),
            None => {
                return Err(ConnectError::Url {
                    url: base,
                    message: "no scheme".into(),
                })
            }
        };
        let mut endpoint_config = Endpoint::from_shared(uri)
            .map_err(|e| ConnectError::Url {
                url: base.clone(),
                message: e.to_string(),
            })?
            .connect_timeout(config.timeout());
        if tls {
            let mut tls_config = ClientTlsConfig::new().with_native_roots();
            if let Some(file) = &config.ca_file {
                let pem = std::fs::read(file).map_err(|source| ConnectError::CaFile {
                    path: file.clone(),
                    source,
                })?;
                tls_config = tls_config.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint_config = endpoint_config
                .tls_config(tls_config)
                .map_err(|e| ConnectError::Client(format!("TLS: {e}")))?;
        }
        let credential = credential::read(config)?
            .map(|c| {
                let key = AsciiMetadataKey::from_bytes(c.header.as_bytes())
                    .map_err(|_| CredentialError::Header(c.header.clone()))?;
                let value = AsciiMetadataValue::try_from(c.value.as_str())
                    .map_err(|_| CredentialError::Value)?;
                Ok::<_, CredentialError>((key, value))
            })
            .transpose()?;
        Ok(GrpcModel {
            endpoint_config,
            channel: std::sync::OnceLock::new(),
            model: config.remote_model(local_name).to_string(),
            version: config.version.clone().unwrap_or_default(),
            endpoint,
            credential,
        })
    }

    /// A client on the shared channel, made on first use (from the async runtime, which the
    /// channel's worker needs).
    fn client(&self) -> GrpcInferenceServiceClient<Channel> {
        let channel = self
            .channel
            .get_or_init(|| self.endpoint_config.connect_lazy())
            .clone();
        GrpcInferenceServiceClient::new(channel).max_decoding_message_size(MAX_ANSWER_BYTES)
    }

    fn request<M>(&self, message: M, timeout: Duration) -> tonic::Request<M> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(timeout);
        if let Some((key, value)) = &self.credential {
            request.metadata_mut().insert(key.clone(), value.clone());
        }
        request
    }
}

fn status_error(endpoint: &str, timeout: Duration, status: &tonic::Status) -> RemoteError {
    if status.code() == tonic::Code::DeadlineExceeded {
        RemoteError::Timeout {
            endpoint: endpoint.to_string(),
            millis: timeout.as_millis() as u64,
        }
    } else {
        RemoteError::Failed {
            endpoint: endpoint.to_string(),
            message: format!("{:?}: {}", status.code(), status.message()),
        }
    }
}

impl RemoteModel for GrpcModel {
    fn infer(&self, request: &InferRequest, timeout: Duration) -> RemoteFuture<InferResponse> {
        let message = encode_model_infer_request(request, &self.model, &self.version);
        let request = self.request(message, timeout);
        let endpoint = self.endpoint.clone();
        let mut client = self.client();
        Box::pin(async move {
            let answer = client
                .model_infer(request)
                .await
                .map_err(|s| status_error(&endpoint, timeout, &s))?;
            decode_model_infer_response(answer.into_inner(), MAX_OUTPUT_ELEMENTS).map_err(|e| {
                RemoteError::Failed {
                    endpoint: endpoint.clone(),
                    message: e.to_string(),
                }
            })
        })
    }

    fn probe(&self, timeout: Duration) -> RemoteFuture<()> {
        let request = self.request(
            ModelReadyRequest {
                name: self.model.clone(),
                version: self.version.clone(),
            },
            timeout,
        );
        let endpoint = self.endpoint.clone();
        let mut client = self.client();
        Box::pin(async move {
            let ready = client
                .model_ready(request)
                .await
                .map_err(|s| status_error(&endpoint, timeout, &s))?;
            if ready.into_inner().ready {
                Ok(())
            } else {
                Err(RemoteError::Failed {
                    endpoint,
                    message: "model not ready".into(),
                })
            }
        })
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }
}
