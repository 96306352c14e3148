//! Triton's model repository extension over REST: `POST /v2/repository/index` and
//! `POST /v2/repository/models/{m}/load|unload`. Every one needs the bearer token when one is
//! configured; load and unload also need `model_control.mode = explicit`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use bytes::Bytes;
use outpost_protocol::rest::RepositoryIndexEntryJson;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::control::{ControlError, ModelControl};

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> ApiError {
        let status = match &e {
            ControlError::Unauthorized => StatusCode::UNAUTHORIZED,
            ControlError::Disabled(_) => StatusCode::FORBIDDEN,
            ControlError::BadName(_) | ControlError::LoadFailed { .. } => StatusCode::BAD_REQUEST,
            ControlError::UnknownModel(_) => StatusCode::NOT_FOUND,
            ControlError::Repository(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    Ok(state.control.authorize(value)?)
}

#[derive(Debug, Default, Deserialize)]
struct IndexRequest {
    #[serde(default)]
    ready: bool,
}

pub(super) async fn index(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Vec<RepositoryIndexEntryJson>>, ApiError> {
    authorize(&state, &headers)?;
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
    let control = state.control.clone();
    let index = tokio::task::spawn_blocking(move || control.index(request.ready))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(index))
}

async fn act(
    state: &AppState,
    headers: &HeaderMap,
    action: impl FnOnce(&ModelControl) -> Result<(), ControlError> + Send + 'static,
) -> Result<Json<Value>, ApiError> {
    authorize(state, headers)?;
    state.control.check_explicit()?;
    let control = state.control.clone();
    tokio::task::spawn_blocking(move || action(&control))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(json!({})))
}

pub(super) async fn load(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    headers: HeaderMap,
    _body: Bytes,
) -> Result<Json<Value>, ApiError> {
    act(&state, &headers, move |c| c.load(&model)).await
}

pub(super) async fn unload(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    headers: HeaderMap,
    _body: Bytes,
) -> Result<Json<Value>, ApiError> {
    act(&state, &headers, move |c| c.unload(&model)).await
}
