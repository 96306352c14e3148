//! The engine's errors as gRPC status codes, following Triton: NOT_FOUND for an unknown model or
//! version, INVALID_ARGUMENT for a request that does not fit, UNAVAILABLE for a model that did
//! not load or a server that is stopping, INTERNAL for a model that failed, RESOURCE_EXHAUSTED
//! for a model at capacity or a request the memory budget has no room for; for model control,
//! UNAUTHENTICATED without the token and FAILED_PRECONDITION when control is off.

use outpost_engine::{EngineError, ErrorKind};
use tonic::{Code, Status};

/// The status for `error`, with its message.
pub(super) fn status(error: &EngineError) -> Status {
    let code = match error.kind() {
        ErrorKind::InvalidArgument | ErrorKind::UnsupportedMediaType | ErrorKind::TooLarge => {
            Code::InvalidArgument
        }
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::Overloaded | ErrorKind::InsufficientMemory => Code::ResourceExhausted,
        ErrorKind::DeadlineExceeded => Code::DeadlineExceeded,
        ErrorKind::Unauthenticated => Code::Unauthenticated,
        ErrorKind::FailedPrecondition => Code::FailedPrecondition,
        ErrorKind::Internal => Code::Internal,
    };
    Status::new(code, error.to_string())
}
