//! `GET /openapi.json`: the OpenAPI 3.0 document of every HTTP endpoint, kept beside the routes
//! in `openapi.json` (a test checks that every route in `mod.rs` is documented).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

const DOCUMENT: &str = include_str!("openapi.json");

pub(super) async fn document() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT,
    )
        .into_response()
}
