//! A request's deadline over HTTP: the `X-Request-Timeout-Ms` header, milliseconds from the
//! request's arrival. A request still waiting for an inference thread when it passes is answered
//! 504 and never runs.

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};

use super::ApiError;
use outpost_engine::Deadline;

pub(super) const TIMEOUT_HEADER: &str = "x-request-timeout-ms";

/// The deadline `headers` ask for, if any; a malformed value is a 400.
pub(super) fn request_deadline(
    headers: &HeaderMap,
    arrived: Instant,
) -> Result<Option<Deadline>, ApiError> {
    let Some(value) = headers.get(TIMEOUT_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map(|ms| Some(Deadline::after(arrived, Duration::from_millis(ms))))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "invalid {TIMEOUT_HEADER} header: expected a positive number of milliseconds"
                ),
            )
        })
}
