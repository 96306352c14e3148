//! The camera endpoint's request: one encoded photo in, classes or boxes out, through the same
//! path as every other request ([`InferenceService::infer`]: admission, batching, execution,
//! statistics and metrics), with the image decoded and preprocessed as the request's decoding
//! and the model's outputs read as its encoding ([`crate::images`]). A model with `forward` set
//! has its classes or boxes (and with `results_and_inputs` the photo) recorded in the outbox
//! before the answer goes out.

use std::time::Instant;

use outpost_vision::Overrides;

use outpost_core::ForwardMode;

use crate::error::EngineError;
use crate::forward;
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
    let mode = model.config.forward;
    let photo = (mode == ForwardMode::ResultsAndInputs).then(|| image.clone());
    let decode = move || image_request(model, &image, limits, overrides);
    let answer = service
        .infer(admitted, arrived, route, decode, image_answer)
        .await??;
    if let (Some(outbox), true) = (service.outbox(), mode != ForwardMode::None) {
        let at_ms = forward::now_ms();
        let record = forward::image_record(&answer, at_ms, photo.as_deref());
        outbox.append(record, at_ms).await;
    }
    Ok(answer)
}
