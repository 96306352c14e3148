//! Reading a request body within a size limit and a time limit. An oversized body is read to
//! its end (within the drain bounds) and discarded before the 413, so the connection stays
//! usable.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use bytes::Bytes;
use futures_util::StreamExt;

use super::drain::{discard_body, discard_rest};
use super::ApiError;

/// Where a body's chunks go as they arrive.
pub(super) trait BodyTarget {
    fn push(&mut self, chunk: Bytes);
}

/// Keeps the chunks as they arrived.
impl BodyTarget for Vec<Bytes> {
    fn push(&mut self, chunk: Bytes) {
        Vec::push(self, chunk);
    }
}

pub(super) fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body exceeds the limit of {limit} bytes (http.max_body_bytes)"),
    )
}

pub(super) fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}

/// Longest time a request body may take to arrive.
const BODY_READ_TIME: Duration = Duration::from_secs(60);

/// Reads the whole body into `sink`, refusing more than `limit` bytes. An oversized body is
/// read to its end (within the drain bounds) and discarded, then answered 413.
pub(super) async fn read_body<T: BodyTarget>(
    declared_length: Option<usize>,
    body: Body,
    limit: usize,
    mut sink: T,
) -> Result<T, ApiError> {
    if declared_length.is_some_and(|n| n > limit) {
        discard_body(body).await;
        return Err(too_large(limit));
    }
    let mut stream = body.into_data_stream();
    let read = async {
        let mut seen = 0usize;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read request body: {e}"),
                )
            })?;
            seen += chunk.len();
            if seen > limit {
                return Ok(false);
            }
            sink.push(chunk);
        }
        Ok::<bool, ApiError>(true)
    };
    match tokio::time::timeout(BODY_READ_TIME, read).await {
        Ok(Ok(true)) => Ok(sink),
        Ok(Ok(false)) => {
            // Free what was kept before draining the rest.
            drop(sink);
            discard_rest(stream).await;
            Err(too_large(limit))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request body took too long to arrive",
        )),
    }
}
