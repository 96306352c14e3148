//! Image pre- and postprocessing a model declares in `model.toml` (`[preprocess]` and
//! `[postprocess]`): how an encoded photo becomes the model's input tensor, and how the model's
//! outputs become labels or boxes. Only the schema and its checks live here; the work is done by
//! the `outpost-vision` crate.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How the decoded frame is fitted to the model's input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// The whole frame, scaled to the input size without keeping its aspect ratio.
    #[default]
    Stretch,
    /// The whole frame, scaled to fit inside the input with its aspect ratio kept, centred and
    /// padded with `letterbox_fill`.
    Letterbox,
    /// The largest centred region with the input's aspect ratio, scaled to the input size.
    #[serde(alias = "center_crop")]
    CentreCrop,
}

/// Channel order the model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorOrder {
    /// Red, green, blue.
    #[default]
    Rgb,
    /// Blue, green, red (OpenCV-trained models).
    Bgr,
}

/// Memory layout of the image tensor (a leading batch dimension of 1 is added when the model's
/// input has rank 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelLayout {
    /// Channels first: [C, H, W].
    #[default]
    Nchw,
    /// Channels last: [H, W, C].
    Nhwc,
}

/// Element type of the image tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelType {
    /// 32-bit floats.
    #[default]
    F32,
    /// Unsigned bytes.
    U8,
    /// Signed bytes.
    I8,
}

/// `[preprocess]`: each element is `(pixel * scale - mean[c]) / std[c]` for pixel values 0..255,
/// rounded and clamped for integer types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreprocessConfig {
    /// The model input the image feeds; the model's only input when left out.
    pub input: Option<String>,
    /// Width of the model's input in pixels.
    pub width: u32,
    /// Height of the model's input in pixels.
    pub height: u32,
    /// How the frame is fitted to that size.
    #[serde(default)]
    pub resize: ResizeMode,
    /// Channel order.
    #[serde(default)]
    pub color_order: ColorOrder,
    /// Channels first or last.
    #[serde(default)]
    pub layout: PixelLayout,
    /// Element type.
    #[serde(default)]
    pub dtype: PixelType,
    /// Multiplies each pixel value (0..255) first.
    #[serde(default = "one")]
    pub scale: f32,
    /// Subtracted per channel, after the scale.
    #[serde(default)]
    pub mean: [f32; 3],
    /// Divides per channel, last.
    #[serde(default = "ones")]
    pub std: [f32; 3],
    /// Grey level of the letterbox padding.
    #[serde(default = "default_fill")]
    pub letterbox_fill: u8,
}

fn one() -> f32 {
    1.0
}

fn ones() -> [f32; 3] {
    [1.0; 3]
}

fn default_fill() -> u8 {
    114
}

/// `[postprocess]`: what the outputs mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PostprocessConfig {
    /// Class scores: the best classes with their labels.
    Classification(ClassificationConfig),
    /// Boxes: detections with classes and scores.
    Detection(DetectionConfig),
}

/// Affine dequantization of an integer output: `value = (q - zero_point) * scale`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dequantize {
    /// The quantization scale.
    pub scale: f32,
    /// The quantized value of zero.
    #[serde(default)]
    pub zero_point: i32,
}

/// Class scores in, the best classes out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassificationConfig {
    /// The scores output; the model's only output when left out.
    pub output: Option<String>,
    /// Apply a softmax (for models that output logits).
    #[serde(default)]
    pub softmax: bool,
    /// Dequantize integer scores first.
    pub dequantize: Option<Dequantize>,
    /// Classes to answer, best first.
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Classes scoring below are left out.
    #[serde(default)]
    pub score_threshold: f32,
    /// Label index of class index 0 (the labels file's line number minus one).
    #[serde(default)]
    pub label_offset: i64,
}

fn default_top_k() -> usize {
    5
}

/// Boxes and scores in, detections in the original image's pixels out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionConfig {
    /// How the raw outputs become boxes.
    pub decoder: DetectionDecoder,
    /// Boxes scoring below are dropped before suppression.
    #[serde(default = "default_score_threshold")]
    pub score_threshold: f32,
    /// Boxes overlapping a better one by more (intersection over union) are suppressed.
    #[serde(default = "default_iou_threshold")]
    pub iou_threshold: f32,
    /// Whether suppression crosses classes.
    #[serde(default)]
    pub nms: NmsMode,
    /// Detections to answer at most, best first.
    #[serde(default = "default_max_detections")]
    pub max_detections: usize,
    /// Score columns that are not classes (a background column), never reported.
    #[serde(default)]
    pub ignore_classes: Vec<usize>,
    /// Label index of class index 0 (the labels file's line number minus one).
    #[serde(default)]
    pub label_offset: i64,
}

fn default_score_threshold() -> f32 {
    0.5
}

fn default_iou_threshold() -> f32 {
    0.5
}

fn default_max_detections() -> usize {
    100
}

/// Whether overlapping boxes of different classes suppress each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NmsMode {
    /// Only boxes of the same class suppress each other.
    #[default]
    PerClass,
    /// Any overlapping boxes suppress each other.
    ClassAgnostic,
}

