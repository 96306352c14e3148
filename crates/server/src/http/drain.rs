//! Reading and discarding the body of a request that is refused, so that a client still
//! sending it reads the answer instead of a reset, and a keep-alive connection stays usable. A
//! body that declared more than the drain bound is not waited for: the answer goes at once and
//! the connection closes after it.

use std::time::Duration;

use axum::body::{Body, BodyDataStream, HttpBody};
use futures_util::StreamExt;

use super::ApiError;

/// Most bytes of a refused body read and thrown away; past this, or [`DRAIN_TIME`], the
/// connection is closed after the answer.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;
/// Longest time spent discarding a refused body.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// `accepted` as it is, or, for a refusal, the refusal once `body` has been read and dropped
/// (see [`discard_body`]): the checks a handler makes before reading the body.
pub(super) async fn or_discard_body<T>(
    accepted: Result<T, ApiError>,
    body: Body,
) -> Result<(T, Body), ApiError> {
    match accepted {
        Ok(accepted) => Ok((accepted, body)),
        Err(refusal) => {
            discard_body(body).await;
            Err(refusal)
        }
    }
}

/// Reads `body` to its end (within [`DRAIN_LIMIT`] and [`DRAIN_TIME`]) and drops what it read;
/// reads nothing of a body that declared more than [`DRAIN_LIMIT`].
pub(super) async fn discard_body(body: Body) {
    if body
        .size_hint()
        .exact()
        .is_some_and(|declared| declared > DRAIN_LIMIT as u64)
    {
        return;
    }
    discard_rest(body.into_data_stream()).await;
}

/// Reads what is left of a body's stream (within [`DRAIN_LIMIT`] and [`DRAIN_TIME`]) and drops
/// it.
pub(super) async fn discard_rest(mut stream: BodyDataStream) {
    let drain = async {
        let mut seen = 0usize;
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len();
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
}
