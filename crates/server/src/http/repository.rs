//! Triton's model repository extension over REST: `POST /v2/repository/index` and
//! `POST /v2/repository/models/{m}/load|unload`. Every one needs the bearer token when one is
//! configured; load and unload also need `model_control.mode = explicit`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use bytes::Bytes;
use outpost_engine::model_control::IndexEntry;
use outpost_engine::EngineError;
use outpost_protocol::rest::RepositoryIndexEntryJson;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, AppState};

/// The request's `Authorization` header, if it has a readable one.
fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
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
    state
        .engine
        .control
        .authorize(authorization(&headers))
        .map_err(EngineError::from)?;
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
        .control
        .authorized_index(authorization(&headers), request.ready)
        .await?;
    Ok(Json(index.into_iter().map(index_entry).collect()))
}

pub(super) async fn load(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    headers: HeaderMap,
    _body: Bytes,
) -> Result<Json<Value>, ApiError> {
    state
        .engine
        .control
        .authorized_load(authorization(&headers), model)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn unload(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    headers: HeaderMap,
    _body: Bytes,
) -> Result<Json<Value>, ApiError> {
    state
        .engine
        .control
        .authorized_unload(authorization(&headers), model)
        .await?;
    Ok(Json(json!({})))
}
