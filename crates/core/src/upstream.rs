//! The upstream of a model: a remote Open Inference Protocol (V2) endpoint that may answer the
//! model's requests instead of, or besides, the local model. This module owns its configuration
//! (`[upstream]` in `model.toml`), the policies, who answered a request ([`ServedBy`]), and the
//! [`RemoteModel`] / [`RemoteConnector`] traits a V2 client implements. Deciding where a request
//! goes, and the circuit breaker, are the engine's; speaking HTTP or gRPC is the client's.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::request::{InferRequest, InferResponse};

/// When a model's requests go to its upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamPolicy {
    /// Never call out: the local model answers everything.
    #[default]
    Local,
    /// Ask the upstream within the deadline; answer locally on timeout, error or open circuit.
    PreferUpstream,
    /// Answer locally; while the upstream is reachable, ask it too when the local answer is
    /// unsure (top score under `escalate_below`) and answer with its result when it comes in
    /// time.
    PreferLocal,
    /// No local model: the upstream answers, or the request fails with 503 while it cannot.
    UpstreamOnly,
}

impl UpstreamPolicy {
    /// The policy's name in `model.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamPolicy::Local => "local",
            UpstreamPolicy::PreferUpstream => "prefer_upstream",
            UpstreamPolicy::PreferLocal => "prefer_local",
            UpstreamPolicy::UpstreamOnly => "upstream_only",
        }
    }
}

/// `[upstream]` in `model.toml`: the remote V2 endpoint and how it is used.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// The remote server: `http://` or `https://` for V2 REST (binary tensors), `grpc://` or
    /// `grpcs://` for V2 gRPC.
    pub url: String,
    /// The remote model's name; the local model's name when absent.
    pub model: Option<String>,
    /// The remote model's version; its default version when absent.
    pub version: Option<String>,
    /// The policy.
    #[serde(default)]
    pub policy: UpstreamPolicy,
    /// How long a request waits for the upstream, within its own deadline.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// `prefer_local`: a local answer whose top score is below this is asked upstream too.
    pub escalate_below: Option<f32>,
    /// The header that carries the credential (`Authorization` unless set).
    #[serde(default = "default_auth_header")]
    pub auth_header: String,
    /// File whose first line is the credential's value (for example `Bearer <token>`).
    pub auth_file: Option<PathBuf>,
    /// Environment variable holding the credential's value.
    pub auth_env: Option<String>,
    /// PEM file of the certificate authorities trusted for `https://` and `grpcs://`, besides the
    /// system's.
    pub ca_file: Option<PathBuf>,
    /// Consecutive failures or timeouts that open the circuit.
    #[serde(default = "default_failures_to_open")]
    pub failures_to_open: u32,
    /// While the circuit is open, the upstream's ready endpoint is probed this often; a ready
    /// answer half-opens it.
    #[serde(default = "default_probe_interval_ms")]
    pub probe_interval_ms: u64,
    /// What the camera endpoint sends the upstream: the preprocessed tensor, or the photo.
    #[serde(default)]
    pub camera_sends: CameraSends,
}

/// What the camera endpoint sends a model's upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraSends {
    /// The input tensor the local `[preprocess]` made: the remote model needs no image
    /// pipeline, and the photo's bytes never leave the device.
    #[default]
    Tensor,
    /// The photo as it came, as a BYTES image input: the remote model preprocesses it itself
    /// (its own `[preprocess]`, or Triton's ensemble); often fewer bytes than the tensor.
    Image,
}

// The credential is never shown: only where it comes from.
impl std::fmt::Debug for UpstreamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("version", &self.version)
            .field("policy", &self.policy)
            .field("timeout_ms", &self.timeout_ms)
            .field("escalate_below", &self.escalate_below)
            .field("auth_header", &self.auth_header)
            .field("auth_file", &self.auth_file)
            .field("auth_env", &self.auth_env)
            .field("ca_file", &self.ca_file)
            .field("failures_to_open", &self.failures_to_open)
            .field("probe_interval_ms", &self.probe_interval_ms)
            .field("camera_sends", &self.camera_sends)
            .finish()
    }
}

fn default_timeout_ms() -> u64 {
    500
}

fn default_auth_header() -> String {
    "Authorization".to_string()
}

fn default_failures_to_open() -> u32 {
    3
}

fn default_probe_interval_ms() -> u64 {
    2000
}

impl UpstreamConfig {
    /// How long a request waits for the upstream.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// Between probes of an open circuit.
    pub fn probe_interval(&self) -> Duration {
        Duration::from_millis(self.probe_interval_ms)
    }

    /// The remote model's name for a local model called `local_name`.
    pub fn remote_model<'a>(&'a self, local_name: &'a str) -> &'a str {
        self.model.as_deref().unwrap_or(local_name)
    }

