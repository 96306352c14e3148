//! How close a runtime's outputs must be to the fixtures' reference outputs, and the comparison
//! itself, shared by tests/outpost/conformance.rs and the accelerator check
//! (`outpost-bench-providers --check-references`, scripts/device-check.sh).
//!
//! The fixtures' README sets the tolerances: float models within 1e-4 (absolute plus relative);
//! quantized models within one quantization step of the output. [`allowed_steps`] widens that
//! per runtime where a runtime's integer arithmetic is measured to differ, and says why.

use outpost_core::TensorData;

use crate::cpu::ort_s8_weight_steps;

/// How close an output must be: float graphs within `abs + rel * |expected|`; quantized
/// outputs are measured in quantization steps of that output.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    /// Absolute part (for quantized outputs: one step, with room for float rounding).
    pub abs: f64,
    /// Relative part (zero for quantized outputs).
    pub rel: f64,
    /// One quantization step of this output, for quantized models.
    pub step: Option<f64>,
}

/// The fixtures' tolerance for one output of one fixture model; `None` for an output the
/// fixtures do not describe.
pub fn tolerance(model: &str, output: &str) -> Option<Tolerance> {
    let float = Tolerance {
        abs: 1e-4,
        rel: 1e-4,
        step: None,
    };
    let quantized = |step: f64| Tolerance {
        abs: step * (1.0 + 1e-4),
        rel: 0.0,
        step: Some(step),
    };
    Some(match (model, output) {
        (
            "mobilenet_v1_0.25_224_float32"
            | "mobilenet_v2_1.0_224_float32"
            | "ultraface_version-RFB-320",
            _,
        ) => float,
        // Final QuantizeLinear scale 1/255, then DequantizeLinear to float.
        ("mobilenet_v2_1.0_224_int8_qdq", _) => quantized(0.003921569),
        // uint8 outputs: one step is 1.
        (
            "mobilenet_v1_0.25_224_quant_uint8_nhwc_qdq"
            | "mobilenet_v2_1.0_224_quant_uint8_nhwc_qdq",
            _,
        ) => quantized(1.0),
        // Box head dequantized with scale 0.079027876.
        ("ssd_mobilenet_v1_coco_quant_no_nms", "box_encodings") => quantized(0.079027876),
        // Sigmoid of logits quantized with scale 0.049736768: one logit step moves a score by at
        // most 0.25 * 0.049736768.
        ("ssd_mobilenet_v1_coco_quant_no_nms", _) => quantized(0.25 * 0.049736768),
        _ => return None,
    })
}

/// Steps a runtime may be off on its worst element of a quantized output.
///
/// ONNX Runtime's CPU provider (`ort`) matches the references (its own and TFLite's) to one
/// step, except on the s8-weight model where its x86 kernels without VNNI saturate (see
/// [`crate::cpu`]).
///
/// tract (`tract`) rounds its integer convolutions differently, and the difference grows through
/// deep quantized graphs: its worst element is measured at 2.4 steps on the MobileNetV2
/// classifiers (only the top class, whose probability is the most sensitive) and 4 steps on
/// SSD's box head; 5 bounds that.
///
/// ONNX Runtime's OpenVINO provider (`openvino`) does not meet one step on three of the
/// quantized models: OpenVINO's CPU plugin folds each DequantizeLinear-op-QuantizeLinear run
/// into its own int8 kernels with its own requantization rounding (measured: 2 steps on the
/// uint8 MobileNetV2, 4 on SSD's box head, 1 on the uint8 MobileNetV1), and on CPUs without VNNI
/// its u8 x s8 products saturate as ONNX Runtime's do (14 steps on the s8-weight MobileNetV2, 7
/// on its other test set; on VNNI CPUs, not measured, the bound is 4, the other models' worst).
/// With its low-precision transformations off (float emulation of the same graph) the figures
/// are 2, 6 and 4 steps: no setting brings it to one step. The bounds are those measurements.
///
/// Any other runtime (the CUDA and TensorRT providers, not yet measured) is held to the
/// fixtures' one step.
pub fn allowed_steps(runtime: &str, model: &str) -> f64 {
    match (runtime, model) {
        ("tract", _) => 5.0,
        ("openvino", "mobilenet_v2_1.0_224_int8_qdq") => ort_s8_weight_steps().max(2.0) + 2.0,
        ("openvino", "mobilenet_v2_1.0_224_quant_uint8_nhwc_qdq") => 2.0,
        ("openvino", "ssd_mobilenet_v1_coco_quant_no_nms") => 4.0,
        ("ort", "mobilenet_v2_1.0_224_int8_qdq") => ort_s8_weight_steps(),
        _ => 1.0,
    }
}

