//! What a camera answer must hold for an image golden case to pass: a classifier's best class
//! (label or index, and score), or a detector's boxes (enough of each expected class above a
//! score, one of them overlapping a given box). Each check answers `None` when the answer
//! holds, else what is wrong, in words for the refusal's reason.

use outpost_bundle::{ExpectedBoxes, ImageExpectation};
use serde_json::Value;

/// Checks `answer` (the camera endpoint's JSON) against `expect`.
pub fn check_image_answer(answer: &Value, expect: &ImageExpectation) -> Option<String> {
    match expect {
        ImageExpectation::TopClass {
            label,
            index,
            min_score,
        } => check_top_class(answer, label.as_deref(), *index, *min_score),
        ImageExpectation::Detections(expected) => {
            let Some(found) = answer["detections"].as_array() else {
                return Some("the answer has no detections (is the model a detector?)".into());
            };
            expected.iter().find_map(|boxes| check_boxes(found, boxes))
        }
    }
}

/// Checks the best class of a classifier's answer.
fn check_top_class(
    answer: &Value,
    top_label: Option<&str>,
    top_index: Option<u64>,
    min_score: Option<f64>,
) -> Option<String> {
    let Some(best) = answer["classifications"].get(0) else {
        return Some("the answer has no classifications".to_string());
    };
    let label = best["label"].as_str().unwrap_or("");
    let index = best["index"].as_u64();
    let score = best["score"].as_f64().unwrap_or(0.0);
    if let Some(expected) = top_label {
        if label != expected {
            return Some(format!(
                "best class is '{label}' ({score:.3}), expected '{expected}'"
            ));
        }
    }
    if let Some(expected) = top_index {
        if index != Some(expected) {
            return Some(format!(
                "best class index is {index:?}, expected {expected}"
            ));
        }
    }
    if let Some(least) = min_score {
        if score < least {
            return Some(format!(
                "best class '{label}' scored {score:.3}, under {least}"
            ));
        }
    }
    None
}

/// A detection's box as `[x_min, y_min, x_max, y_max]`, when the answer has one.
fn box_of(detection: &Value) -> Option<[f64; 4]> {
    let b = &detection["box"];
    Some([
        b["x_min"].as_f64()?,
        b["y_min"].as_f64()?,
        b["x_max"].as_f64()?,
        b["y_max"].as_f64()?,
    ])
}

/// Intersection over union of two boxes.
fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let width = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let height = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let intersection = width * height;
    let area = |r: [f64; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - intersection;
    if union > 0.0 {
        intersection / union
    } else {
        0.0
    }
}

