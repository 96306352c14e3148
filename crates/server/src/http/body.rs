//! Reading a request body within a size limit, a time limit and the room its reservation in the
//! memory budget can grow to. An oversized body, or one the budget has no room for, is read to
//! its end (within the drain bounds) and discarded before the refusal, so the connection stays
//! usable.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use bytes::Bytes;
use futures_util::StreamExt;

use super::drain::{discard_body, discard_rest};
use super::ApiError;
use crate::connections::is_body_too_slow;
use outpost_engine::{BodyMemory, BodyReservation};

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

/// A reservation in the memory budget for a body, empty until its bytes arrive ([`read_body`]
/// grows it): a declared length holds nothing, so a client announcing a large body and
/// trickling it takes no room from the others. A declared length that could never fit beside
/// the loaded models (counted up to `limit`) is refused at once (413); [`read_body`] refuses one
/// over `limit` as too large.
pub(super) fn reserve_body(
    bodies: &Arc<BodyMemory>,
    declared_length: Option<usize>,
    limit: usize,
) -> Result<BodyReservation, ApiError> {
    if let Some(declared) = declared_length {
        bodies.check_fits_alone(declared.min(limit) as u64)?;
    }
    Ok(bodies.reserve(0)?)
}

/// Reads the whole body into `sink`, refusing more than `limit` bytes or more than `reservation`
/// can grow to. A refused body is read to its end (within the drain bounds) and discarded, then
/// answered 413 (or 503 when the budget may have room later).
pub(super) async fn read_body<T: BodyTarget>(
    declared_length: Option<usize>,
    body: Body,
    limit: usize,
    reservation: &mut BodyReservation,
    mut sink: T,
) -> Result<T, ApiError> {
    if declared_length.is_some_and(|n| n > limit) {
        discard_body(body).await;
        return Err(too_large(limit));
    }
    let mut stream = body.into_data_stream();
    // The connection paces the body (connections.body_timeout_secs and
    // body_min_bytes_per_sec): a body that falls behind fails here with 408.
    let read = async {
        let mut seen = 0usize;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| unreadable_body(&e))?;
            seen += chunk.len();
            if seen > limit {
                return Ok(Err(too_large(limit)));
            }
            if let Err(no_room) = reservation.grow_to(seen as u64) {
                return Ok(Err(ApiError::from(no_room)));
            }
            sink.push(chunk);
        }
        Ok::<_, ApiError>(Ok(()))
    };
    match read.await {
        Ok(Ok(())) => Ok(sink),
        Ok(Err(refusal)) => {
            // Free what was kept before draining the rest.
            drop(sink);
            discard_rest(stream).await;
            Err(refusal)
        }
        Err(e) => Err(e),
    }
}

/// The answer to a body that could not be read: 408 when it arrived too slowly (the
/// connection closes after it), else 400.
pub(super) fn unreadable_body(error: &axum::Error) -> ApiError {
    if is_body_too_slow(error) {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, error.to_string())
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("cannot read request body: {error}"),
        )
    }
}
