//! Turning each detector family's raw outputs into scored corner boxes in model-input pixels:
//! already-decoded boxes (UltraFace), SSD box encodings against anchors, and YOLO v5/v8 heads.

use std::borrow::Cow;

use outpost_core::image_config::ScoreActivation;
use outpost_core::NamedTensor;

use super::Candidate;
use crate::error::VisionError;
use crate::values::output_f32;

/// What every decoder needs besides its outputs.
pub(super) struct DecodeContext<'a> {
    pub input_width: f32,
    pub input_height: f32,
    pub score_threshold: f32,
    pub ignore_classes: &'a [usize],
}

impl DecodeContext<'_> {
    fn push_scores(
        &self,
        out: &mut Vec<Candidate>,
        corners: [f32; 4],
        scores: impl Iterator<Item = f32>,
    ) {
        for (class, score) in scores.enumerate() {
            if score >= self.score_threshold && !self.ignore_classes.contains(&class) {
                out.push(Candidate {
                    class,
                    score,
                    corners,
                });
            }
        }
    }
}

/// Rows of `width` values of the output `name`, checking it has `[1, rows, width]` layout.
fn rows<'a>(
    outputs: &'a [NamedTensor],
    name: &str,
    width: Option<usize>,
) -> Result<(Cow<'a, [f32]>, usize, usize), VisionError> {
    let (values, shape) = output_f32(outputs, name)?;
    let (n, w) = match shape {
        [1, n, w] | [n, w] => (*n, *w),
        other => {
            return Err(VisionError::Outputs(format!(
                "output '{name}' has shape {other:?}, expected [1, N, K]"
            )))
        }
    };
    if width.is_some_and(|want| want != w) {
        return Err(VisionError::Outputs(format!(
            "output '{name}' has rows of {w}, expected {}",
            width.unwrap_or(0)
        )));
    }
    Ok((values, n, w))
}

/// Boxes `[1, N, 4]` (x1, y1, x2, y2) and scores `[1, N, C]`.
pub(super) fn decoded_boxes(
    outputs: &[NamedTensor],
    boxes_output: &str,
    scores_output: &str,
    normalized: bool,
    cx: &DecodeContext<'_>,
) -> Result<Vec<Candidate>, VisionError> {
    let (boxes, n, _) = rows(outputs, boxes_output, Some(4))?;
    let (scores, n_scores, classes) = rows(outputs, scores_output, None)?;
    if n != n_scores {
        return Err(VisionError::Outputs(format!(
            "{n} boxes but {n_scores} score rows"
        )));
    }
    let (sx, sy) = if normalized {
        (cx.input_width, cx.input_height)
    } else {
        (1.0, 1.0)
    };
    let mut out = Vec::new();
    for i in 0..n {
        let b = &boxes[i * 4..i * 4 + 4];
        let corners = [b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy];
        cx.push_scores(
            &mut out,
            corners,
            scores[i * classes..(i + 1) * classes].iter().copied(),
        );
    }
    Ok(out)
}

/// SSD anchors as (ycenter, xcenter, height, width), fractions of the input.
#[derive(Debug, Clone)]
pub struct Anchors(pub Vec<[f32; 4]>);

/// SSD encodings `[1, N, 4]` (ty, tx, th, tw) decoded against `anchors`, scores `[1, N, C]`.
pub(super) fn ssd(
    outputs: &[NamedTensor],
    box_output: &str,
    score_output: &str,
    anchors: &Anchors,
    scales: [f32; 4],
    activation: ScoreActivation,
    cx: &DecodeContext<'_>,
) -> Result<Vec<Candidate>, VisionError> {
    let (encodings, n, _) = rows(outputs, box_output, Some(4))?;
    let (scores, n_scores, classes) = rows(outputs, score_output, None)?;
    if n != anchors.0.len() || n_scores != n {
        return Err(VisionError::Outputs(format!(
            "{n} box encodings, {n_scores} score rows and {} anchors",
            anchors.0.len()
        )));
    }
    let mut out = Vec::new();
    for (i, [ya, xa, ha, wa]) in anchors.0.iter().copied().enumerate() {
        let row = &scores[i * classes..(i + 1) * classes];
        let activate = |s: f32| match activation {
            ScoreActivation::None => s,
            ScoreActivation::Sigmoid => 1.0 / (1.0 + (-s).exp()),
        };
        // Skip the many anchors with nothing above the threshold. The activation is monotonic,
        // so the best raw score tells without activating every one.
        let best = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if activate(best) < cx.score_threshold {
            continue;
        }
        let e = &encodings[i * 4..i * 4 + 4];
        let yc = e[0] / scales[0] * ha + ya;
        let xc = e[1] / scales[1] * wa + xa;
        let h = (e[2] / scales[2]).exp() * ha;
        let w = (e[3] / scales[3]).exp() * wa;
        let corners = [
            (xc - w / 2.0) * cx.input_width,
            (yc - h / 2.0) * cx.input_height,
            (xc + w / 2.0) * cx.input_width,
            (yc + h / 2.0) * cx.input_height,
        ];
        cx.push_scores(&mut out, corners, row.iter().map(|s| activate(*s)));
    }
    Ok(out)
}

