//! `POST /v2/models/{m}[/versions/{v}]/infer`: reserve room for the body in the memory budget,
//! read it within the size limit (binary requests are decoded into their tensors while it
//! arrives), then hand the decoding and encoding to the engine's one request path
//! (`outpost_engine::inference`), answering JSON or JSON-plus-binary.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use outpost_core::InferResponse;
use outpost_engine::EngineError;
use outpost_protocol::{
    decode_infer_request_segments, encode_infer_response, DecodeLimits, OutputEncoding,
    StreamingDecoder, HEADER_CONTENT_LENGTH,
};

use super::body::{declared_length, read_body, reserve_body, BodyTarget};
use super::deadline::request_deadline;
use super::drain::or_discard_body;
use super::{ApiError, AppState, SERVED_BY_HEADER};
use outpost_engine::Route;

/// A binary request whose JSON header is at most this long is decoded while its body arrives
/// (the header is parsed on the async runtime, so it must be small); larger headers and plain
/// JSON bodies are decoded after the last byte, off the runtime.
const STREAMING_HEADER_LIMIT: usize = 64 * 1024;

/// Where the body's bytes go while it is read.
enum BodySink {
    /// Kept as the chunks they arrived in, decoded once the last one is in.
    Chunks(Vec<Bytes>),
    /// Copied into the request's tensors as they arrive.
    Streaming(StreamingDecoder),
}

impl BodySink {
    /// Streams binary requests of declared length with a small header; keeps chunks otherwise.
    fn for_request(
        json_length: Option<usize>,
        declared_length: Option<usize>,
        body_limit: usize,
        limits: DecodeLimits,
    ) -> BodySink {
        if let (Some(json_length), Some(body_length)) = (json_length, declared_length) {
            if json_length <= STREAMING_HEADER_LIMIT && body_length <= body_limit {
                if let Ok(decoder) = StreamingDecoder::new(json_length, body_length, limits) {
                    return BodySink::Streaming(decoder);
                }
            }
        }
        BodySink::Chunks(Vec::new())
    }
}

impl BodyTarget for BodySink {
    fn push(&mut self, chunk: Bytes) {
        match self {
            BodySink::Chunks(chunks) => chunks.push(chunk),
            BodySink::Streaming(decoder) => decoder.push(&chunk),
        }
    }
}

fn json_header_length(headers: &HeaderMap) -> Result<Option<usize>, ApiError> {
    match headers.get(HEADER_CONTENT_LENGTH) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("invalid {HEADER_CONTENT_LENGTH} header"),
                )
            }),
    }
}

async fn handle(
    state: Arc<AppState>,
    model: String,
    version: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    let declared = declared_length(&headers);
    let accepted = (|| {
        let json_length = json_header_length(&headers)?;
        let deadline = request_deadline(&headers, arrived)?;
        // An unknown or unavailable model is refused before the body is read.
        state.engine.lookup(&model, version.as_deref())?;
        let reservation = reserve_body(
            state.engine.request_bodies(),
            declared,
            state.max_body_bytes,
        )?;
        Ok::<_, ApiError>((deadline, json_length, reservation))
    })();
    // The reservation is held until the answer is ready: the body becomes the request's tensors.
    let ((deadline, json_length, mut reservation), body) = or_discard_body(accepted, body).await?;
    let limits = state.decode_limits;
    let sink = BodySink::for_request(json_length, declared, state.max_body_bytes, limits);
    let body = read_body(declared, body, state.max_body_bytes, &mut reservation, sink).await?;
    // The request takes its place in the model's queue once its body is in: a client still
    // uploading (or trickling) holds a connection, never a place others wait for.
    let admitted = state
        .engine
        .admit(&model, version.as_deref(), Route::HTTP_INFER, deadline)?;
    let decode = move || {
        let decoded = match body {
            BodySink::Streaming(decoder) => decoder.finish(),
            BodySink::Chunks(chunks) => {
                let segments: Vec<&[u8]> = chunks.iter().map(std::convert::AsRef::as_ref).collect();
                decode_infer_request_segments(&segments, json_length, limits)
            }
        }
        .map_err(EngineError::bad_request)?;
        Ok((decoded.request, decoded.output_encoding))
    };
    let encode = |response: InferResponse, encoding: OutputEncoding, _| {
        (
            encode_infer_response(&response, &encoding),
            response.served_by,
        )
    };
    let (encoded, served_by) = state
        .engine
        .infer(admitted, arrived, Route::HTTP_INFER, decode, encode)
        .await?;
    drop(reservation);
    let mut response = Response::new(Body::from(encoded.body));
    let headers = response.headers_mut();
    headers.insert(
        SERVED_BY_HEADER,
        HeaderValue::from_static(served_by.as_str()),
    );
    match encoded.json_length {
        Some(len) => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            headers.insert(HEADER_CONTENT_LENGTH, HeaderValue::from(len));
        }
        None => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
    }
    Ok(response)
}

pub(super) async fn infer(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(state, model, None, headers, body)
        .await
        .into_response()
}

pub(super) async fn infer_version(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(state, model, Some(version), headers, body)
        .await
        .into_response()
}