/// One output compared with its reference.
#[derive(Debug, Clone, Copy)]
pub struct Comparison {
    /// Largest absolute difference.
    pub max_abs: f64,
    /// That difference in quantization steps (quantized outputs only).
    pub max_steps: Option<f64>,
    /// Elements beyond the fixtures' own tolerance (one step, or 1e-4).
    pub beyond_fixture_tolerance: usize,
    /// Elements compared.
    pub elements: usize,
    /// Whether every element is within the runtime's allowance.
    pub within: bool,
    /// Whether the largest element is at the same index in both (classifiers' top-1).
    pub same_argmax: bool,
}

/// Compares `got` with `want` (same length) for `runtime` on `model`'s output `output`; `None`
/// when the fixtures describe no tolerance for that output.
pub fn compare(
    runtime: &str,
    model: &str,
    output: &str,
    got: &[f64],
    want: &[f64],
) -> Option<Comparison> {
    let tol = tolerance(model, output)?;
    let limit = |w: f64| match tol.step {
        Some(_) => tol.abs * allowed_steps(runtime, model),
        None => tol.abs + tol.rel * w.abs(),
    };
    let mut comparison = Comparison {
        max_abs: 0.0,
        max_steps: None,
        beyond_fixture_tolerance: 0,
        elements: got.len(),
        within: got.len() == want.len(),
        same_argmax: argmax(got) == argmax(want),
    };
    for (g, w) in got.iter().zip(want) {
        let diff = (g - w).abs();
        comparison.max_abs = comparison.max_abs.max(diff);
        if diff > tol.abs + tol.rel * w.abs() {
            comparison.beyond_fixture_tolerance += 1;
        }
        if diff.is_nan() || diff > limit(*w) {
            comparison.within = false;
        }
    }
    comparison.max_steps = tol.step.map(|step| comparison.max_abs / step);
    Some(comparison)
}

/// Elements as f64 for comparisons (every numeric type the fixtures' outputs use).
///
/// # Panics
/// On a datatype with no numeric comparison (strings, booleans, halves).
pub fn as_f64(data: &TensorData) -> Vec<f64> {
    match data {
        TensorData::Fp32(v) => v.iter().map(|x| f64::from(*x)).collect(),
        TensorData::Fp64(v) => v.clone(),
        TensorData::Uint8(v) => v.iter().map(|x| f64::from(*x)).collect(),
        TensorData::Int8(v) => v.iter().map(|x| f64::from(*x)).collect(),
        TensorData::Int32(v) => v.iter().map(|x| f64::from(*x)).collect(),
        #[allow(clippy::cast_precision_loss, reason = "comparison values")]
        TensorData::Int64(v) => v.iter().map(|x| *x as f64).collect(),
        other => panic!("no numeric comparison for {:?}", other.datatype()),
    }
}

/// Index of the largest element (the first of equals).
pub fn argmax(values: &[f64]) -> usize {
    values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        .map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_passes_and_two_do_not_on_the_cpu_provider() {
        let want = [10.0, 200.0, 3.0];
        let one = compare(
            "ort",
            "mobilenet_v1_0.25_224_quant_uint8_nhwc_qdq",
            "x",
            &[11.0, 200.0, 3.0],
            &want,
        )
        .unwrap();
        assert!(one.within && one.same_argmax);
        assert_eq!(one.max_steps, Some(1.0));
        let two = compare(
            "ort",
            "mobilenet_v1_0.25_224_quant_uint8_nhwc_qdq",
            "x",
            &[12.0, 200.0, 3.0],
            &want,
        )
        .unwrap();
        assert!(!two.within);
        assert_eq!(two.beyond_fixture_tolerance, 1);
    }

    #[test]
    fn float_outputs_use_absolute_plus_relative_and_nan_fails() {
        let model = "mobilenet_v2_1.0_224_float32";
        let within = compare("cuda", model, "y", &[1.0001, 0.5], &[1.0, 0.5]).unwrap();
        assert!(within.within, "{within:?}");
        let outside = compare("cuda", model, "y", &[1.001, 0.5], &[1.0, 0.5]).unwrap();
        assert!(!outside.within);
        let nan = compare("cuda", model, "y", &[f64::NAN, 0.5], &[1.0, 0.5]).unwrap();
        assert!(!nan.within);
        assert!(compare("cuda", "no_such_model", "y", &[1.0], &[1.0]).is_none());
    }

    #[test]
    fn argmax_takes_the_first_of_equals() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[]), 0);
    }
}
