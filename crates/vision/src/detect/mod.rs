//! Detection postprocessing: decode the model's outputs into scored boxes (per decoder family),
//! suppress overlaps, keep the best, and report them in original-frame pixels with labels.

mod decoders;
mod nms;

use std::path::Path;

use outpost_core::image_config::{DetectionConfig, DetectionDecoder, NmsMode};
use outpost_core::model_config::stays_inside_model_dir;
use outpost_core::{ModelSignature, NamedTensor};
use serde::Serialize;

pub use decoders::Anchors;
use decoders::DecodeContext;
pub use nms::iou;

use crate::error::VisionError;
use crate::geometry::{Geometry, PixelBox};
use crate::labels::LabelMap;

/// A scored box in model-input pixels, before suppression.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The class index.
    pub class: usize,
    /// The class's score.
    pub score: f32,
    /// x1, y1, x2, y2.
    pub corners: [f32; 4],
}

/// One detection in the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// The class index in the model's scores.
    pub class_index: usize,
    /// Its label, when the model has a labels file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Its score.
    pub score: f32,
    /// The box in the original frame's pixels.
    #[serde(rename = "box")]
    pub bounding_box: PixelBox,
}

/// Per-request changes to the configured thresholds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DetectionOverrides {
    /// Instead of the configured score threshold.
    pub score_threshold: Option<f32>,
    /// Instead of the configured overlap threshold.
    pub iou_threshold: Option<f32>,
    /// Instead of the configured most detections.
    pub max_detections: Option<usize>,
}

/// A model's detection postprocessing, checked against its outputs, with anchors loaded.
#[derive(Debug, Clone)]
pub struct Detector {
    config: DetectionConfig,
    anchors: Option<Anchors>,
    labels: LabelMap,
}

impl Detector {
    /// Checks that the outputs the decoder names exist and loads SSD anchors from `model_dir`.
    pub fn new(
        config: &DetectionConfig,
        signature: &ModelSignature,
        labels: LabelMap,
        model_dir: &Path,
    ) -> Result<Detector, VisionError> {
        for name in decoder_outputs(&config.decoder) {
            if signature.output(name).is_none() {
                return Err(VisionError::Config(format!(
                    "the model has no output '{name}'"
                )));
            }
        }
        let anchors = match &config.decoder {
            DetectionDecoder::Ssd { anchors, .. } => Some(load_anchors(model_dir, anchors)?),
            _ => None,
        };
        Ok(Detector {
            config: config.clone(),
            anchors,
            labels,
        })
    }

    /// The outputs the decoder reads.
    pub fn output_names(&self) -> Vec<String> {
        decoder_outputs(&self.config.decoder)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// Detections, best first, in original-frame pixels.
    pub fn run(
        &self,
        outputs: &[NamedTensor],
        input_size: (u32, u32),
        geometry: &Geometry,
        overrides: DetectionOverrides,
    ) -> Result<Vec<Detection>, VisionError> {
        let cx = DecodeContext {
            input_width: input_size.0 as f32,
            input_height: input_size.1 as f32,
            score_threshold: overrides
                .score_threshold
                .unwrap_or(self.config.score_threshold),
            ignore_classes: &self.config.ignore_classes,
        };
        let candidates = match &self.config.decoder {
            DetectionDecoder::Boxes {
                boxes_output,
                scores_output,
                normalized,
            } => decoders::decoded_boxes(outputs, boxes_output, scores_output, *normalized, &cx)?,
            DetectionDecoder::Ssd {
                box_output,
                score_output,
                scales,
                score_activation,
                ..
            } => {
                let anchors = self
                    .anchors
                    .as_ref()
                    .ok_or_else(|| VisionError::Config("SSD anchors not loaded".into()))?;
                decoders::ssd(
                    outputs,
                    box_output,
                    score_output,
                    anchors,
                    *scales,
                    *score_activation,
                    &cx,
                )?
            }
            DetectionDecoder::Yolo { output, version } => match version {
                outpost_core::image_config::YoloVersion::V5 => {
                    decoders::yolo_v5(outputs, output, &cx)?
                }
                outpost_core::image_config::YoloVersion::V8 => {
                    decoders::yolo_v8(outputs, output, &cx)?
                }
            },
        };
        let kept = nms::suppress(
            candidates,
            overrides.iou_threshold.unwrap_or(self.config.iou_threshold),
            self.config.nms == NmsMode::ClassAgnostic,
            overrides
                .max_detections
                .unwrap_or(self.config.max_detections),
        );
        Ok(kept
            .into_iter()
            .map(|c| Detection {
                class_index: c.class,
                label: self.labels.get(c.class),
                score: c.score,
                bounding_box: geometry.to_original(
                    c.corners[0],
                    c.corners[1],
                    c.corners[2],
                    c.corners[3],
                ),
            })
            .collect())
    }
}

fn decoder_outputs(decoder: &DetectionDecoder) -> Vec<&str> {
    match decoder {
        DetectionDecoder::Boxes {
            boxes_output,
            scores_output,
            ..
        } => vec![boxes_output, scores_output],
        DetectionDecoder::Ssd {
            box_output,
            score_output,
            ..
        } => vec![box_output, score_output],
        DetectionDecoder::Yolo { output, .. } => vec![output],
    }
}

fn load_anchors(model_dir: &Path, file: &Path) -> Result<Anchors, VisionError> {
    if !stays_inside_model_dir(file) {
        return Err(VisionError::Config(format!(
            "anchors file '{}' must be a relative path inside the model directory",
            file.display()
        )));
    }
    let (shape, values) = crate::npy::read_f32(&model_dir.join(file))?;
    if shape.len() != 2 || shape[1] != 4 {
        return Err(VisionError::Config(format!(
            "anchors must have shape [N, 4], '{}' has {shape:?}",
            file.display()
        )));
    }
    Ok(Anchors(
        values
            .chunks_exact(4)
            .map(|a| [a[0], a[1], a[2], a[3]])
            .collect(),
    ))
}
