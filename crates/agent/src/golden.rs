//! Running a bundle's golden cases against a candidate version through the server's public API:
//! image cases through the camera endpoint (a classifier's best class, a detector's boxes:
//! [`crate::golden_answers`]), tensor cases through V2 inference in JSON (every output element
//! within the tolerance of the expected one, same shape). The first failing case decides.

use std::path::Path;

use outpost_bundle::golden::CASES_FILE;
use outpost_bundle::{read_tensor_file, GoldenCase, GoldenCases, GoldenCheck};
use outpost_core::{Tensor, TensorData};
use serde_json::{json, Value};

use crate::error::AgentError;
use crate::golden_answers::check_image_answer;
use crate::server::ModelServer;

/// How a version did against its golden cases.
#[derive(Debug, Clone, PartialEq)]
pub enum GoldenOutcome {
    /// Every case passed (how many there were).
    Passed(usize),
    /// A case failed, and how.
    Failed(String),
}

/// What a bundle without golden cases is refused for (`require_golden_cases`).
pub const NO_GOLDEN_CASES: &str = "the bundle has no golden cases, and this device requires them (require_golden_cases = true): nothing would check the version before it takes traffic";

/// Runs the cases in `golden_dir` (as installed) against `version` of `model`. A bundle
/// without golden cases fails when `require` is set (`require_golden_cases`), else passes with 0
/// and a warning. Errors are the server's or this device's (retried); a wrong answer is a
/// [`GoldenOutcome::Failed`].
pub async fn run_cases(
    api: &impl ModelServer,
    model: &str,
    version: u64,
    golden_dir: &Path,
    require: bool,
) -> Result<GoldenOutcome, AgentError> {
    let cases_path = golden_dir.join(CASES_FILE);
    let cases = if cases_path.is_file() {
        let text = std::fs::read_to_string(&cases_path)
            .map_err(AgentError::io(format!("reading {}", cases_path.display())))?;
        GoldenCases::parse(&text, |name| golden_dir.join(name).is_file())
            .map_err(|e| AgentError::Bundle(e.to_string()))?
            .cases
    } else {
        Vec::new()
    };
    if cases.is_empty() {
        if require {
            return Ok(GoldenOutcome::Failed(NO_GOLDEN_CASES.to_string()));
        }
        tracing::warn!(
            model,
            version,
            "the bundle has no golden cases: only its load was checked (require_golden_cases = false)"
        );
        return Ok(GoldenOutcome::Passed(0));
    }
    for case in &cases {
        if let Some(failure) = run_case(api, model, version, golden_dir, case).await? {
            return Ok(GoldenOutcome::Failed(format!(
                "golden case '{}' failed: {failure}",
                case.name
            )));
        }
    }
    Ok(GoldenOutcome::Passed(cases.len()))
}

/// Runs one case: `None` when it passed, else what was wrong.
async fn run_case(
    api: &impl ModelServer,
    model: &str,
    version: u64,
    dir: &Path,
    case: &GoldenCase,
) -> Result<Option<String>, AgentError> {
    match &case.check {
        GoldenCheck::Image { image, expect } => {
            let bytes = std::fs::read(dir.join(image))
                .map_err(AgentError::io(format!("reading golden image {image}")))?;
            let answer = match api.image(model, version, bytes).await {
                Ok(answer) => answer,
                Err(
                    refusal @ AgentError::Refused {
                        status: 400 | 413 | 415,
                        ..
                    },
                ) => return Ok(Some(refusal.to_string())),
                Err(e) => return Err(e),
            };
            Ok(check_image_answer(&answer, expect))
        }
        GoldenCheck::Tensors {
            inputs,
            outputs,
            tolerance,
        } => {
            let mut request_inputs = Vec::new();
            for (name, file) in inputs {
                let tensor = read_golden_tensor(dir, file)?;
                let Some(data) = json_values(tensor.data()) else {
                    return Ok(Some(format!(
                        "input {name}: {} tensors are not supported in golden cases",
                        tensor.datatype().as_str()
                    )));
                };
                request_inputs.push(json!({
                    "name": name,
                    "shape": tensor.shape(),
                    "datatype": tensor.datatype().as_str(),
                    "data": data,
                }));
            }
            let requested: Vec<Value> = outputs.keys().map(|n| json!({ "name": n })).collect();
            let body = json!({ "inputs": request_inputs, "outputs": requested });
            let answer = match api.infer(model, version, &body).await {
                Ok(answer) => answer,
                Err(
                    refusal @ AgentError::Refused {
                        status: 400 | 413 | 415,
                        ..
                    },
                ) => return Ok(Some(refusal.to_string())),
                Err(e) => return Err(e),
            };
            for (name, file) in outputs {
                let expected = read_golden_tensor(dir, file)?;
                if let Some(problem) = compare_output(&answer, name, &expected, *tolerance) {
                    return Ok(Some(problem));
                }
            }
            Ok(None)
        }
    }
}

