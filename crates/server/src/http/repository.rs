//! Triton's model repository extension over REST: `POST /v2/repository/index` and
//! `POST /v2/repository/models/{m}/load|unload`, whose body may carry `{"parameters": {...}}`
//! to load, promote or unload one version (see `outpost_engine::LoadTarget`).
//! Every one needs the bearer token when one is configured; load and unload also need
//! `model_control.mode = explicit`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use bytes::Bytes;
use outpost_engine::EngineError;
use outpost_engine::{IndexEntry, LoadTarget, ParameterValue, UnloadTarget};
use outpost_protocol::rest::RepositoryIndexEntryJson;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, AppState};

/// The bearer token of the request's `Authorization` header, if it has one.
fn authorization(headers: &HeaderMap) -> Option<&str> {
    crate::bearer::bearer_token(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    )
}

#[derive(Debug, Default, Deserialize)]
struct IndexRequest {
    #[serde(default)]
    ready: bool,
}

fn index_entry(entry: IndexEntry) -> RepositoryIndexEntryJson {
    RepositoryIndexEntryJson {
        name: entry.name,
        version: entry.version.map(|v| v.to_string()),
        state: entry.state.name().to_string(),
        reason: entry.reason,
    }
}

pub(super) async fn index(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Vec<RepositoryIndexEntryJson>>, ApiError> {
    // The token is checked before the body is read.
    state.engine.authorize(authorization(&headers))?;
    let request: IndexRequest = if body.iter().all(u8::is_ascii_whitespace) {
        IndexRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("malformed JSON request: {e}"),
            )
        })?
    };
    let index = state
        .engine
        .repository_index(authorization(&headers), request.ready)
        .await?;
    Ok(Json(index.into_iter().map(index_entry).collect()))
}

/// The body of a load or unload request: optional, with optional parameters.
#[derive(Debug, Default, Deserialize)]
struct ControlRequest {
    #[serde(default)]
    parameters: serde_json::Map<String, Value>,
}

/// The parameters of a load or unload body, as the engine reads them.
fn control_parameters(body: &[u8]) -> Result<Vec<(String, ParameterValue)>, ApiError> {
    let bad = |message: String| {
        ApiError::new(StatusCode::BAD_REQUEST, message).with_code("bad_parameter")
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let request: ControlRequest =
        serde_json::from_slice(body).map_err(|e| bad(format!("malformed JSON request: {e}")))?;
    request
        .parameters
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                Value::Bool(b) => ParameterValue::Bool(b),
                Value::String(s) => ParameterValue::String(s),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => ParameterValue::Int(i),
                    None => return Err(bad(format!("parameter '{name}' must be an integer"))),
                },
                other => {
                    return Err(bad(format!(
                        "parameter '{name}' must be a boolean, integer or string, not {other}"
                    )))
                }
            };
            Ok((name, value))
        })
        .collect()
}

pub(super) async fn load(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let engine = &state.engine;
    engine.authorize(authorization(&headers))?;
    let target =
        LoadTarget::from_parameters(control_parameters(&body)?).map_err(EngineError::from)?;
    engine
        .load_model(authorization(&headers), model, target)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn unload(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let engine = &state.engine;
    engine.authorize(authorization(&headers))?;
    let target =
        UnloadTarget::from_parameters(control_parameters(&body)?).map_err(EngineError::from)?;
    engine
        .unload_model(authorization(&headers), model, target)
        .await?;
    Ok(Json(json!({})))
}
