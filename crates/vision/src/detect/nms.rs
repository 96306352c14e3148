//! Greedy non-maximum suppression, per class or across classes.

use super::Candidate;

/// Intersection over union of two corner boxes.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Keeps the best-scoring boxes, dropping any that overlaps a kept one (of the same class
/// unless `class_agnostic`) by more than `iou_threshold`, up to `max` boxes.
pub(super) fn suppress(
    mut candidates: Vec<Candidate>,
    iou_threshold: f32,
    class_agnostic: bool,
    max: usize,
) -> Vec<Candidate> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Candidate> = Vec::new();
    for c in candidates {
        if kept.len() >= max {
            break;
        }
        let overlaps = kept.iter().any(|k| {
            (class_agnostic || k.class == c.class) && iou(&k.corners, &c.corners) > iou_threshold
        });
        if !overlaps {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(class: usize, score: f32, corners: [f32; 4]) -> Candidate {
        Candidate {
            class,
            score,
            corners,
        }
    }

    #[test]
    fn overlapping_boxes_of_a_class_collapse_to_the_best() {
        let boxes = vec![
            cand(1, 0.6, [0.0, 0.0, 10.0, 10.0]),
            cand(1, 0.9, [1.0, 1.0, 11.0, 11.0]),
            cand(2, 0.8, [1.0, 1.0, 11.0, 11.0]),
            cand(1, 0.7, [50.0, 50.0, 60.0, 60.0]),
        ];
        let per_class = suppress(boxes.clone(), 0.5, false, 10);
        let scores: Vec<f32> = per_class.iter().map(|c| c.score).collect();
        assert_eq!(scores, vec![0.9, 0.8, 0.7]);
        let agnostic = suppress(boxes.clone(), 0.5, true, 10);
        assert_eq!(agnostic.len(), 2);
        assert_eq!(suppress(boxes, 0.5, false, 1).len(), 1);
    }

    #[test]
    fn iou_of_disjoint_and_equal_boxes() {
        assert_eq!(iou(&[0.0, 0.0, 1.0, 1.0], &[2.0, 2.0, 3.0, 3.0]), 0.0);
        assert_eq!(iou(&[0.0, 0.0, 2.0, 2.0], &[0.0, 0.0, 2.0, 2.0]), 1.0);
    }
}
