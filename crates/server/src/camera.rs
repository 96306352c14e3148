//! The image request path, shared by every front end: decode and preprocess an encoded photo
//! as the model declares, run the model, and read its outputs as classes or boxes, timing each
//! stage, and record the request in the model's statistics and the metrics. Also turns encoded images sent as
//! BYTES inputs of a V2 infer request into the model's input tensor.

use std::time::{Duration, Instant};

use outpost_core::{InferRequest, TensorData};
use outpost_vision::preprocess::stack;
use outpost_vision::{Answer, ImageLimits, Overrides};
use serde::Serialize;

use crate::inference::{Admitted, InferError, InferenceService};
use crate::metrics::Route;
use crate::repository::ServedModel;
use crate::statistics::StageTimes;

/// The camera endpoint's answer.
#[derive(Debug, Serialize)]
pub struct ImageAnswer {
    pub model_name: String,
    pub model_version: String,
    pub image: ImageFacts,
    #[serde(flatten)]
    pub answer: Answer,
    pub timing_us: ImageStageTimes,
}

/// The frame as received and how it was decoded.
#[derive(Debug, Serialize)]
pub struct ImageFacts {
    pub width: u32,
    pub height: u32,
    /// 1 for a full decode; 2, 4 or 8 when the JPEG was decoded at that reduction.
    pub decode_reduction: u32,
}

/// Microseconds per stage.
#[derive(Debug, Serialize)]
pub struct ImageStageTimes {
    pub decode: u64,
    pub preprocess: u64,
    pub inference: u64,
    pub postprocess: u64,
}

fn micros(d: Duration) -> u64 {
    d.as_micros().try_into().unwrap_or(u64::MAX)
}

/// Answers one encoded image with the admitted model's pipeline on an executor thread, counting
/// it in the model's statistics and the metrics. `arrived` is when the request came in.
pub async fn answer_image(
    service: &InferenceService,
    admitted: Admitted,
    arrived: Instant,
    image: bytes::Bytes,
    overrides: Overrides,
) -> Result<ImageAnswer, InferError> {
    let limits = service.limits().images;
    let served = admitted.model().clone();
    let model = served.clone();
    let (ticket, deadline) = admitted.into_place();
    let ran = service
        .run_admitted(ticket, deadline, move || {
            let started = Instant::now();
            run_image_blocking(&model, &image, limits, &overrides).map(|a| (a, started))
        })
        .await;
    match ran {
        Ok((answer, started)) => {
            let t = &answer.timing_us;
            let us = Duration::from_micros;
            let stages = StageTimes {
                queue: started.saturating_duration_since(arrived),
                input: us(t.decode + t.preprocess),
                infer: us(t.inference),
                output: us(t.postprocess),
            };
            let total = arrived.elapsed();
            served.stats.record_success(total, stages, 1);
            service.metrics().record_success(
                &served.name,
                served.version,
                Route::HTTP_IMAGE,
                total,
                stages.queue,
            );
            service
                .metrics()
                .record_execution(&served.name, served.version, 1);
            Ok(answer)
        }
        Err(error) => {
            service.record_failure(&served, Route::HTTP_IMAGE, arrived, &error);
            Err(error)
        }
    }
}

/// Runs one encoded image through `model`'s pipeline. Call from an executor thread.
fn run_image_blocking(
    model: &ServedModel,
    image: &[u8],
    limits: ImageLimits,
    overrides: &Overrides,
) -> Result<ImageAnswer, InferError> {
    let pipeline = model
        .image
        .as_ref()
        .filter(|p| p.has_postprocess())
        .ok_or_else(|| InferError::NoImagePipeline(model.name.clone()))?;
    let prepared = pipeline.prepare(image, limits, overrides.full_decode)?;
    let outputs = pipeline.output_names().unwrap_or_default();
    let started = Instant::now();
    let results = model.model.infer(vec![prepared.input], &outputs)?;
    let inference = started.elapsed();
    let started = Instant::now();
    let answer = pipeline.interpret(&results, &prepared.geometry, overrides)?;
    Ok(ImageAnswer {
        model_name: model.name.clone(),
        model_version: model.version.to_string(),
        image: ImageFacts {
            width: prepared.original_width,
            height: prepared.original_height,
            decode_reduction: prepared.reduction,
        },
        answer,
        timing_us: ImageStageTimes {
            decode: micros(prepared.decode_time),
            preprocess: micros(prepared.preprocess_time),
            inference: micros(inference),
            postprocess: micros(started.elapsed()),
        },
    })
}

/// Replaces an image input sent as BYTES (one encoded image per element) with the tensor the
/// model's `[preprocess]` makes from it. Inputs of other types pass through unchanged.
pub fn expand_image_inputs(
    model: &ServedModel,
    request: &mut InferRequest,
    limits: ImageLimits,
) -> Result<(), InferError> {
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
