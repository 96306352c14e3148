//! The server, as the agent reaches it: only its public HTTP API. Model control with version
//! parameters (load a candidate, make a version the default, unload a version), V2 inference
//! and the camera endpoint for golden cases, server metadata for its version, and its
//! Prometheus text for the watch ([`ModelServer`] over HTTP). Every control request carries the
//! control token.

use std::future::Future;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::error::AgentError;
use crate::server::ModelServer;

/// A client of one Outpost server.
#[derive(Debug, Clone)]
pub struct ServerApi {
    client: reqwest::Client,
    base: String,
    metrics_url: String,
    token: Option<String>,
}

impl ServerApi {
    /// A client of the server at `base` (`http://host:port`), whose metrics are at
    /// `metrics_url` (default `<base>/metrics`), presenting `token` on control requests.
    pub fn new(
        base: &str,
        metrics_url: Option<&str>,
        token: Option<String>,
        timeout: Duration,
    ) -> Result<ServerApi, AgentError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| AgentError::Server(format!("cannot make an HTTP client: {e}")))?;
        let base = base.trim_end_matches('/').to_string();
        Ok(ServerApi {
            client,
            metrics_url: metrics_url.map_or_else(|| format!("{base}/metrics"), str::to_string),
            base,
            token,
        })
    }

    async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, Vec<u8>), AgentError> {
        let response = request
            .send()
            .await
            .map_err(|e| AgentError::Server(format!("{what}: {e}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| AgentError::Server(format!("{what}: reading the answer: {e}")))?;
        Ok((status, body.to_vec()))
    }

    /// The `error` field of an error answer, or its text.
    fn refusal(what: &str, status: StatusCode, body: &[u8]) -> AgentError {
        let answer = serde_json::from_slice::<Value>(body).ok();
        let field = |name: &str| {
            answer
                .as_ref()
                .and_then(|v| v.get(name)?.as_str().map(str::to_string))
        };
        let message = field("error")
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
        AgentError::Refused {
            what: what.to_string(),
            status: status.as_u16(),
            message,
            code: field("code"),
        }
    }

    async fn control(
        &self,
        action: &str,
        model: &str,
        parameters: Value,
    ) -> Result<(), AgentError> {
        let what = format!("{action} {model} {parameters}");
        let mut request = self
            .client
            .post(format!(
                "{}/v2/repository/models/{model}/{action}",
                self.base
            ))
            .json(&json!({ "parameters": parameters }));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let (status, body) = self.send(&what, request).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(Self::refusal(&what, status, &body))
        }
    }

    /// Loads `version` of `model` as a candidate: reachable by explicit version only.
    pub async fn load_candidate(&self, model: &str, version: u64) -> Result<(), AgentError> {
        self.control("load", model, json!({ "version": version }))
            .await
            .map_err(candidate_refusal)
    }

    /// Makes `version` of `model` the default (loading it first if needed).
    pub async fn make_default(&self, model: &str, version: u64) -> Result<(), AgentError> {
        self.control(
            "load",
            model,
            json!({ "version": version, "default": true }),
        )
        .await
    }

    /// Unloads `version` of `model`; a version that is not loaded is no error.
    pub async fn unload_version(&self, model: &str, version: u64) -> Result<(), AgentError> {
        match self
            .control("unload", model, json!({ "version": version }))
            .await
        {
            Err(AgentError::Refused { status: 404, .. }) => Ok(()),
            other => other,
        }
    }

    /// The server's version, from its metadata (`GET /v2`).
    pub async fn server_version(&self) -> Result<String, AgentError> {
        let what = "server metadata";
        let (status, body) = self
            .send(what, self.client.get(format!("{}/v2", self.base)))
            .await?;
        if !status.is_success() {
            return Err(Self::refusal(what, status, &body));
        }
        let metadata: Value = serde_json::from_slice(&body)
            .map_err(|e| AgentError::Server(format!("{what}: {e}")))?;
        metadata["version"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| AgentError::Server(format!("{what} has no version")))
    }

    /// The version unversioned requests of `model` go to now (from its metadata's answer to
    /// an unversioned request), or `None` when the model has none.
    pub async fn ready_versions(&self, model: &str) -> Result<Vec<u64>, AgentError> {
        let what = format!("metadata of {model}");
        let (status, body) = self
            .send(
                &what,
                self.client.get(format!("{}/v2/models/{model}", self.base)),
            )
            .await?;
        if status == StatusCode::NOT_FOUND || status == StatusCode::SERVICE_UNAVAILABLE {
            return Ok(Vec::new());
        }
        if !status.is_success() {
            return Err(Self::refusal(&what, status, &body));
        }
        let metadata: Value = serde_json::from_slice(&body)
            .map_err(|e| AgentError::Server(format!("{what}: {e}")))?;
        Ok(metadata["versions"]
            .as_array()
            .map(|versions| {
                versions
                    .iter()
                    .filter_map(|v| v.as_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// A V2 JSON inference request to `version` of `model`; the answer as JSON.
    pub async fn infer(
        &self,
        model: &str,
        version: u64,
        body: &Value,
    ) -> Result<Value, AgentError> {
        let what = format!("inference on {model} version {version}");
        let url = format!("{}/v2/models/{model}/versions/{version}/infer", self.base);
        self.json_answer(&what, self.client.post(url).json(body))
            .await
    }

    /// An image sent to the camera endpoint of `version` of `model`; the answer as JSON.
    pub async fn image(
        &self,
        model: &str,
        version: u64,
        image: Vec<u8>,
    ) -> Result<Value, AgentError> {
        let what = format!("camera request to {model} version {version}");
        let url = format!("{}/v2/models/{model}/versions/{version}/image", self.base);
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(image);
        self.json_answer(&what, request).await
    }

    async fn json_answer(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, AgentError> {
        let (status, body) = self.send(what, request).await?;
        if !status.is_success() {
            return Err(Self::refusal(what, status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| AgentError::Server(format!("{what}: {e}")))
    }

    /// The server's Prometheus text.
    pub async fn metrics(&self) -> Result<String, AgentError> {
        let what = "server metrics";
        let (status, body) = self.send(what, self.client.get(&self.metrics_url)).await?;
        if !status.is_success() {
            return Err(Self::refusal(what, status, &body));
        }
        String::from_utf8(body).map_err(|e| AgentError::Server(format!("{what}: {e}")))
    }
}

impl ModelServer for ServerApi {
    fn load_candidate(
        &self,
        model: &str,
        version: u64,
    ) -> impl Future<Output = Result<(), AgentError>> + Send {
        ServerApi::load_candidate(self, model, version)
    }

    fn make_default(
        &self,
        model: &str,
        version: u64,
    ) -> impl Future<Output = Result<(), AgentError>> + Send {
        ServerApi::make_default(self, model, version)
    }

    fn unload_version(
        &self,
        model: &str,
        version: u64,
    ) -> impl Future<Output = Result<(), AgentError>> + Send {
        ServerApi::unload_version(self, model, version)
    }

    fn server_version(&self) -> impl Future<Output = Result<String, AgentError>> + Send {
        ServerApi::server_version(self)
    }

    fn ready_versions(
        &self,
        model: &str,
    ) -> impl Future<Output = Result<Vec<u64>, AgentError>> + Send {
        ServerApi::ready_versions(self, model)
    }

    fn infer(
        &self,
        model: &str,
        version: u64,
        body: &Value,
    ) -> impl Future<Output = Result<Value, AgentError>> + Send {
        ServerApi::infer(self, model, version, body)
    }

    fn image(
        &self,
        model: &str,
        version: u64,
        image: Vec<u8>,
    ) -> impl Future<Output = Result<Value, AgentError>> + Send {
        ServerApi::image(self, model, version, image)
    }

    fn metrics(&self) -> impl Future<Output = Result<String, AgentError>> + Send {
        ServerApi::metrics(self)
    }
}

/// A failed candidate load: the bundle's fault when the server says it could not load the model
/// (`model_load_failed`); anything else (a bad name or parameter, control off, the server
/// failing) is the server's, and retried.
fn candidate_refusal(error: AgentError) -> AgentError {
    let load_failed = matches!(
        &error,
        AgentError::Refused { code: Some(code), .. } if code == "model_load_failed"
    );
    if load_failed {
        AgentError::Bundle(format!("the server cannot load it: {error}"))
    } else {
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, body: &str) -> AgentError {
        ServerApi::refusal(
            "load m {\"version\":2}",
            StatusCode::from_u16(status).unwrap(),
            body.as_bytes(),
        )
    }

    #[test]
    fn only_a_model_that_failed_to_load_is_the_bundles_fault() {
        let load_failed = candidate_refusal(refused(
            400,
            r#"{"error": "failed to load 'm': not an ONNX graph", "code": "model_load_failed"}"#,
        ));
        assert!(load_failed.is_bundle_fault(), "{load_failed}");
        assert!(load_failed.to_string().contains("not an ONNX graph"));
        for (status, body) in [
            (
                400,
                r#"{"error": "unknown parameter 'x'", "code": "bad_parameter"}"#,
            ),
            (
                400,
                r#"{"error": "invalid model name", "code": "bad_name"}"#,
            ),
            (
                400,
                r#"{"error": "a 400 from a server that gives no code"}"#,
            ),
            (400, "not JSON at all"),
            (
                403,
                r#"{"error": "control is off", "code": "control_disabled"}"#,
            ),
            (500, r#"{"error": "internal error", "code": "internal"}"#),
        ] {
            let error = candidate_refusal(refused(status, body));
            assert!(!error.is_bundle_fault(), "{status} {body}: {error}");
            assert_eq!(error.reason(), "server");
        }
    }

    #[test]
    fn a_refusal_keeps_the_servers_message_and_code() {
        let AgentError::Refused {
            status,
            message,
            code,
            ..
        } = refused(
            404,
            r#"{"error": "version 3 of model 'm' is not loaded", "code": "version_not_loaded"}"#,
        )
        else {
            panic!("not a refusal");
        };
        assert_eq!(status, 404);
        assert_eq!(message, "version 3 of model 'm' is not loaded");
        assert_eq!(code.as_deref(), Some("version_not_loaded"));
    }
}
