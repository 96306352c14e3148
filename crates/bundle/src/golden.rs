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
    /// An encoded image sent to the camera endpoint; its best class is checked.
    Image {
        /// The image file.
        image: String,
        /// The label the best class must carry.
        top_label: Option<String>,
        /// The index the best class must have.
        top_index: Option<u64>,
        /// The least score the best class may have.
        min_score: Option<f64>,
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
                if self.top_label.is_none() && self.top_index.is_none() {
                    return Err(bad("give top_label or top_index".into()));
                }
                if self.min_score.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
                    return Err(bad("min_score must be within 0..1".into()));
                }
                GoldenCheck::Image {
                    image,
                    top_label: self.top_label,
                    top_index: self.top_index,
                    min_score: self.min_score,
                }
            }
            (None, true) => {
                if self.top_label.is_some() || self.top_index.is_some() || self.min_score.is_some()
                {
                    return Err(bad(
                        "top_label, top_index and min_score are for images".into()
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
