//! The status page over HTTP: `GET /` (the page), `/status/app.js`, `/status/style.css` and
//! `/status/icon.svg` (its files, embedded in the binary) and `GET /status/data` (its figures
//! as JSON), with the page's Content-Security-Policy and headers that keep browsers from
//! guessing types or framing it. Only routed when `status_page.enabled`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::{ApiError, AppState};
use crate::status::{self, assets};

fn file(content_type: &'static str, body: &'static str) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(assets::CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

pub(super) async fn page() -> Response {
    file("text/html; charset=utf-8", assets::INDEX_HTML)
}

pub(super) async fn script() -> Response {
    file("text/javascript; charset=utf-8", assets::APP_JS)
}

pub(super) async fn style() -> Response {
    file("text/css; charset=utf-8", assets::STYLE_CSS)
}

pub(super) async fn icon() -> Response {
    file("image/svg+xml", assets::ICON_SVG)
}

pub(super) async fn data(State(state): State<Arc<AppState>>) -> Response {
    let Some(page) = state.status_page.as_ref() else {
        return ApiError::new(StatusCode::NOT_FOUND, "the status page is off").into_response();
    };
    let figures = status::data(&state.engine, state.is_ready(), page).await;
    let mut response = Json(figures).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
