//! Golden cases: what a device checks a new version against before it takes traffic. They live
//! in the bundle as `golden/cases.toml` plus the files it names (relative to `golden/`):
//!
//! ```toml
//! [[case]]
//! name = "cat photo"
//! image = "cat.jpg"            # sent to the camera endpoint
//! top_label = "tabby"          # the best class must be this label (or top_index = 282)
//! min_score = 0.3              # optional: and score at least this
//!
//! [[case]]
//! name = "dogs on the lawn"   # a detector's photo
//! image = "pets.jpg"
//! [[case.detect]]
//! label = "dog"                # or class_index = 18
//! at_least = 2                 # optional (1): boxes of this class
//! min_score = 0.5              # optional (0): that score at the least
//! overlaps = [10, 20, 300, 420] # optional: one of them overlaps this box (pixels)
//! min_iou = 0.5                # optional (0.5): by at least this intersection over union
//!
//! [[case]]
//! name = "reference tensor"
//! inputs = { input = "input_0.pb" }          # input name -> ONNX TensorProto file
//! outputs = { probabilities = "output_0.pb" } # output name -> expected TensorProto
//! tolerance = 0.02                            # largest absolute difference per element
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::BundleError;
use crate::manifest::{check_path, Manifest, Part};

/// The file inside `golden/` that lists the cases.
pub const CASES_FILE: &str = "cases.toml";

/// Largest `cases.toml` read.
pub const MAX_CASES_BYTES: u64 = 256 * 1024;

/// Every golden case of a bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenCases {
    /// The cases, in order.
    pub cases: Vec<GoldenCase>,
}

/// One case.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenCase {
    /// What the case is called in reports.
    pub name: String,
    /// What is sent and what must come back.
    pub check: GoldenCheck,
}

/// A case's request and expectation.
#[derive(Debug, Clone, PartialEq)]
pub enum GoldenCheck {
    /// An encoded image sent to the camera endpoint; what it answers is checked.
    Image {
        /// The image file.
        image: String,
        /// What the answer must hold.
        expect: ImageExpectation,
    },
    /// Tensors sent to the V2 infer endpoint; the outputs are compared element by element.
    Tensors {
        /// Input name to TensorProto file.
        inputs: BTreeMap<String, String>,
        /// Output name to the expected TensorProto file.
        outputs: BTreeMap<String, String>,
        /// Largest absolute difference allowed per element.
        tolerance: f64,
    },
}

/// What an image case's answer must hold.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageExpectation {
    /// A classifier's: its best class.
    TopClass {
        /// The label the best class must carry.
        label: Option<String>,
        /// The index the best class must have.
        index: Option<u64>,
        /// The least score the best class may have.
        min_score: Option<f64>,
    },
    /// A detector's: boxes of given classes, each expectation met.
    Detections(Vec<ExpectedBoxes>),
}

/// Boxes a detector's answer must hold: at least `at_least` of a class scoring `min_score` or
/// more, one of them overlapping a given box when `overlaps` is set.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedBoxes {
    /// The class's label.
    pub label: Option<String>,
    /// The class's index in the model's scores.
    pub class_index: Option<u64>,
    /// How many such boxes at the least (1 unless given).
    pub at_least: u64,
    /// The least score a box counts with (0: whatever the server answers).
    pub min_score: f64,
    /// A box (`[x_min, y_min, x_max, y_max]` in the image's pixels) one of them must overlap.
    pub overlaps: Option<[f64; 4]>,
    /// How much (intersection over union) it must overlap it (0.5 unless given).
    pub min_iou: f64,
}

/// `[[case.detect]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DetectEntry {
    label: Option<String>,
    class_index: Option<u64>,
    at_least: Option<u64>,
    min_score: Option<f64>,
    overlaps: Option<[f64; 4]>,
    min_iou: Option<f64>,
}

impl DetectEntry {
    fn check(self) -> Result<ExpectedBoxes, String> {
        if self.label.is_none() && self.class_index.is_none() {
            return Err("each [[case.detect]] gives label or class_index".into());
        }
        let at_least = self.at_least.unwrap_or(1);
        if at_least == 0 {
            return Err("at_least must be 1 or more".into());
        }
        let min_score = self.min_score.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&min_score) {
            return Err("min_score must be within 0..1".into());
        }
        let min_iou = self.min_iou.unwrap_or(0.5);
        if !(min_iou > 0.0 && min_iou <= 1.0) {
            return Err("min_iou must be above 0 and at most 1".into());
        }
        if self.min_iou.is_some() && self.overlaps.is_none() {
            return Err("min_iou needs overlaps".into());
        }
        if let Some([x_min, y_min, x_max, y_max]) = self.overlaps {
            let finite = [x_min, y_min, x_max, y_max].iter().all(|v| v.is_finite());
            if !finite || x_min >= x_max || y_min >= y_max {
                return Err(
                    "overlaps is [x_min, y_min, x_max, y_max], each min below its max".into(),
                );
            }
        }
        Ok(ExpectedBoxes {
            label: self.label,
            class_index: self.class_index,
            at_least,
            min_score,
            overlaps: self.overlaps,
            min_iou,
        })
    }
}

