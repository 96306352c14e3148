//! Server metadata, model metadata, Triton's model configuration and statistics, as JSON (the
//! content comes from [`crate::describe`]).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use outpost_protocol::rest::{
    ModelConfigJson, ModelMetadata, ModelStatisticsResponseJson, ServerMetadata,
};

use super::{ApiError, AppState};
use crate::describe;

pub(super) async fn server_metadata() -> Json<ServerMetadata> {
    Json(describe::server_metadata())
}

pub(super) async fn model_metadata(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Json<ModelMetadata>, ApiError> {
    Ok(Json(describe::model_metadata(
        &state.inference,
        &model,
        None,
    )?))
}

pub(super) async fn model_version_metadata(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<ModelMetadata>, ApiError> {
    Ok(Json(describe::model_metadata(
        &state.inference,
        &model,
        Some(&version),
    )?))
}

pub(super) async fn model_config(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Json<ModelConfigJson>, ApiError> {
    let served = state.inference.lookup(&model, None)?;
    Ok(Json(describe::model_config(&served)))
}

pub(super) async fn model_version_config(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<ModelConfigJson>, ApiError> {
    let served = state.inference.lookup(&model, Some(&version))?;
    Ok(Json(describe::model_config(&served)))
}

pub(super) async fn all_statistics(
    State(state): State<Arc<AppState>>,
) -> Result<Json<ModelStatisticsResponseJson>, ApiError> {
    Ok(Json(describe::statistics(&state.inference, None, None)?))
}

pub(super) async fn model_statistics(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Json<ModelStatisticsResponseJson>, ApiError> {
    Ok(Json(describe::statistics(
        &state.inference,
        Some(&model),
        None,
    )?))
}

pub(super) async fn model_version_statistics(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<ModelStatisticsResponseJson>, ApiError> {
    Ok(Json(describe::statistics(
        &state.inference,
        Some(&model),
        Some(&version),
    )?))
}
