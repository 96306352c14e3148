//! `POST /v2/models/{m}[/versions/{v}]/image`, the camera endpoint: an encoded JPEG or PNG as
//! the raw body (`image/jpeg`, `image/png`, or `application/octet-stream`) or as a file in a
//! `multipart/form-data` form, answered with labels or boxes as JSON. Query parameters override
//! the model's `top_k`, `score_threshold`, `iou_threshold` and `max_detections`; `decode=full`
//! turns off the reduced-scale JPEG decode.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use outpost_protocol::camera_form;
use outpost_vision::{ImageFormat, Overrides};
use serde::Deserialize;

use super::body::{declared_length, read_body, reserve_body};
use super::deadline::request_deadline;
use super::drain::or_discard_body;
use super::{ApiError, AppState, SERVED_BY_HEADER};
use outpost_engine::BodyReservation;
use outpost_engine::Route;

/// How the JPEG decode may be reduced.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum DecodeMode {
    /// The largest DCT-domain reduction that still covers the model's input size.
    #[default]
    Scaled,
    Full,
}

/// The most classes or boxes one answer may ask for (`top_k`, `max_detections`).
const MAX_ANSWER_ITEMS: usize = 1000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ImageQuery {
    top_k: Option<usize>,
    score_threshold: Option<f32>,
    iou_threshold: Option<f32>,
    max_detections: Option<usize>,
    #[serde(default)]
    decode: DecodeMode,
}

impl ImageQuery {
    fn overrides(&self) -> Result<Overrides, ApiError> {
        let bad = |m: &str| Err(ApiError::new(StatusCode::BAD_REQUEST, m.to_string()));
        let unit = |v: Option<f32>| v.is_some_and(|v| !(0.0..=1.0).contains(&v));
        if self.top_k == Some(0) || self.max_detections == Some(0) {
            return bad("top_k and max_detections must be at least 1");
        }
        // Bounded: non-maximum suppression compares each candidate with every box kept, so an
        // unbounded count with a near-zero score threshold made one request minutes of work.
        let too_many = |v: Option<usize>| v.is_some_and(|v| v > MAX_ANSWER_ITEMS);
        if too_many(self.top_k) || too_many(self.max_detections) {
            return bad("top_k and max_detections must be at most 1000");
        }
        if unit(self.score_threshold) || unit(self.iou_threshold) {
            return bad("score_threshold and iou_threshold must be within 0..1");
        }
        Ok(Overrides {
            top_k: self.top_k,
            score_threshold: self.score_threshold,
            iou_threshold: self.iou_threshold,
            max_detections: self.max_detections,
            full_decode: self.decode == DecodeMode::Full,
        })
    }
}

/// How the image arrives, by the request's content type.
enum Delivery {
    /// The body is the image.
    Raw,
    /// The body is a form, with this `Content-Type` (its boundary).
    Form(String),
}

fn delivery(request: &Request) -> Result<Delivery, ApiError> {
    let Some(value) = request.headers().get(header::CONTENT_TYPE) else {
        return Ok(Delivery::Raw);
    };
    let content_type = value.to_str().unwrap_or("");
    let essence = essence(content_type);
    if essence == "multipart/form-data" {
        Ok(Delivery::Form(content_type.to_string()))
    } else {
        check_image_type(&essence).map(|()| Delivery::Raw)
    }
}

/// A media type without its parameters, in lower case.
fn essence(media_type: &str) -> String {
    media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Accepts the media types an encoded image may be sent as.
fn check_image_type(essence: &str) -> Result<(), ApiError> {
    if essence == "application/octet-stream" || ImageFormat::from_media_type(essence).is_some() {
        Ok(())
    } else {
        Err(unsupported(essence))
    }
}

fn unsupported(media_type: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("unsupported content type '{media_type}': send image/jpeg, image/png, application/octet-stream or a multipart/form-data file"),
    )
}

/// The form's image: its first file part, of an image type when the part names one.
fn form_image(content_type: &str, body: Bytes) -> Result<Bytes, ApiError> {
    let file = camera_form::first_file(content_type, body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    if let Some(media_type) = &file.media_type {
        check_image_type(media_type)?;
    }
    Ok(file.bytes)
}

/// The whole body, within `limit` and the room `reservation` can grow to.
async fn whole_body(
    declared: Option<usize>,
    body: Body,
    limit: usize,
    reservation: &mut BodyReservation,
) -> Result<Bytes, ApiError> {
    let chunks = read_body(declared, body, limit, reservation, Vec::new()).await?;
    Ok(match chunks.len() {
        1 => chunks.into_iter().next().unwrap_or_default(),
        _ => Bytes::from(chunks.concat()),
    })
}

async fn handle(
    state: Arc<AppState>,
    model: String,
    version: Option<String>,
    query: Result<Query<ImageQuery>, QueryRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    let declared = declared_length(request.headers());
    let accepted = (|| {
        let query = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
        let overrides = query.overrides()?;
        let delivery = delivery(&request)?;
        let deadline = request_deadline(request.headers(), arrived)?;
        // An unknown or unavailable model is refused before the body is read.
        state.engine.lookup(&model, version.as_deref())?;
        let reservation = reserve_body(
            state.engine.request_bodies(),
            declared,
            state.max_body_bytes,
        )?;
        Ok::<_, ApiError>((deadline, overrides, delivery, reservation))
    })();
    let ((deadline, overrides, delivery, mut reservation), body) =
        or_discard_body(accepted, request.into_body()).await?;
    // Forms too are read whole first, so every byte is counted against the memory budget.
    let body = whole_body(declared, body, state.max_body_bytes, &mut reservation).await?;
    // The request takes its place in the model's queue once its body is in: a client still
    // uploading (or trickling) holds a connection, never a place others wait for.
    let admitted = state
        .engine
        .admit(&model, version.as_deref(), Route::HTTP_IMAGE, deadline)?;
    let image = match delivery {
        Delivery::Raw => body,
        Delivery::Form(content_type) => form_image(&content_type, body)?,
    };
    let answer = state
        .engine
        .answer_image(admitted, arrived, Route::HTTP_IMAGE, image, overrides)
        .await?;
    drop(reservation);
    tracing::debug!(
        model = %answer.model_name,
        decode_us = answer.timing_us.decode,
        preprocess_us = answer.timing_us.preprocess,
        infer_us = answer.timing_us.inference,
        postprocess_us = answer.timing_us.postprocess,
        reduction = answer.image.decode_reduction,
        "image request"
    );
    let served_by = HeaderValue::from_static(answer.served_by.as_str());
    let mut response = Json(answer).into_response();
    response.headers_mut().insert(SERVED_BY_HEADER, served_by);
    Ok(response)
}

pub(super) async fn image(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    query: Result<Query<ImageQuery>, QueryRejection>,
    request: Request,
) -> Response {
    handle(state, model, None, query, request)
        .await
        .into_response()
}

pub(super) async fn image_version(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
    query: Result<Query<ImageQuery>, QueryRejection>,
    request: Request,
) -> Response {
    handle(state, model, Some(version), query, request)
        .await
        .into_response()
}
