//! The Open Inference Protocol REST front end (axum): routes, shared state and the fallback
//! answers for unknown paths and methods.

mod body;
mod camera;
mod deadline;
mod describe_json;
mod drain;
mod error;
mod health;
mod infer;
mod metadata;
mod metrics;
mod openapi;
mod repository;
mod status_page;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;

pub use error::ApiError;

/// The header on every inference answer that says who answered: `local` or `upstream`.
pub const SERVED_BY_HEADER: &str = "outpost-served-by";

pub use crate::state::AppState;

/// All REST routes; `/metrics` too when `with_metrics`, the status page when it is on.
pub fn router(state: Arc<AppState>, with_metrics: bool) -> Router {
    let max_body = state.max_body_bytes;
    let router = Router::new();
    let router = if with_metrics {
        router.route("/metrics", get(metrics::metrics))
    } else {
        router
    };
    let router = if state.status_page.is_some() {
        router
            .route("/", get(status_page::page))
            .route("/status/app.js", get(status_page::script))
            .route("/status/style.css", get(status_page::style))
            .route("/status/icon.svg", get(status_page::icon))
            .route("/status/data", get(status_page::data))
    } else {
        router
    };
    router
        .route("/v2/health/live", get(health::live))
        .route("/v2/health/ready", get(health::ready))
        .route("/v2", get(metadata::server_metadata))
        .route("/v2/models/{model}", get(metadata::model_metadata))
        .route(
            "/v2/models/{model}/versions/{version}",
            get(metadata::model_version_metadata),
        )
        .route("/v2/models/{model}/ready", get(health::model_ready))
        .route(
            "/v2/models/{model}/versions/{version}/ready",
            get(health::model_version_ready),
        )
        .route("/v2/models/{model}/config", get(metadata::model_config))
        .route(
            "/v2/models/{model}/versions/{version}/config",
            get(metadata::model_version_config),
        )
        .route("/v2/models/stats", get(metadata::all_statistics))
        .route("/v2/models/{model}/stats", get(metadata::model_statistics))
        .route(
            "/v2/models/{model}/versions/{version}/stats",
            get(metadata::model_version_statistics),
        )
        .route("/v2/models/{model}/infer", post(infer::infer))
        .route(
            "/v2/models/{model}/versions/{version}/infer",
            post(infer::infer_version),
        )
        .route("/v2/models/{model}/image", post(camera::image))
        .route(
            "/v2/models/{model}/versions/{version}/image",
            post(camera::image_version),
        )
        .route("/v2/repository/index", post(repository::index))
        .route("/v2/repository/models/{model}/load", post(repository::load))
        .route(
            "/v2/repository/models/{model}/unload",
            post(repository::unload),
        )
        .route("/openapi.json", get(openapi::document))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // The infer handler enforces the limit itself, with a JSON 413.
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// `/metrics` alone, for its own port.
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found(body: Body) -> ApiError {
    drain::discard_body(body).await;
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

async fn method_not_allowed(body: Body) -> ApiError {
    drain::discard_body(body).await;
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}
