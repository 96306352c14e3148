//! Liveness and readiness: of the server, and of a model or model version.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use outpost_protocol::rest::{LiveResponse, ModelReadyResponse, ReadyResponse};

use super::{ApiError, AppState};

pub(super) async fn live() -> Json<LiveResponse> {
    Json(LiveResponse { live: true })
}

pub(super) async fn ready(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let ready = state.is_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(ReadyResponse { ready }))
}

fn model_ready_answer(
    state: &AppState,
    model: &str,
    version: Option<&str>,
) -> Result<Json<ModelReadyResponse>, ApiError> {
    let served = state.engine.lookup(model, version)?;
    Ok(Json(ModelReadyResponse {
        name: served.name().to_string(),
        version: Some(served.version().to_string()),
        ready: true,
    }))
}

pub(super) async fn model_ready(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Json<ModelReadyResponse>, ApiError> {
    model_ready_answer(&state, &model, None)
}

pub(super) async fn model_version_ready(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<ModelReadyResponse>, ApiError> {
    model_ready_answer(&state, &model, Some(&version))
}