/// YOLOv5 `[1, N, 5 + C]`: centre, size, objectness, class scores (score = objectness x class).
pub(super) fn yolo_v5(
    outputs: &[NamedTensor],
    output: &str,
    cx: &DecodeContext<'_>,
) -> Result<Vec<Candidate>, VisionError> {
    let (values, n, width) = rows(outputs, output, None)?;
    if width < 6 {
        return Err(VisionError::Outputs(format!(
            "YOLOv5 rows need 5 + classes values, got {width}"
        )));
    }
    let mut out = Vec::new();
    for i in 0..n {
        let r = &values[i * width..(i + 1) * width];
        let objectness = r[4];
        if objectness < cx.score_threshold {
            continue;
        }
        cx.push_scores(
            &mut out,
            centre_to_corners(r[0], r[1], r[2], r[3]),
            r[5..].iter().map(|c| c * objectness),
        );
    }
    Ok(out)
}

/// YOLOv8 `[1, 4 + C, N]`: one column per box, centre and size then class scores.
pub(super) fn yolo_v8(
    outputs: &[NamedTensor],
    output: &str,
    cx: &DecodeContext<'_>,
) -> Result<Vec<Candidate>, VisionError> {
    let (values, channels, n) = rows(outputs, output, None)?;
    if channels < 5 {
        return Err(VisionError::Outputs(format!(
            "YOLOv8 output needs 4 + classes channels, got {channels}"
        )));
    }
    let at = |channel: usize, i: usize| values[channel * n + i];
    let mut out = Vec::new();
    for i in 0..n {
        cx.push_scores(
            &mut out,
            centre_to_corners(at(0, i), at(1, i), at(2, i), at(3, i)),
            (4..channels).map(|c| at(c, i)),
        );
    }
    Ok(out)
}

fn centre_to_corners(x: f32, y: f32, w: f32, h: f32) -> [f32; 4] {
    [x - w / 2.0, y - h / 2.0, x + w / 2.0, y + h / 2.0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_core::{Tensor, TensorData};

    fn tensor(name: &str, shape: Vec<usize>, values: Vec<f32>) -> NamedTensor {
        NamedTensor::new(name, Tensor::new(shape, TensorData::Fp32(values)).unwrap())
    }

    fn context(threshold: f32) -> DecodeContext<'static> {
        DecodeContext {
            input_width: 100.0,
            input_height: 50.0,
            score_threshold: threshold,
            ignore_classes: &[0],
        }
    }

    #[test]
    fn ssd_encodings_decode_against_their_anchors() {
        // Zero encodings give the anchor itself.
        let outputs = vec![
            tensor("b", vec![1, 1, 4], vec![0.0; 4]),
            tensor("s", vec![1, 1, 2], vec![5.0, 2.0]),
        ];
        let anchors = Anchors(vec![[0.5, 0.5, 0.2, 0.4]]);
        let found = ssd(
            &outputs,
            "b",
            "s",
            &anchors,
            [10.0, 10.0, 5.0, 5.0],
            ScoreActivation::Sigmoid,
            &context(0.5),
        )
        .unwrap();
        assert_eq!(found.len(), 1, "the background column is ignored");
        assert_eq!(found[0].class, 1);
        assert!((found[0].score - 1.0 / (1.0 + (-2.0f32).exp())).abs() < 1e-6);
        for (got, want) in found[0].corners.iter().zip([30.0, 20.0, 70.0, 30.0]) {
            assert!((got - want).abs() < 1e-4, "{:?}", found[0].corners);
        }
    }

    #[test]
    fn yolo_layouts_agree() {
        // One box at centre (50, 25), size 20x10, class 1 at 0.9 (v5: objectness 1.0).
        let v5 = vec![tensor(
            "o",
            vec![1, 1, 7],
            vec![50.0, 25.0, 20.0, 10.0, 1.0, 0.1, 0.9],
        )];
        let v8 = vec![tensor(
            "o",
            vec![1, 6, 1],
            vec![50.0, 25.0, 20.0, 10.0, 0.1, 0.9],
        )];
        let a = yolo_v5(&v5, "o", &context(0.5)).unwrap();
        let b = yolo_v8(&v8, "o", &context(0.5)).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].corners, [40.0, 20.0, 60.0, 30.0]);
        assert_eq!((a[0].class, a[0].corners), (b[0].class, b[0].corners));
    }

    #[test]
    fn wrong_shapes_are_output_errors() {
        let outputs = vec![
            tensor("b", vec![1, 2, 3], vec![0.0; 6]),
            tensor("s", vec![1, 2, 2], vec![0.0; 4]),
        ];
        assert!(matches!(
            decoded_boxes(&outputs, "b", "s", true, &context(0.5)),
            Err(VisionError::Outputs(_))
        ));
        assert!(decoded_boxes(&outputs, "missing", "s", true, &context(0.5)).is_err());
    }
}
