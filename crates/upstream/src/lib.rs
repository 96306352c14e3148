//! Outpost's client of remote Open Inference Protocol (V2) servers: what answers a model's
//! requests when its `[upstream]` sends them out. [`V2Connector`] makes a client per model from
//! its configuration: [`rest::RestModel`] for `http://` and `https://` (binary tensors both
//! ways), [`grpc::GrpcModel`] for `grpc://` and `grpcs://`; both carry the configured
//! credential header ([`credential`]) and trust the system's certificate authorities plus an
//! optional `ca_file`. Deciding when to ask, and the circuit breaker, are the engine's.

pub mod credential;
pub mod grpc;
pub mod rest;

use std::sync::Arc;

use outpost_core::{ConnectError, RemoteConnector, RemoteModel, UpstreamConfig};

/// Largest number of elements accepted in one output of a remote answer.
pub const MAX_OUTPUT_ELEMENTS: usize = 64 * 1024 * 1024;

/// Makes V2 clients for models' upstreams.
#[derive(Debug, Clone, Copy, Default)]
pub struct V2Connector;

impl RemoteConnector for V2Connector {
    fn connect(
        &self,
        config: &UpstreamConfig,
        local_name: &str,
    ) -> Result<Arc<dyn RemoteModel>, ConnectError> {
        let scheme = config.url.split("://").next().unwrap_or_default();
        Ok(match scheme {
            "http" | "https" => Arc::new(rest::RestModel::new(config, local_name)?),
            "grpc" | "grpcs" => Arc::new(grpc::GrpcModel::new(config, local_name)?),
            _ => {
                return Err(ConnectError::Scheme {
                    url: config.url.clone(),
                })
            }
        })
    }
}

/// `url` without a trailing `/`, and how the upstream is named in messages: the server, the
/// model and its version.
pub(crate) fn describe(config: &UpstreamConfig, local_name: &str) -> (String, String) {
    let base = config.url.trim_end_matches('/').to_string();
    let model = config.remote_model(local_name);
    let shown = match &config.version {
        Some(version) => format!("{base} (model '{model}' version {version})"),
        None => format!("{base} (model '{model}')"),
    };
    (base, shown)
}
