//! `GET /metrics`: the Prometheus exposition (OpenMetrics text).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::metrics::CONTENT_TYPE;

pub(super) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    match &state.metrics {
        Some(metrics) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render()).into_response(),
        None => ApiError::new(StatusCode::NOT_FOUND, "metrics are off").into_response(),
    }
}
