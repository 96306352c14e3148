//! One model's image pipeline, built once when the model loads: decode → preprocess → (the
//! model runs elsewhere) → classes or boxes.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_core::{ModelSignature, NamedTensor, PostprocessConfig, PreprocessConfig, TensorData};
use serde::Serialize;

use crate::classify::{ClassScore, Classifier};
use crate::decode::{decode, DecodeScale, ImageLimits};
use crate::detect::{Detection, DetectionOverrides, Detector};
use crate::error::VisionError;
use crate::geometry::Geometry;
use crate::labels::LabelMap;
use crate::preprocess::Preprocessor;
use crate::scratch;

/// Per-request changes to the model's configured postprocessing and decoding.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Overrides {
    /// Instead of the configured `top_k`.
    pub top_k: Option<usize>,
    /// Instead of the configured score threshold.
    pub score_threshold: Option<f32>,
    /// Instead of the configured overlap threshold.
    pub iou_threshold: Option<f32>,
    /// Instead of the configured most detections.
    pub max_detections: Option<usize>,
    /// Decode JPEGs at full size even when a reduced decode would do.
    pub full_decode: bool,
}

/// A frame ready for the model.
#[derive(Debug)]
pub struct PreparedImage {
    /// The model's input tensor.
    pub input: NamedTensor,
    /// How input pixels map back to the frame.
    pub geometry: Geometry,
    /// The frame's width.
    pub original_width: u32,
    /// The frame's height.
    pub original_height: u32,
    /// 1 for a full decode, else the DCT-domain reduction used.
    pub reduction: u32,
    /// Time decoding took.
    pub decode_time: Duration,
    /// Time resizing and packing took.
    pub preprocess_time: Duration,
}

/// Hands back an input tensor that [`ImagePipeline::prepare`] made, once the model has run: its
/// buffer is kept for this thread's next image (within a bound; see `scratch.rs`).
pub fn recycle_input(input: NamedTensor) {
    match input.tensor.into_data() {
        TensorData::Fp32(values) => scratch::recycle(values),
        TensorData::Uint8(values) => scratch::recycle(values),
        TensorData::Int8(values) => scratch::recycle(values),
        _ => {}
    }
}

/// The postprocessed answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// The best classes, best first.
    Classifications(Vec<ClassScore>),
    /// The boxes found, best first.
    Detections(Vec<Detection>),
}

#[derive(Debug, Clone)]
enum Postprocessor {
    Classify(Classifier),
    Detect(Detector),
}

/// A model's declared image processing, checked against the model.
#[derive(Debug, Clone)]
pub struct ImagePipeline {
    pre: Preprocessor,
    post: Option<Postprocessor>,
}

impl ImagePipeline {
    /// Checks the configuration against the model's signature; loads anchors from `model_dir`.
    pub fn new(
        pre: &PreprocessConfig,
        post: Option<&PostprocessConfig>,
        signature: &ModelSignature,
        labels: Option<Arc<Vec<String>>>,
        model_dir: &Path,
    ) -> Result<ImagePipeline, VisionError> {
        let pre = Preprocessor::new(pre, signature)?;
        let post = match post {
            None => None,
            Some(PostprocessConfig::Classification(c)) => Some(Postprocessor::Classify(
                Classifier::new(c, signature, LabelMap::new(labels, c.label_offset))?,
            )),
            Some(PostprocessConfig::Detection(d)) => Some(Postprocessor::Detect(Detector::new(
                d,
                signature,
                LabelMap::new(labels, d.label_offset),
                model_dir,
            )?)),
        };
        Ok(ImagePipeline { pre, post })
    }

    /// The model input the image feeds.
    pub fn input_name(&self) -> &str {
        self.pre.input_name()
    }

    /// Whether the model declares postprocessing (needed by the camera endpoint).
    pub fn has_postprocess(&self) -> bool {
        self.post.is_some()
    }

    /// What the camera endpoint answers for this model: `classification` or `detection`;
    /// `None` without postprocessing (the endpoint then refuses images).
    pub fn answer_kind(&self) -> Option<&'static str> {
        match &self.post {
            None => None,
            Some(Postprocessor::Classify(_)) => Some("classification"),
            Some(Postprocessor::Detect(_)) => Some("detection"),
        }
    }

    /// The outputs postprocessing reads (all of them when there is none).
    pub fn output_names(&self) -> Option<Vec<String>> {
        match &self.post {
            None => None,
            Some(Postprocessor::Classify(c)) => Some(vec![c.output_name().to_string()]),
            Some(Postprocessor::Detect(d)) => Some(d.output_names()),
        }
    }

    /// Decodes `bytes` and makes the model's input from it.
    pub fn prepare(
        &self,
        bytes: &[u8],
        limits: ImageLimits,
        full_decode: bool,
    ) -> Result<PreparedImage, VisionError> {
        let started = Instant::now();
        let (width, height) = self.pre.input_size();
        let scale = if full_decode {
            DecodeScale::Full
        } else {
            DecodeScale::AtLeast { width, height }
        };
        let decoded = decode(bytes, limits, scale)?;
        let decode_time = started.elapsed();
        let started = Instant::now();
        let original = (decoded.original_width, decoded.original_height);
        let prepared = self.pre.run(&decoded.image, original);
        scratch::recycle(decoded.image.pixels);
        let (input, geometry) = prepared?;
        Ok(PreparedImage {
            input,
            geometry,
            original_width: original.0,
            original_height: original.1,
            reduction: decoded.reduction,
            decode_time,
            preprocess_time: started.elapsed(),
        })
    }

    /// Reads the model's outputs as classes or boxes.
    pub fn interpret(
        &self,
        outputs: &[NamedTensor],
        geometry: &Geometry,
        overrides: &Overrides,
    ) -> Result<Answer, VisionError> {
        match &self.post {
            None => Err(VisionError::Config(
                "the model declares no [postprocess]".into(),
            )),
            Some(Postprocessor::Classify(c)) => Ok(Answer::Classifications(c.run(
                outputs,
                overrides.top_k,
                overrides.score_threshold,
            )?)),
            Some(Postprocessor::Detect(d)) => Ok(Answer::Detections(d.run(
                outputs,
                self.pre.input_size(),
                geometry,
                DetectionOverrides {
                    score_threshold: overrides.score_threshold,
                    iou_threshold: overrides.iou_threshold,
                    max_detections: overrides.max_detections,
                },
            )?)),
        }
    }
}