fn read_golden_tensor(dir: &Path, file: &str) -> Result<Tensor, AgentError> {
    read_tensor_file(&dir.join(file))
        .map(|(_, tensor)| tensor)
        .map_err(|e| AgentError::Bundle(format!("golden tensor {file}: {e}")))
}

/// Compares output `name` of a V2 JSON answer with `expected`.
fn compare_output(answer: &Value, name: &str, expected: &Tensor, tolerance: f64) -> Option<String> {
    let Some(output) = answer["outputs"]
        .as_array()
        .and_then(|outputs| outputs.iter().find(|o| o["name"] == name))
    else {
        return Some(format!("the answer has no output {name}"));
    };
    let shape: Vec<u64> = output["shape"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let expected_shape: Vec<u64> = expected.shape().iter().map(|d| *d as u64).collect();
    if shape != expected_shape {
        return Some(format!(
            "output {name} has shape {shape:?}, expected {expected_shape:?}"
        ));
    }
    let Some(want) = float_values(expected.data()) else {
        return Some(format!("expected output {name} is not numeric"));
    };
    let got: Vec<f64> = output["data"]
        .as_array()
        .map(|d| d.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    if got.len() != want.len() {
        return Some(format!(
            "output {name} has {} numbers, expected {}",
            got.len(),
            want.len()
        ));
    }
    let (worst_at, worst) = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .enumerate()
        .fold(
            (0, 0.0_f64),
            |best, (i, d)| if d > best.1 { (i, d) } else { best },
        );
    (worst > tolerance).then(|| {
        format!(
            "output {name}[{worst_at}] is {} where {} was expected (difference {worst:.4} > tolerance {tolerance})",
            got[worst_at], want[worst_at]
        )
    })
}

/// A tensor's values as JSON numbers of its own kind, or `None` for kinds golden cases do not
/// send (BYTES, half precision).
fn json_values(data: &TensorData) -> Option<Vec<Value>> {
    fn all<T: Into<Value> + Copy>(values: &[T]) -> Vec<Value> {
        values.iter().map(|v| (*v).into()).collect()
    }
    Some(match data {
        TensorData::Bool(v) => all(v),
        TensorData::Uint8(v) => all(v),
        TensorData::Uint16(v) => all(v),
        TensorData::Uint32(v) => all(v),
        TensorData::Uint64(v) => all(v),
        TensorData::Int8(v) => all(v),
        TensorData::Int16(v) => all(v),
        TensorData::Int32(v) => all(v),
        TensorData::Int64(v) => all(v),
        TensorData::Fp32(v) => all(v),
        TensorData::Fp64(v) => all(v),
        TensorData::Fp16(_) | TensorData::Bf16(_) | TensorData::Bytes(_) => return None,
    })
}

/// A tensor's values as f64, or `None` when it is not numeric.
fn float_values(data: &TensorData) -> Option<Vec<f64>> {
    fn all<T: Into<f64> + Copy>(values: &[T]) -> Vec<f64> {
        values.iter().map(|v| (*v).into()).collect()
    }
    Some(match data {
        TensorData::Bool(v) => v.iter().map(|b| f64::from(u8::from(*b))).collect(),
        TensorData::Uint8(v) => all(v),
        TensorData::Uint16(v) => all(v),
        TensorData::Uint32(v) => all(v),
        TensorData::Uint64(v) => v.iter().map(|x| *x as f64).collect(),
        TensorData::Int8(v) => all(v),
        TensorData::Int16(v) => all(v),
        TensorData::Int32(v) => all(v),
        TensorData::Int64(v) => v.iter().map(|x| *x as f64).collect(),
        TensorData::Fp16(v) => v.iter().map(|x| x.to_f64()).collect(),
        TensorData::Bf16(v) => v.iter().map(|x| x.to_f64()).collect(),
        TensorData::Fp32(v) => all(v),
        TensorData::Fp64(v) => v.clone(),
        TensorData::Bytes(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_compare_within_tolerance() {
        let expected = Tensor::new(vec![1, 3], TensorData::Fp32(vec![0.1, 0.5, 0.4])).unwrap();
        let answer =
            |data: Value| json!({"outputs": [{"name": "p", "shape": [1, 3], "data": data}]});
        assert_eq!(
            compare_output(&answer(json!([0.11, 0.5, 0.39])), "p", &expected, 0.02),
            None
        );
        let far = compare_output(&answer(json!([0.1, 0.6, 0.4])), "p", &expected, 0.02).unwrap();
        assert!(far.contains("p[1]"), "{far}");
        assert!(compare_output(&answer(json!([0.1, 0.5])), "p", &expected, 0.02).is_some());
        assert!(compare_output(&answer(json!([0.1, 0.5, 0.4])), "q", &expected, 0.02).is_some());
    }
}
