//! `GET /metrics`: the Prometheus exposition (OpenMetrics text).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use outpost_engine::METRICS_CONTENT_TYPE;

pub(super) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    match state.engine.render_metrics() {
        Some(text) => ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response(),
        None => ApiError::new(StatusCode::NOT_FOUND, "metrics are off").into_response(),
    }
}
