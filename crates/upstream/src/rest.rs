//! A remote model over V2 REST: requests go as JSON plus binary tensors
//! (`Inference-Header-Content-Length`), answers are read as JSON or JSON plus binary; the probe
//! is the model's ready endpoint. TLS through rustls with the system's roots plus `ca_file`.

use std::time::Duration;

use outpost_core::upstream::RemoteFuture;
use outpost_core::{
    ConnectError, CredentialError, InferRequest, InferResponse, RemoteError, RemoteModel,
    UpstreamConfig,
};
use outpost_protocol::client_codec::{decode_infer_response, encode_infer_request};
use outpost_protocol::HEADER_CONTENT_LENGTH;
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};

use crate::{credential, describe, MAX_OUTPUT_ELEMENTS};

/// Largest answer body read from the upstream.
const MAX_ANSWER_BYTES: usize = 256 * 1024 * 1024;

/// A model on a remote V2 REST server.
pub struct RestModel {
    client: reqwest::Client,
    infer_url: String,
    ready_url: String,
    endpoint: String,
    credential: Option<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for RestModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestModel")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl RestModel {
    /// The client of `config`'s upstream for the local model `local_name`.
    pub fn new(config: &UpstreamConfig, local_name: &str) -> Result<RestModel, ConnectError> {
        let (base, endpoint) = describe(config, local_name);
        let model = config.remote_model(local_name);
        let path = match &config.version {
            Some(version) => format!("{base}/v2/models/{model}/versions/{version}"),
            None => format!("{base}/v2/models/{model}"),
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.timeout())
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(file) = &config.ca_file {
            let pem = std::fs::read(file).map_err(|source| ConnectError::CaFile {
                path: file.clone(),
                source,
            })?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                ConnectError::Certificate {
                    path: file.clone(),
                    message: e.to_string(),
                }
            })?;
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let client = builder
            .build()
            .map_err(|e| ConnectError::Client(e.to_string()))?;
        let credential = credential::read(config)?
            .map(|c| {
                let name = HeaderName::from_bytes(c.header.as_bytes())
                    .map_err(|_| CredentialError::Header(c.header.clone()))?;
                let mut value =
                    HeaderValue::from_str(&c.value).map_err(|_| CredentialError::Value)?;
                value.set_sensitive(true);
                Ok::<_, CredentialError>((name, value))
            })
            .transpose()?;
        Ok(RestModel {
            client,
            infer_url: format!("{path}/infer"),
            ready_url: format!("{path}/ready"),
            endpoint,
            credential,
        })
    }

    fn with_credential(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credential {
            Some((name, value)) => request.header(name.clone(), value.clone()),
            None => request,
        }
    }
}

fn failed(endpoint: &str, message: impl Into<String>) -> RemoteError {
    RemoteError::Failed {
        endpoint: endpoint.to_string(),
        message: message.into(),
    }
}

fn transport_error(endpoint: &str, timeout: Duration, error: &reqwest::Error) -> RemoteError {
    if error.is_timeout() {
        RemoteError::Timeout {
            endpoint: endpoint.to_string(),
            millis: timeout.as_millis() as u64,
        }
    } else {
        failed(endpoint, error_chain(error))
    }
}

/// An error with its causes, which name the real reason (refused, reset, certificate).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Reads an answer's body, refusing one larger than [`MAX_ANSWER_BYTES`].
async fn read_bounded(
    endpoint: &str,
    timeout: Duration,
    mut response: reqwest::Response,
) -> Result<Vec<u8>, RemoteError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(failed(endpoint, "the answer is larger than 256 MiB"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(endpoint, timeout, &e))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(failed(endpoint, "the answer is larger than 256 MiB"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl RemoteModel for RestModel {
    fn infer(&self, request: &InferRequest, timeout: Duration) -> RemoteFuture<InferResponse> {
        let encoded = encode_infer_request(request);
        let sent = self
            .with_credential(self.client.post(&self.infer_url))
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(HEADER_CONTENT_LENGTH, encoded.json_length)
            .body(encoded.body)
            .timeout(timeout)
            .send();
        let endpoint = self.endpoint.clone();
        Box::pin(async move {
            let response = sent
                .await
                .map_err(|e| transport_error(&endpoint, timeout, &e))?;
            let status = response.status();
            let json_length = response
                .headers()
                .get(HEADER_CONTENT_LENGTH)
                .map(|v| {
                    v.to_str()
                        .ok()
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .ok_or_else(|| {
                            failed(&endpoint, format!("invalid {HEADER_CONTENT_LENGTH}"))
                        })
                })
                .transpose()?;
            let body = read_bounded(&endpoint, timeout, response).await?;
            if !status.is_success() {
                let message = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
                return Err(failed(&endpoint, format!("answered {status}: {message}")));
            }
            decode_infer_response(&body, json_length, MAX_OUTPUT_ELEMENTS)
                .map_err(|e| failed(&endpoint, e.to_string()))
        })
    }

    fn probe(&self, timeout: Duration) -> RemoteFuture<()> {
        let sent = self
            .with_credential(self.client.get(&self.ready_url))
            .timeout(timeout)
            .send();
        let endpoint = self.endpoint.clone();
        Box::pin(async move {
            let response = sent
                .await
                .map_err(|e| transport_error(&endpoint, timeout, &e))?;
            match response.status() {
                status if status.is_success() => Ok(()),
                status => Err(failed(&endpoint, format!("model not ready ({status})"))),
            }
        })
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }
}
