//! Warming a freshly loaded model version before it takes traffic: one inference on zero inputs
//! shaped as its signature declares (variable dimensions as 1). The runtime's lazy set-up (kernel
//! choice, memory planning, thread start) then happens before the first real request rather than
//! in it, and a version that cannot run fails its load while the previous version keeps serving.
//! Models with BYTES inputs (encoded images, text) are not warmed: zeros are no valid input.

use std::time::{Duration, Instant};

use outpost_core::{LoadedModel, ModelSignature, NamedTensor, Tensor, TensorData};

use super::load_error::LoadError;

/// Runs one inference on zeros; returns how long it took, or `None` when the model has inputs
/// that cannot be made up.
pub(super) fn warm_up(
    model: &dyn LoadedModel,
    signature: &ModelSignature,
) -> Result<Option<Duration>, LoadError> {
    let mut inputs = Vec::with_capacity(signature.inputs.len());
    for spec in &signature.inputs {
        let Some(element_size) = spec.datatype.element_size() else {
            return Ok(None);
        };
        let shape: Vec<usize> = spec
            .shape
            .iter()
            .map(|&d| usize::try_from(d).unwrap_or(1).max(1))
            .collect();
        let elements: usize = shape.iter().product();
        let zeros = vec![0u8; elements * element_size];
        let data = TensorData::from_le_bytes(spec.datatype, &zeros)?;
        let tensor = Tensor::new(shape, data)?;
        inputs.push(NamedTensor::new(spec.name.clone(), tensor));
    }
    let outputs: Vec<String> = signature.outputs.iter().map(|o| o.name.clone()).collect();
    let started = Instant::now();
    model.infer(&inputs, &outputs).map_err(LoadError::WarmUp)?;
    Ok(Some(started.elapsed()))
}
