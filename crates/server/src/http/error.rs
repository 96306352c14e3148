//! Turning every failure into an HTTP status and a `{"error": "..."}` body, as Triton does.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use outpost_core::BackendError;
use outpost_protocol::rest::ErrorResponse;
use outpost_protocol::ProtocolError;
use outpost_vision::VisionError;

use crate::body_memory::BodyMemoryError;
use crate::inference::InferError;
use crate::repository::LookupError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds for a `Retry-After` header (503 when a model is at capacity).
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after_secs: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorResponse {
                error: self.message,
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

impl From<ProtocolError> for ApiError {
    fn from(e: ProtocolError) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
    }
}

impl From<LookupError> for ApiError {
    fn from(e: LookupError) -> ApiError {
        let status = match &e {
            LookupError::UnknownModel(_) | LookupError::UnknownVersion { .. } => {
                StatusCode::NOT_FOUND
            }
            LookupError::BadVersion(_) => StatusCode::BAD_REQUEST,
            LookupError::Unavailable { .. } | LookupError::VersionUnavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<VisionError> for ApiError {
    fn from(e: VisionError) -> ApiError {
        let status = match &e {
            VisionError::Empty | VisionError::Corrupt(_) => StatusCode::BAD_REQUEST,
            VisionError::UnsupportedFormat(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            VisionError::TooManyBytes { .. } | VisionError::TooManyPixels { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            VisionError::Config(_) | VisionError::Outputs(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<BodyMemoryError> for ApiError {
    fn from(e: BodyMemoryError) -> ApiError {
        match e {
            BodyMemoryError::NeverFits { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            BodyMemoryError::Full {
                retry_after_secs, ..
            } => ApiError {
                retry_after_secs: Some(retry_after_secs),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            },
        }
    }
}

impl From<InferError> for ApiError {
    fn from(e: InferError) -> ApiError {
        match e {
            InferError::Lookup(lookup) => lookup.into(),
            InferError::Protocol(protocol) => protocol.into(),
            InferError::Input(input) => ApiError::new(StatusCode::BAD_REQUEST, input.to_string()),
            InferError::Backend(BackendError::Inference(message)) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("inference failed: {message}"),
            ),
            InferError::Backend(other) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
            }
            InferError::Image(image) => image.into(),
            InferError::NoImagePipeline(model) => ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("model '{model}' declares no image [preprocess] and [postprocess] in its model.toml"),
            ),
            InferError::ShuttingDown => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            ),
            overloaded @ InferError::Overloaded {
                retry_after_secs, ..
            } => ApiError {
                retry_after_secs: Some(retry_after_secs),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, overloaded.to_string())
            },
            InferError::DeadlineExceeded => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                InferError::DeadlineExceeded.to_string(),
            ),
            InferError::Internal(message) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
            }
        }
    }
}
