//! Turning every failure into an HTTP status and a `{"error": "..."}` body, as Triton does, with
//! a `code` for programs beside it: the engine's errors by their kind, the front end's own (a
//! malformed body or header) as 400.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use outpost_engine::BodyMemoryError;
use outpost_engine::{EngineError, ErrorKind};
use outpost_protocol::rest::ErrorResponse;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `error` text of the body.
    pub message: String,
    /// Seconds for a `Retry-After` header (503 when a model is at capacity).
    pub retry_after_secs: Option<u64>,
    /// The body's `code`, a stable word for programs ([`EngineError::code`]).
    pub code: Option<&'static str>,
}

impl ApiError {
    /// An answer with `status` and `message`, without Retry-After.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after_secs: None,
            code: None,
        }
    }

    /// The same answer with `code` in its body.
    pub fn with_code(self, code: &'static str) -> ApiError {
        ApiError {
            code: Some(code),
            ..self
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorResponse {
                error: self.message,
                code: self.code.map(str::to_string),
            }),
        )
            .into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> ApiError {
        let status = match error.kind() {
            ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::TooLarge | ErrorKind::InsufficientMemory => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Unavailable | ErrorKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorKind::FailedPrecondition => StatusCode::FORBIDDEN,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            retry_after_secs: error.retry_after_secs(),
            code: Some(error.code()),
            ..ApiError::new(status, error.to_string())
        }
    }
}

impl From<BodyMemoryError> for ApiError {
    fn from(error: BodyMemoryError) -> ApiError {
        EngineError::from(error).into()
    }
}