/// `cases.toml` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CasesFile {
    #[serde(rename = "case", default)]
    cases: Vec<CaseEntry>,
}

/// One `[[case]]` as written: the fields of either kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseEntry {
    name: String,
    image: Option<String>,
    top_label: Option<String>,
    top_index: Option<u64>,
    min_score: Option<f64>,
    detect: Option<Vec<DetectEntry>>,
    inputs: Option<BTreeMap<String, String>>,
    outputs: Option<BTreeMap<String, String>>,
    tolerance: Option<f64>,
}

impl CaseEntry {
    /// The case it describes, checked.
    fn into_case(self, exists: &dyn Fn(&str) -> bool) -> Result<GoldenCase, BundleError> {
        let name = self.name;
        let bad = |reason: String| BundleError::Golden(format!("case '{name}': {reason}"));
        let tensor_fields =
            self.inputs.is_some() || self.outputs.is_some() || self.tolerance.is_some();
        let check = match (self.image, tensor_fields) {
            (Some(_), true) => {
                return Err(bad("an image case or a tensor case, not both".into()));
            }
            (None, false) => return Err(bad("give image, or inputs and outputs".into())),
            (Some(image), false) => {
                let classifies = self.top_label.is_some()
                    || self.top_index.is_some()
                    || self.min_score.is_some();
                let expect = match (self.detect, classifies) {
                    (Some(_), true) => {
                        return Err(bad(
                            "top_label, top_index and min_score are for a classifier, [[case.detect]] for a detector: not both".into(),
                        ))
                    }
                    (Some(detect), false) => {
                        if detect.is_empty() {
                            return Err(bad("detect lists no boxes".into()));
                        }
                        let expected = detect
                            .into_iter()
                            .map(DetectEntry::check)
                            .collect::<Result<_, _>>()
                            .map_err(bad)?;
                        ImageExpectation::Detections(expected)
                    }
                    (None, _) => {
                        if self.top_label.is_none() && self.top_index.is_none() {
                            return Err(bad(
                                "give top_label or top_index (a classifier), or [[case.detect]] (a detector)".into(),
                            ));
                        }
                        if self.min_score.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
                            return Err(bad("min_score must be within 0..1".into()));
                        }
                        ImageExpectation::TopClass {
                            label: self.top_label,
                            index: self.top_index,
                            min_score: self.min_score,
                        }
                    }
                };
                GoldenCheck::Image { image, expect }
            }
            (None, true) => {
                if self.top_label.is_some()
                    || self.top_index.is_some()
                    || self.min_score.is_some()
                    || self.detect.is_some()
                {
                    return Err(bad(
                        "top_label, top_index, min_score and detect are for images".into(),
                    ));
                }
                let (inputs, outputs) = (
                    self.inputs.unwrap_or_default(),
                    self.outputs.unwrap_or_default(),
                );
                if inputs.is_empty() || outputs.is_empty() {
                    return Err(bad("give at least one input and one output".into()));
                }
                let tolerance = self.tolerance.unwrap_or(0.0);
                if !tolerance.is_finite() || tolerance < 0.0 {
                    return Err(bad("tolerance must be a finite number, at least 0".into()));
                }
                GoldenCheck::Tensors {
                    inputs,
                    outputs,
                    tolerance,
                }
            }
        };
        let files: Vec<&String> = match &check {
            GoldenCheck::Image { image, .. } => vec![image],
            GoldenCheck::Tensors {
                inputs, outputs, ..
            } => inputs.values().chain(outputs.values()).collect(),
        };
        for file in files {
            check_path(file).map_err(|e| bad(e.to_string()))?;
            if !exists(file) {
                return Err(bad(format!("names '{file}', which the bundle lacks")));
            }
        }
        Ok(GoldenCase { name, check })
    }
}

