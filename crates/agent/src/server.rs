//! What the updater needs of the server it installs for: model control by version (load a
//! candidate, make a version the default, unload one), the versions it serves, inference for
//! golden cases, its statistics for the watch and its version. [`crate::server_api::ServerApi`]
//! is this over the server's public HTTP API; tests and fleet simulations bring their own.

use std::future::Future;

use serde_json::Value;

use crate::error::AgentError;

/// A server the agent installs models for.
pub trait ModelServer: Send + Sync {
    /// Loads `version` of `model` as a candidate: reachable by explicit version only. A
    /// refusal that is the bundle's fault (the model does not load) is
    /// [`AgentError::Bundle`]; anything else is the server's, and retried.
    fn load_candidate(
        &self,
        model: &str,
        version: u64,
    ) -> impl Future<Output = Result<(), AgentError>> + Send;

    /// Makes `version` of `model` the default (loading it first if needed).
    fn make_default(
        &self,
        model: &str,
        version: u64,
    ) -> impl Future<Output = Result<(), AgentError>> + Send;

    /// Unloads `version` of `model`; a version that is not loaded is no error.
    fn unload_version(
        &self,
        model: &str,
        version: u64,
    ) -> impl Future<Output = Result<(), AgentError>> + Send;

    /// The server's version.
    fn server_version(&self) -> impl Future<Output = Result<String, AgentError>> + Send;

    /// The versions of `model` the server has ready (none when it does not serve it).
    fn ready_versions(
        &self,
        model: &str,
    ) -> impl Future<Output = Result<Vec<u64>, AgentError>> + Send;

    /// A V2 JSON inference request to `version` of `model`; the answer as JSON.
    fn infer(
        &self,
        model: &str,
        version: u64,
        body: &Value,
    ) -> impl Future<Output = Result<Value, AgentError>> + Send;

    /// An image sent to the camera endpoint of `version` of `model`; the answer as JSON.
    fn image(
        &self,
        model: &str,
        version: u64,
        image: Vec<u8>,
    ) -> impl Future<Output = Result<Value, AgentError>> + Send;

    /// The server's statistics as Prometheus text (`crate::watch` reads them).
    fn metrics(&self) -> impl Future<Output = Result<String, AgentError>> + Send;
}
