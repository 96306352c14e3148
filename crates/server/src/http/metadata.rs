//! Server metadata, model metadata, Triton's model configuration and statistics, as JSON (the
//! content comes from `outpost_engine::describe`, encoded by [`super::describe_json`]).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use outpost_protocol::rest::{
    ModelConfigJson, ModelMetadata, ModelStatisticsResponseJson, ServerMetadata,
};

use outpost_engine::VersionStatistics;

use super::describe_json;
use super::{ApiError, AppState};

pub(super) async fn server_metadata() -> Json<ServerMetadata> {
    Json(describe_json::server_metadata())
}

pub(super) async fn model_metadata(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Json<ModelMetadata>, ApiError> {
    Ok(Json(describe_json::model_metadata(
        state.engine.model_metadata(&model, None)?,
    )))
}

pub(super) async fn model_version_metadata(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<ModelMetadata>, ApiError> {
    Ok(Json(describe_json::model_metadata(
        state.engine.model_metadata(&model, Some(&version))?,
    )))
}

pub(super) async fn model_config(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Json<ModelConfigJson>, ApiError> {
    Ok(Json(describe_json::model_config(
        state.engine.model_config(&model, None)?,
    )))
}

pub(super) async fn model_version_config(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<ModelConfigJson>, ApiError> {
    Ok(Json(describe_json::model_config(
        state.engine.model_config(&model, Some(&version))?,
    )))
}

pub(super) async fn all_statistics(
    State(state): State<Arc<AppState>>,
) -> Result<Json<ModelStatisticsResponseJson>, ApiError> {
    Ok(statistics(state.engine.statistics(None, None)?))
}

pub(super) async fn model_statistics(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Json<ModelStatisticsResponseJson>, ApiError> {
    Ok(statistics(state.engine.statistics(Some(&model), None)?))
}

pub(super) async fn model_version_statistics(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<ModelStatisticsResponseJson>, ApiError> {
    Ok(statistics(
        state.engine.statistics(Some(&model), Some(&version))?,
    ))
}

fn statistics(versions: Vec<VersionStatistics>) -> Json<ModelStatisticsResponseJson> {
    Json(ModelStatisticsResponseJson {
        model_stats: versions
            .into_iter()
            .map(describe_json::version_statistics)
            .collect(),
    })
}