impl GoldenCases {
    /// Parses `cases.toml` and checks it: at least one case, each either an image case with an
    /// expectation or a tensor case with inputs and outputs, every file it names a plain
    /// relative path that `exists` (relative to `golden/`).
    pub fn parse(text: &str, exists: impl Fn(&str) -> bool) -> Result<GoldenCases, BundleError> {
        let file: CasesFile =
            toml::from_str(text).map_err(|e| BundleError::Golden(e.to_string()))?;
        if file.cases.is_empty() {
            return Err(BundleError::Golden(
                "cases.toml names no [[case]]".to_string(),
            ));
        }
        let cases = file
            .cases
            .into_iter()
            .map(|entry| entry.into_case(&exists))
            .collect::<Result<_, _>>()?;
        Ok(GoldenCases { cases })
    }

    /// Whether `manifest` carries golden cases (`golden/cases.toml`).
    pub fn present_in(manifest: &Manifest) -> bool {
        manifest
            .files
            .iter()
            .any(|f| f.part() == Some((Part::Golden, CASES_FILE)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_kinds_of_case_parse() {
        let text = r#"
            [[case]]
            name = "cat"
            image = "cat.jpg"
            top_label = "tabby"

            [[case]]
            name = "tensor"
            inputs = { input = "in.pb" }
            outputs = { probabilities = "out.pb" }
            tolerance = 0.02
        "#;
        let cases = GoldenCases::parse(text, |_| true).unwrap();
        assert_eq!(cases.cases.len(), 2);
        assert!(matches!(cases.cases[0].check, GoldenCheck::Image { .. }));
        assert!(matches!(cases.cases[1].check, GoldenCheck::Tensors { .. }));
    }

    #[test]
    fn a_detector_case_parses_with_its_defaults_and_bad_ones_are_refused() {
        let text = r#"
            [[case]]
            name = "dogs"
            image = "pets.jpg"
            [[case.detect]]
            label = "dog"
            at_least = 2
            min_score = 0.5
            [[case.detect]]
            class_index = 17
            overlaps = [10, 20, 300, 420]
        "#;
        let cases = GoldenCases::parse(text, |_| true).unwrap();
        let GoldenCheck::Image {
            expect: ImageExpectation::Detections(expected),
            ..
        } = &cases.cases[0].check
        else {
            panic!("{cases:?}");
        };
        assert_eq!((expected[0].at_least, expected[0].min_score), (2, 0.5));
        assert_eq!(expected[0].overlaps, None);
        assert_eq!((expected[1].at_least, expected[1].min_iou), (1, 0.5));
        assert_eq!(expected[1].overlaps, Some([10.0, 20.0, 300.0, 420.0]));
        let case = |detect: &str| {
            format!("[[case]]\nname = \"x\"\nimage = \"a.jpg\"\n[[case.detect]]\n{detect}\n")
        };
        for bad in [
            "at_least = 2",
            "label = \"dog\"\nat_least = 0",
            "label = \"dog\"\nmin_score = 2.0",
            "label = \"dog\"\noverlaps = [300, 20, 10, 420]",
            "label = \"dog\"\nmin_iou = 0.5",
            "label = \"dog\"\noverlaps = [1, 2, 3, 4]\nmin_iou = 0.0",
            "label = \"dog\"\ncolour = 1",
        ] {
            assert!(GoldenCases::parse(&case(bad), |_| true).is_err(), "{bad}");
        }
        let both = "[[case]]\nname = \"x\"\nimage = \"a.jpg\"\ntop_label = \"dog\"\n[[case.detect]]\nlabel = \"dog\"\n";
        assert!(GoldenCases::parse(both, |_| true).is_err());
    }

    #[test]
    fn missing_files_expectations_and_hostile_paths_are_refused() {
        let image = |extra: &str| format!("[[case]]\nname = \"x\"\nimage = \"cat.jpg\"\n{extra}");
        assert!(GoldenCases::parse(&image(""), |_| true).is_err());
        assert!(GoldenCases::parse(&image("top_index = 1"), |_| false).is_err());
        let hostile = "[[case]]\nname = \"x\"\nimage = \"../../etc/passwd\"\ntop_index = 1\n";
        assert!(GoldenCases::parse(hostile, |_| true).is_err());
        assert!(GoldenCases::parse("", |_| true).is_err());
        let both = "[[case]]\nname = \"x\"\nimage = \"a.jpg\"\ntop_index = 1\ntolerance = 1.0\n";
        assert!(GoldenCases::parse(both, |_| true).is_err());
        let unknown = "[[case]]\nname = \"x\"\nimage = \"a.jpg\"\ntop_index = 1\ncolour = 1\n";
        assert!(GoldenCases::parse(unknown, |_| true).is_err());
    }
}
