//! The camera endpoint's request: one encoded photo in, classes or boxes out, through the same
//! path as every other request ([`InferenceService::infer`]: admission, batching, execution,
//! statistics and metrics), with the image decoded and preprocessed as the request's decoding
//! and the model's outputs read as its encoding ([`crate::images`]). A model with `forward` set
//! has its classes or boxes (and with `results_and_inputs` the photo) recorded in the outbox
//! before the answer goes out.

use std::time::Instant;

use outpost_vision::Overrides;

use outpost_core::{CameraSends, ForwardMode, InferRequest, NamedTensor, Tensor, TensorData};

use crate::error::EngineError;
use crate::forward;
use crate::images::{image_answer, image_request, ImageAnswer};
use crate::inference::{Admitted, InferenceService};
use crate::repository::ServedModel;
use crate::request_metrics::Route;

/// The photo as a BYTES image input, for a model whose upstream is sent photos
/// (`camera_sends = "image"`).
fn photo_for_upstream(model: &ServedModel, image: &bytes::Bytes) -> Option<InferRequest> {
    let upstream = model.upstream.as_ref()?;
    let pipeline = model.image.as_ref()?;
    if upstream.config.camera_sends != CameraSends::Image {
        return None;
    }
    let photo = Tensor::new(vec![1], TensorData::Bytes(vec![image.to_vec()])).ok()?;
    Some(InferRequest {
        id: None,
        inputs: vec![NamedTensor::new(pipeline.input_name(), photo)],
        outputs: None,
    })
}

/// Answers one encoded image with the admitted model's pipeline. `arrived` is when the request
/// came in; `route` names the front end.
pub(crate) async fn answer_image(
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
    let upstream_form = photo_for_upstream(&model, &image);
    let decode = move || image_request(model, &image, limits, overrides);
    let answer = service
        .place(
            admitted,
            arrived,
            route,
            upstream_form,
            decode,
            image_answer,
        )
        .await??;
    if let (Some(outbox), true) = (service.outbox(), mode != ForwardMode::None) {
        let at_ms = forward::now_ms();
        let record = forward::image_record(&answer, at_ms, photo.as_deref());
        outbox.append(record, at_ms).await;
    }
    Ok(answer)
}