    /// Values out of range or contradicting each other.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let scheme = self.url.split("://").next().unwrap_or_default();
        if !self.url.contains("://") || !["http", "https", "grpc", "grpcs"].contains(&scheme) {
            problems.push(format!(
                "upstream.url '{}' must start with http://, https://, grpc:// or grpcs://",
                self.url
            ));
        }
        if self.timeout_ms == 0 {
            problems.push("upstream.timeout_ms must be at least 1".into());
        }
        if self.failures_to_open == 0 {
            problems.push("upstream.failures_to_open must be at least 1".into());
        }
        if self.probe_interval_ms == 0 {
            problems.push("upstream.probe_interval_ms must be at least 1".into());
        }
        match (self.policy, self.escalate_below) {
            (UpstreamPolicy::PreferLocal, None) => problems
                .push("upstream.policy = \"prefer_local\" needs upstream.escalate_below".into()),
            (UpstreamPolicy::PreferLocal, Some(s)) if !(0.0..=1.0).contains(&s) => {
                problems.push(format!(
                    "upstream.escalate_below {s} is not between 0 and 1"
                ));
            }
            (UpstreamPolicy::PreferLocal, Some(_)) | (_, None) => {}
            (policy, Some(_)) => problems.push(format!(
                "upstream.escalate_below applies to policy \"prefer_local\" only, not \"{}\"",
                policy.as_str()
            )),
        }
        if self.auth_file.is_some() && self.auth_env.is_some() {
            problems.push("give the upstream credential as auth_file or auth_env, not both".into());
        }
        problems
    }
}

/// Why the upstream did not answer.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum RemoteError {
    /// No answer within the time given.
    #[error("{endpoint} did not answer within {millis} ms")]
    Timeout {
        /// The upstream.
        endpoint: String,
        /// The time given.
        millis: u64,
    },
    /// The connection failed or the upstream answered with an error.
    #[error("{endpoint}: {message}")]
    Failed {
        /// The upstream.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
}

/// A boxed future, as the remote calls return them.
pub type RemoteFuture<T> = Pin<Box<dyn Future<Output = Result<T, RemoteError>> + Send>>;

/// A model on a remote V2 server, as a client reaches it.
pub trait RemoteModel: Send + Sync {
    /// Sends `request` to the remote model (encoded before this returns, so the future borrows
    /// nothing); no answer within `timeout` is [`RemoteError::Timeout`].
    fn infer(&self, request: &InferRequest, timeout: Duration) -> RemoteFuture<InferResponse>;

    /// Asks the remote server whether the model is ready (its V2 model-ready endpoint).
    fn probe(&self, timeout: Duration) -> RemoteFuture<()>;

    /// The upstream as shown in messages and metrics: its URL and model, never a credential.
    fn endpoint(&self) -> &str;
}

/// Makes the client of a model's upstream (the server provides one to the engine).
pub trait RemoteConnector: Send + Sync {
    /// A client for `config`'s upstream of the local model `local_name`.
    fn connect(
        &self,
        config: &UpstreamConfig,
        local_name: &str,
    ) -> Result<Arc<dyn RemoteModel>, ConnectError>;
}

/// Why the client of a model's upstream could not be made (the model does not load).
#[derive(Debug, Error)]
pub enum ConnectError {
    /// The server was given no upstream client.
    #[error("this server has no upstream client")]
    NoClient,
    /// `url` has a scheme no client speaks.
    #[error("upstream url '{url}' must start with http://, https://, grpc:// or grpcs://")]
    Scheme {
        /// The URL.
        url: String,
    },
    /// `url` is not a usable address.
    #[error("upstream url '{url}': {message}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// `ca_file` could not be read.
    #[error("cannot read upstream.ca_file {path}: {source}")]
    CaFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `ca_file` holds no usable certificate.
    #[error("upstream.ca_file {path}: {message}")]
    Certificate {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The client library refused its settings (TLS).
    #[error("cannot set up the upstream client: {0}")]
    Client(String),
    /// The credential `auth_file` or `auth_env` names cannot be used.
    #[error(transparent)]
    Credential(#[from] CredentialError),
}

/// Why the credential an upstream asks for cannot be used.
#[derive(Debug, Error)]
pub enum CredentialError {
    /// `auth_file` could not be read.
    #[error("cannot read upstream.auth_file {path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `auth_env` names a variable that is not set.
    #[error("upstream.auth_env names {0}, which is not set")]
    Unset(String),
    /// The credential read is empty.
    #[error("the upstream credential from {0} is empty")]
    Empty(String),
    /// `auth_header` is not a header (or metadata key) name.
    #[error("upstream.auth_header '{0}' is not a header name")]
    Header(String),
    /// The credential cannot travel as a header value.
    #[error("the upstream credential is not a valid header value")]
    Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> UpstreamConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_and_checks() {
        let c = config("url = \"http://cloud:8000\"");
        assert_eq!(c.policy, UpstreamPolicy::Local);
        assert_eq!(c.timeout(), Duration::from_millis(500));
        assert_eq!(c.remote_model("resnet"), "resnet");
        assert!(c.problems().is_empty());

        let c = config("url = \"ftp://x\"\npolicy = \"prefer_local\"\ntimeout_ms = 0");
        let problems = c.problems().join("; ");
        assert!(problems.contains("must start with http://"), "{problems}");
        assert!(problems.contains("timeout_ms"), "{problems}");
        assert!(
            problems.contains("needs upstream.escalate_below"),
            "{problems}"
        );

        let c = config("url = \"grpc://x:1\"\nescalate_below = 0.5");
        assert!(
            c.problems()[0].contains("prefer_local"),
            "{:?}",
            c.problems()
        );
    }

    #[test]
    fn the_debug_form_names_where_the_credential_comes_from_only() {
        let c = config("url = \"https://x\"\nauth_env = \"CLOUD_TOKEN\"");
        let shown = format!("{c:?}");
        assert!(shown.contains("CLOUD_TOKEN"), "{shown}");
    }
}
