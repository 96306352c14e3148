//! The camera endpoint's request: one encoded photo in, classes or boxes out, through the same
//! path as every other request ([`InferenceService::infer`]: admission, batching, execution,
//! statistics and metrics), with the image decoded and preprocessed as the request's decoding
//! and the model's outputs read as its encoding ([`crate::images`]).

use std::time::Instant;

use outpost_vision::Overrides;

use crate::error::EngineError;
use crate::images::{image_answer, image_request, ImageAnswer};
use crate::inference::{Admitted, InferenceService};
use crate::request_metrics::Route;

/// Answers one encoded image with the admitted model's pipeline. `arrived` is when the request
/// came in; `route` names the front end.
pub async fn answer_image(
    service: &InferenceService,
    admitted: Admitted,
    arrived: Instant,
    route: Route,
    image: bytes::Bytes,
    overrides: Overrides,
) -> Result<ImageAnswer, EngineError> {
    let limits = service.image_limits();
    let model = admitted.model().clone();
    let decode = move || image_request(model, &image, limits, overrides);
    service
        .infer(admitted, arrived, route, decode, image_answer)
        .await?
}
