//! Images as model inputs, for every path that carries them: an encoded photo decoded and
//! preprocessed into the tensor its model's `[preprocess]` declares (the camera endpoint, and
//! BYTES image inputs of V2 requests), and the model's outputs read back as classes or boxes
//! (`[postprocess]`) with the time each stage took.

use std::time::{Duration, Instant};

use outpost_core::{InferRequest, InferResponse, NamedTensor, ServedBy, TensorData};
use outpost_vision::geometry::Geometry;
use outpost_vision::preprocess::stack;
use outpost_vision::{Answer, ImageLimits, Overrides};
use serde::Serialize;

use crate::error::EngineError;
use crate::repository::ServedModel;

/// The camera endpoint's answer.
#[derive(Debug, Serialize)]
pub struct ImageAnswer {
    /// The model that answered.
    pub model_name: String,
    /// Its version.
    pub model_version: String,
    /// The frame as received.
    pub image: ImageFacts,
    /// Classes or boxes.
    #[serde(flatten)]
    pub answer: Answer,
    /// Where the time went.
    pub timing_us: ImageStageTimes,
    /// Who answered: the local model or its upstream (`local`, `upstream`).
    pub served_by: ServedBy,
}

/// The frame as received and how it was decoded.
#[derive(Debug, Serialize)]
pub struct ImageFacts {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// 1 for a full decode; 2, 4 or 8 when the JPEG was decoded at that reduction.
    pub decode_reduction: u32,
}

/// Microseconds per stage.
#[derive(Debug, Serialize)]
pub struct ImageStageTimes {
    /// Decoding the image.
    pub decode: u64,
    /// Resizing and packing it into the input tensor.
    pub preprocess: u64,
    /// Running the model.
    pub inference: u64,
    /// Reading the outputs as classes or boxes.
    pub postprocess: u64,
}

fn micros(d: Duration) -> u64 {
    d.as_micros().try_into().unwrap_or(u64::MAX)
}

/// What an image request carries from its decoding to its answer.
pub(crate) struct ImageContext {
    model: std::sync::Arc<ServedModel>,
    geometry: Geometry,
    facts: ImageFacts,
    decode_time: Duration,
    preprocess_time: Duration,
    overrides: Overrides,
}

/// Decodes and preprocesses one encoded image into a request for `model`'s image input, asking
/// for the outputs its `[postprocess]` reads. Call from an inference thread.
pub(crate) fn image_request(
    model: std::sync::Arc<ServedModel>,
    image: &[u8],
    limits: ImageLimits,
    overrides: Overrides,
) -> Result<(InferRequest, ImageContext), EngineError> {
    let pipeline = model
        .image
        .as_ref()
        .filter(|p| p.has_postprocess())
        .ok_or_else(|| EngineError::NoImagePipeline(model.name.clone()))?;
    let prepared = pipeline.prepare(image, limits, overrides.full_decode)?;
    let request = InferRequest {
        id: None,
        inputs: vec![prepared.input],
        outputs: pipeline.output_names(),
    };
    let context = ImageContext {
        geometry: prepared.geometry,
        facts: ImageFacts {
            width: prepared.original_width,
            height: prepared.original_height,
            decode_reduction: prepared.reduction,
        },
        decode_time: prepared.decode_time,
        preprocess_time: prepared.preprocess_time,
        overrides,
        model,
    };
    Ok((request, context))
}

/// Reads the model's outputs for an image request as classes or boxes in the original image's
/// coordinates. `inference` is how long the model ran. Call from an inference thread.
pub(crate) fn image_answer(
    response: InferResponse,
    context: ImageContext,
    inference: Duration,
) -> Result<ImageAnswer, EngineError> {
    let started = Instant::now();
    let pipeline = context
        .model
        .image
        .as_ref()
        .ok_or_else(|| EngineError::NoImagePipeline(context.model.name.clone()))?;
    let answer = pipeline.interpret(&response.outputs, &context.geometry, &context.overrides)?;
    Ok(ImageAnswer {
        model_name: response.model_name,
        model_version: response.model_version,
        served_by: response.served_by,
        image: context.facts,
        answer,
        timing_us: ImageStageTimes {
            decode: micros(context.decode_time),
            preprocess: micros(context.preprocess_time),
            inference: micros(inference),
            postprocess: micros(started.elapsed()),
        },
    })
}

/// Hands the inputs of a request that has run back to the image pipeline when they are its
/// input (made by it, or the same tensor sent ready-made): their buffers serve this thread's next
/// image instead of being freed and mapped again. Call from the inference thread that ran it.
pub(crate) fn recycle_image_inputs(model: &ServedModel, inputs: Vec<NamedTensor>) {
    let Some(pipeline) = &model.image else {
        return;
    };
    for input in inputs {
        if input.name == pipeline.input_name() {
            outpost_vision::recycle_input(input);
        }
    }
}

/// Replaces an image input sent as BYTES (one encoded image per element) with the tensor the
/// model's `[preprocess]` makes from it. Inputs of other types pass through unchanged.
pub(crate) fn expand_image_inputs(
    model: &ServedModel,
    request: &mut InferRequest,
    limits: ImageLimits,
) -> Result<(), EngineError> {
    let Some(pipeline) = &model.image else {
        return Ok(());
    };
    for input in &mut request.inputs {
        if input.name != pipeline.input_name() {
            continue;
        }
        let TensorData::Bytes(images) = input.tensor.data() else {
            continue;
        };
        let tensors = images
            .iter()
            .map(|bytes| {
                pipeline
                    .prepare(bytes, limits, false)
                    .map(|p| p.input.tensor)
            })
            .collect::<Result<Vec<_>, _>>()?;
        input.tensor = stack(tensors)?;
    }
    Ok(())
}
