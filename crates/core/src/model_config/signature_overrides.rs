//! `[[inputs]]` and `[[outputs]]` over the graph's signature: overrides that must agree with
//! what the graph fixes, and the whole signature of a model without a local graph.

use super::{ModelConfig, ModelConfigError, TensorOverride};
use crate::signature::{ModelSignature, TensorSpec};

impl ModelConfig {
    /// Applies the `inputs` / `outputs` overrides to a signature derived from the graph.
    ///
    /// An override may name a datatype only where it equals the graph's, and a shape only of the
    /// same rank that agrees with every dimension the graph fixes (it can fix variable ones).
    pub fn apply_overrides(
        &self,
        mut signature: ModelSignature,
    ) -> Result<ModelSignature, ModelConfigError> {
        apply_to(&mut signature.inputs, &self.inputs, "input")?;
        apply_to(&mut signature.outputs, &self.outputs, "output")?;
        Ok(signature)
    }

    /// The signature a model without a local graph declares in full: every `[[inputs]]` and
    /// `[[outputs]]` entry with its datatype and shape (a model answered by its upstream only).
    pub fn declared_signature(&self) -> Result<ModelSignature, ModelConfigError> {
        let declared = |overrides: &[TensorOverride], kind: &str| {
            if overrides.is_empty() {
                return Err(ModelConfigError::Invalid(format!(
                    "a model answered by its upstream only declares its {kind}s: [[{kind}s]] with name, datatype and shape"
                )));
            }
            overrides
                .iter()
                .map(|o| match (o.datatype, &o.shape) {
                    (Some(datatype), Some(shape)) => {
                        Ok(TensorSpec::new(o.name.clone(), datatype, shape.clone()))
                    }
                    _ => Err(ModelConfigError::Override {
                        name: o.name.clone(),
                        message: format!(
                            "a model answered by its upstream only gives each {kind}'s datatype and shape"
                        ),
                    }),
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(ModelSignature {
            inputs: declared(&self.inputs, "input")?,
            outputs: declared(&self.outputs, "output")?,
        })
    }
}

fn apply_to(
    specs: &mut [TensorSpec],
    overrides: &[TensorOverride],
    kind: &str,
) -> Result<(), ModelConfigError> {
    for o in overrides {
        let spec = specs.iter_mut().find(|s| s.name == o.name).ok_or_else(|| {
            ModelConfigError::Override {
                name: o.name.clone(),
                message: format!("the model has no {kind} of that name"),
            }
        })?;
        if let Some(datatype) = o.datatype {
            if datatype != spec.datatype {
                return Err(ModelConfigError::Override {
                    name: o.name.clone(),
                    message: format!(
                        "the graph says {}, the override says {datatype}",
                        spec.datatype
                    ),
                });
            }
        }
        if let Some(shape) = &o.shape {
            let compatible = shape.len() == spec.shape.len()
                && shape
                    .iter()
                    .zip(&spec.shape)
                    .all(|(new, old)| *old < 0 || new == old)
                && shape.iter().all(|d| *d == -1 || *d > 0);
            if !compatible {
                return Err(ModelConfigError::Override {
                    name: o.name.clone(),
                    message: format!(
                        "shape {shape:?} does not agree with the graph's {:?}",
                        spec.shape
                    ),
                });
            }
            spec.shape.clone_from(shape);
        }
    }
    Ok(())
}
