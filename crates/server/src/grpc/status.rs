//! Failures as gRPC status codes, following Triton: NOT_FOUND for an unknown model or version,
//! INVALID_ARGUMENT for a request that does not fit, UNAVAILABLE for a model that did not load
//! or a server that is stopping, INTERNAL for a model that failed, RESOURCE_EXHAUSTED for a
//! model at capacity or a request the memory budget has no room for; for model control,
//! UNAUTHENTICATED without the token and FAILED_PRECONDITION when control is off.

use outpost_vision::VisionError;
use tonic::Status;

use crate::body_memory::BodyMemoryError;
use crate::control::ControlError;
use crate::inference::InferError;
use crate::repository::LookupError;

fn lookup_status(error: LookupError) -> Status {
    let message = error.to_string();
    match error {
        LookupError::UnknownModel(_) | LookupError::UnknownVersion { .. } => {
            Status::not_found(message)
        }
        LookupError::BadVersion(_) => Status::invalid_argument(message),
        LookupError::Unavailable { .. } | LookupError::VersionUnavailable { .. } => {
            Status::unavailable(message)
        }
    }
}

/// No room in the memory budget for the request's message, now or at all.
pub(super) fn body_memory_status(error: BodyMemoryError) -> Status {
    Status::resource_exhausted(error.to_string())
}

pub(super) fn control_status(error: ControlError) -> Status {
    let message = error.to_string();
    match error {
        ControlError::Unauthorized => Status::unauthenticated(message),
        ControlError::Disabled(_) => Status::failed_precondition(message),
        ControlError::BadName(_) | ControlError::LoadFailed { .. } => {
            Status::invalid_argument(message)
        }
        ControlError::UnknownModel(_) => Status::not_found(message),
        ControlError::Repository(_) => Status::internal(message),
    }
}

pub(super) fn infer_status(error: InferError) -> Status {
    let message = error.to_string();
    match error {
        InferError::Lookup(lookup) => lookup_status(lookup),
        InferError::Protocol(_) | InferError::Input(_) | InferError::NoImagePipeline(_) => {
            Status::invalid_argument(message)
        }
        InferError::Image(VisionError::Config(_) | VisionError::Outputs(_)) => {
            Status::internal(message)
        }
        InferError::Image(_) => Status::invalid_argument(message),
        InferError::Backend(_) | InferError::Internal(_) => Status::internal(message),
        InferError::ShuttingDown => Status::unavailable(message),
        InferError::Overloaded { .. } => Status::resource_exhausted(message),
        InferError::DeadlineExceeded => Status::deadline_exceeded(message),
    }
}