/// Checks one expectation against a detector's boxes.
fn check_boxes(found: &[Value], expected: &ExpectedBoxes) -> Option<String> {
    let is_class = |d: &Value| {
        expected
            .label
            .as_deref()
            .is_none_or(|label| d["label"].as_str() == Some(label))
            && expected
                .class_index
                .is_none_or(|index| d["class_index"].as_u64() == Some(index))
    };
    let class_name = match (&expected.label, expected.class_index) {
        (Some(label), _) => format!("'{label}'"),
        (None, Some(index)) => format!("class {index}"),
        (None, None) => "any class".to_string(),
    };
    let scores: Vec<f64> = found
        .iter()
        .filter(|d| is_class(d))
        .filter_map(|d| d["score"].as_f64())
        .collect();
    let counted: Vec<&Value> = found
        .iter()
        .filter(|d| is_class(d) && d["score"].as_f64().unwrap_or(0.0) >= expected.min_score)
        .collect();
    if (counted.len() as u64) < expected.at_least {
        let scores: Vec<String> = scores.iter().map(|s| format!("{s:.2}")).collect();
        return Some(format!(
            "expected at least {} {class_name} boxes scoring {} or more, found {} (that class's scores: [{}])",
            expected.at_least,
            expected.min_score,
            counted.len(),
            scores.join(", ")
        ));
    }
    let target = expected.overlaps?;
    let best = counted
        .iter()
        .filter_map(|d| box_of(d))
        .map(|b| iou(b, target))
        .fold(0.0, f64::max);
    (best < expected.min_iou).then(|| {
        format!(
            "no {class_name} box overlaps {target:?} by {} or more (intersection over union; the closest: {best:.2})",
            expected.min_iou
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dog(score: f64, b: [f64; 4]) -> Value {
        json!({"class_index": 17, "label": "dog", "score": score,
               "box": {"x_min": b[0], "y_min": b[1], "x_max": b[2], "y_max": b[3]}})
    }

    fn boxes(
        label: &str,
        at_least: u64,
        min_score: f64,
        overlaps: Option<[f64; 4]>,
    ) -> ExpectedBoxes {
        ExpectedBoxes {
            label: Some(label.into()),
            class_index: None,
            at_least,
            min_score,
            overlaps,
            min_iou: 0.5,
        }
    }

    #[test]
    fn top_class_checks() {
        let answer =
            json!({"classifications": [{"index": 286, "label": "Egyptian cat", "score": 0.6}]});
        let top = |label: Option<&str>, index, min_score| ImageExpectation::TopClass {
            label: label.map(Into::into),
            index,
            min_score,
        };
        assert_eq!(
            check_image_answer(&answer, &top(Some("Egyptian cat"), Some(286), Some(0.5))),
            None
        );
        assert!(check_image_answer(&answer, &top(Some("tabby"), None, None))
            .unwrap()
            .contains("expected 'tabby'"));
        assert!(check_image_answer(&answer, &top(None, Some(1), None)).is_some());
        assert!(check_image_answer(&answer, &top(None, None, Some(0.9))).is_some());
        assert!(check_image_answer(&json!({}), &top(Some("x"), None, None)).is_some());
    }

    #[test]
    fn boxes_are_counted_by_class_and_score_and_one_must_overlap_the_given_box() {
        let answer = json!({"detections": [
            dog(0.9, [10.0, 10.0, 110.0, 110.0]),
            dog(0.6, [200.0, 10.0, 300.0, 110.0]),
            {"class_index": 16, "label": "cat", "score": 0.3, "box": {"x_min": 0, "y_min": 0, "x_max": 5, "y_max": 5}},
        ]});
        let check = |expected: Vec<ExpectedBoxes>| {
            check_image_answer(&answer, &ImageExpectation::Detections(expected))
        };
        assert_eq!(check(vec![boxes("dog", 2, 0.5, None)]), None);
        assert_eq!(
            check(vec![boxes("dog", 1, 0.5, Some([15.0, 12.0, 112.0, 108.0]))]),
            None
        );
        let too_few = check(vec![boxes("dog", 2, 0.7, None)]).unwrap();
        assert!(
            too_few.contains("found 1") && too_few.contains("0.90, 0.60"),
            "{too_few}"
        );
        let absent = check(vec![boxes("person", 1, 0.0, None)]).unwrap();
        assert!(absent.contains("'person'"), "{absent}");
        // The low-scoring dog does not count for the overlap when min_score leaves it out.
        let far = check(vec![boxes(
            "dog",
            1,
            0.7,
            Some([200.0, 10.0, 300.0, 110.0]),
        )])
        .unwrap();
        assert!(far.contains("closest: 0.00"), "{far}");
        let by_index = ExpectedBoxes {
            label: None,
            class_index: Some(16),
            ..boxes("", 1, 0.0, None)
        };
        assert_eq!(check(vec![by_index]), None);
        // Every expectation must hold.
        assert!(check(vec![boxes("dog", 1, 0.0, None), boxes("cat", 2, 0.0, None)]).is_some());
        let classifier = json!({"classifications": []});
        assert!(check_image_answer(
            &classifier,
            &ImageExpectation::Detections(vec![boxes("dog", 1, 0.0, None)])
        )
        .unwrap()
        .contains("no detections"));
    }

    #[test]
    fn overlap_is_intersection_over_union() {
        assert!((iou([0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]) - 1.0).abs() < 1e-9);
        assert!((iou([0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]) - 50.0 / 150.0).abs() < 1e-9);
        assert_eq!(iou([0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0]), 0.0);
    }
}