/// How a detector's raw outputs become boxes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DetectionDecoder {
    /// Already-decoded corner boxes `[1, N, 4]` (x1, y1, x2, y2) and class scores `[1, N, C]`,
    /// as UltraFace gives them.
    Boxes {
        /// The boxes output.
        boxes_output: String,
        /// The scores output.
        scores_output: String,
        /// Coordinates are fractions of the model input (else input pixels).
        #[serde(default = "yes")]
        normalized: bool,
    },
    /// SSD box encodings `[1, N, 4]` (ty, tx, th, tw) against anchors (ycenter, xcenter, h, w),
    /// and class scores `[1, N, C]`.
    Ssd {
        /// The box encodings output.
        box_output: String,
        /// The class scores output.
        score_output: String,
        /// `.npy` file of float32 anchors `[N, 4]`, relative to the model directory.
        anchors: PathBuf,
        /// Divisors of ty, tx, th, tw.
        #[serde(default = "ssd_scales")]
        scales: [f32; 4],
        /// What makes the scores probabilities.
        #[serde(default)]
        score_activation: ScoreActivation,
    },
    /// YOLO heads: v5 `[1, N, 5 + C]` (cx, cy, w, h, objectness, classes) or v8 `[1, 4 + C, N]`
    /// (cx, cy, w, h, classes), coordinates in input pixels.
    Yolo {
        /// The head's output.
        output: String,
        /// Its layout.
        version: YoloVersion,
    },
}

fn yes() -> bool {
    true
}

fn ssd_scales() -> [f32; 4] {
    [10.0, 10.0, 5.0, 5.0]
}

/// What turns a raw score into a probability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreActivation {
    /// The scores are probabilities already.
    #[default]
    None,
    /// A logistic function per score.
    Sigmoid,
}

/// YOLO output layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum YoloVersion {
    /// YOLOv5: `[1, N, 5 + C]` with objectness.
    V5,
    /// YOLOv8: `[1, 4 + C, N]`, no objectness.
    V8,
}

impl PreprocessConfig {
    /// Problems with the values themselves (not with how they fit the model).
    pub fn problems(&self) -> Option<String> {
        if self.width == 0 || self.height == 0 || self.width > 8192 || self.height > 8192 {
            return Some(format!(
                "preprocess size {}x{} must be 1..8192 on each side",
                self.width, self.height
            ));
        }
        if self.std.iter().any(|s| *s == 0.0 || !s.is_finite())
            || !self.scale.is_finite()
            || self.mean.iter().any(|m| !m.is_finite())
        {
            return Some("preprocess scale, mean and std must be finite and std non-zero".into());
        }
        None
    }
}

impl PostprocessConfig {
    /// Problems with the values themselves (not with how they fit the model).
    pub fn problems(&self) -> Option<String> {
        match self {
            PostprocessConfig::Classification(c) => c.problems(),
            PostprocessConfig::Detection(d) => d.problems(),
        }
    }

    /// The files it names (the detector's anchors), relative to the model directory.
    pub fn files(&self) -> Vec<&std::path::Path> {
        match self {
            PostprocessConfig::Detection(DetectionConfig {
                decoder: DetectionDecoder::Ssd { anchors, .. },
                ..
            }) => vec![anchors.as_path()],
            _ => Vec::new(),
        }
    }
}

impl ClassificationConfig {
    fn problems(&self) -> Option<String> {
        if self.top_k == 0 {
            return Some("postprocess top_k must be at least 1".into());
        }
        if !self.score_threshold.is_finite() {
            return Some("postprocess score_threshold must be a finite number".into());
        }
        self.dequantize.as_ref().and_then(Dequantize::problems)
    }
}

impl Dequantize {
    fn problems(&self) -> Option<String> {
        (!(self.scale.is_finite() && self.scale > 0.0)).then(|| {
            format!(
                "postprocess dequantize scale must be a positive finite number (got {})",
                self.scale
            )
        })
    }
}

impl DetectionConfig {
    fn problems(&self) -> Option<String> {
        if !(0.0..=1.0).contains(&self.iou_threshold) {
            return Some("postprocess iou_threshold must be within 0..1".into());
        }
        if !self.score_threshold.is_finite() {
            return Some("postprocess score_threshold must be a finite number".into());
        }
        if self.max_detections == 0 {
            return Some("postprocess max_detections must be at least 1".into());
        }
        match &self.decoder {
            DetectionDecoder::Ssd { scales, .. }
                if scales.iter().any(|s| !s.is_finite() || *s == 0.0) =>
            {
                Some("postprocess decoder scales must be finite and non-zero".into())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detection_config_reads_from_toml() {
        let text = r#"
            kind = "detection"
            score_threshold = 0.3
            nms = "class_agnostic"
            ignore_classes = [0]
            label_offset = -1
            [decoder]
            type = "ssd"
            box_output = "raw_outputs/box_encodings"
            score_output = "raw_outputs/class_predictions"
            anchors = "anchors.npy"
            score_activation = "sigmoid"
        "#;
        let config: PostprocessConfig = toml::from_str(text).unwrap();
        let PostprocessConfig::Detection(d) = config else {
            panic!("not detection")
        };
        assert_eq!(d.nms, NmsMode::ClassAgnostic);
        assert_eq!(d.max_detections, 100);
        assert!(matches!(
            d.decoder,
            DetectionDecoder::Ssd { scales, score_activation: ScoreActivation::Sigmoid, .. } if scales == [10.0, 10.0, 5.0, 5.0]
        ));
    }

    #[test]
    fn bad_values_are_reported() {
        let pre: PreprocessConfig =
            toml::from_str("width = 0\nheight = 224\nstd = [1.0, 0.0, 1.0]").unwrap();
        assert!(pre.problems().is_some());
        let post: PostprocessConfig =
            toml::from_str("kind = \"classification\"\ntop_k = 0").unwrap();
        assert!(post.problems().is_some());
        assert!(
            toml::from_str::<PreprocessConfig>("width = 1\nheight = 1\nresize = \"squash\"")
                .is_err()
        );
    }
}
