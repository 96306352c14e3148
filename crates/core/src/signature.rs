//! Model signatures: the names, datatypes and shapes of a model's inputs and outputs, and the
//! checks a request must pass against them before it reaches a backend.

use serde::{Deserialize, Serialize};

use crate::datatype::DataType;
use crate::request::{InferRequest, InputError};

/// One input or output as a model declares it. A dimension of `-1` is variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// The name.
    pub name: String,
    /// The element type.
    pub datatype: DataType,
    /// The shape; `-1` for a variable dimension.
    pub shape: Vec<i64>,
}

impl TensorSpec {
    /// A spec of `name`, `datatype` and `shape`.
    pub fn new(name: impl Into<String>, datatype: DataType, shape: Vec<i64>) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            datatype,
            shape,
        }
    }

    /// True when `shape` has this spec's rank and agrees with every fixed dimension.
    pub fn accepts_shape(&self, shape: &[usize]) -> bool {
        shape.len() == self.shape.len()
            && self
                .shape
                .iter()
                .zip(shape)
                .all(|(want, got)| *want < 0 || *want as usize == *got)
    }

    /// The shape written with `-1` for variable dimensions, for error messages.
    fn shape_text(&self) -> String {
        format!("{:?}", self.shape)
    }
}

/// All inputs and outputs of a model, in the model's order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ModelSignature {
    /// The inputs.
    pub inputs: Vec<TensorSpec>,
    /// The outputs.
    pub outputs: Vec<TensorSpec>,
}

impl ModelSignature {
    /// The input called `name`.
    pub fn input(&self, name: &str) -> Option<&TensorSpec> {
        self.inputs.iter().find(|s| s.name == name)
    }

    /// The output called `name`.
    pub fn output(&self, name: &str) -> Option<&TensorSpec> {
        self.outputs.iter().find(|s| s.name == name)
    }

    /// True when every input and output has a variable first dimension, so requests may
    /// carry several samples in one batch (Triton's `max_batch_size > 0`).
    pub fn has_batch_dimension(&self) -> bool {
        let all = self.inputs.iter().chain(self.outputs.iter());
        !self.inputs.is_empty() && all.into_iter().all(|s| s.shape.first() == Some(&-1))
    }

    /// Checks a request against this signature: every declared input present once with the
    /// right datatype and shape, no unknown inputs, requested outputs known, and the batch
    /// dimension (when `max_batch_size > 0`) within `1..=max_batch_size` and the same for all inputs.
    pub fn validate(
        &self,
        request: &InferRequest,
        max_batch_size: usize,
    ) -> Result<(), InputError> {
        for (i, input) in request.inputs.iter().enumerate() {
            if request.inputs[..i].iter().any(|o| o.name == input.name) {
                return Err(InputError::DuplicateInput(input.name.clone()));
            }
            let spec = self
                .input(&input.name)
                .ok_or_else(|| InputError::UnknownInput {
                    name: input.name.clone(),
                    expected: self.inputs.iter().map(|s| s.name.clone()).collect(),
                })?;
            if input.tensor.datatype() != spec.datatype {
                return Err(InputError::DatatypeMismatch {
                    name: input.name.clone(),
                    expected: spec.datatype,
                    actual: input.tensor.datatype(),
                });
            }
            if !spec.accepts_shape(input.tensor.shape()) {
                return Err(InputError::ShapeMismatch {
                    name: input.name.clone(),
                    expected: spec.shape_text(),
                    actual: input.tensor.shape().to_vec(),
                });
            }
        }
        if let Some(missing) = self
            .inputs
            .iter()
            .find(|s| !request.inputs.iter().any(|i| i.name == s.name))
        {
            return Err(InputError::MissingInput(missing.name.clone()));
        }
        if let Some(requested) = &request.outputs {
            if let Some(unknown) = requested.iter().find(|n| self.output(n).is_none()) {
                return Err(InputError::UnknownOutput {
                    name: unknown.clone(),
                    expected: self.outputs.iter().map(|s| s.name.clone()).collect(),
                });
            }
        }
        if max_batch_size > 0 {
            Self::validate_batch(request, max_batch_size)?;
        }
        Ok(())
    }

    fn validate_batch(request: &InferRequest, max_batch_size: usize) -> Result<(), InputError> {
        let mut batch: Option<usize> = None;
        for input in &request.inputs {
            let size = input.tensor.shape().first().copied().unwrap_or(0);
            if size == 0 || size > max_batch_size {
                return Err(InputError::BatchSize {
                    name: input.name.clone(),
                    size,
                    max: max_batch_size,
                });
            }
            match batch {
                Some(b) if b != size => return Err(InputError::InconsistentBatch),
                _ => batch = Some(size),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{NamedTensor, Tensor, TensorData};

    fn signature(batch: bool) -> ModelSignature {
        let first = if batch { -1 } else { 1 };
        ModelSignature {
            inputs: vec![TensorSpec::new("x", DataType::Fp32, vec![first, 3])],
            outputs: vec![TensorSpec::new("y", DataType::Fp32, vec![first, 2])],
        }
    }

    fn request(shape: Vec<usize>, outputs: Option<Vec<&str>>) -> InferRequest {
        let n = shape.iter().product();
        InferRequest {
            id: None,
            inputs: vec![NamedTensor::new(
                "x",
                Tensor::new(shape, TensorData::Fp32(vec![0.0; n])).unwrap(),
            )],
            outputs: outputs.map(|o| o.into_iter().map(String::from).collect()),
        }
    }

    #[test]
    fn accepts_matching_request() {
        assert!(signature(false)
            .validate(&request(vec![1, 3], None), 0)
            .is_ok());
        assert!(signature(true)
            .validate(&request(vec![4, 3], Some(vec!["y"])), 8)
            .is_ok());
    }

    #[test]
    fn rejects_bad_shape_datatype_and_names() {
        let sig = signature(false);
        assert!(matches!(
            sig.validate(&request(vec![1, 4], None), 0),
            Err(InputError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            sig.validate(&request(vec![3], None), 0),
            Err(InputError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            sig.validate(&request(vec![1, 3], Some(vec!["nope"])), 0),
            Err(InputError::UnknownOutput { .. })
        ));
        let mut wrong_type = request(vec![1, 3], None);
        wrong_type.inputs[0].tensor =
            Tensor::new(vec![1, 3], TensorData::Int32(vec![0; 3])).unwrap();
        assert!(matches!(
            sig.validate(&wrong_type, 0),
            Err(InputError::DatatypeMismatch { .. })
        ));
        let mut renamed = request(vec![1, 3], None);
        renamed.inputs[0].name = "z".into();
        assert!(matches!(
            sig.validate(&renamed, 0),
            Err(InputError::UnknownInput { .. })
        ));
        let mut empty = request(vec![1, 3], None);
        empty.inputs.clear();
        assert_eq!(
            sig.validate(&empty, 0),
            Err(InputError::MissingInput("x".into()))
        );
        let mut doubled = request(vec![1, 3], None);
        doubled.inputs.push(doubled.inputs[0].clone());
        assert_eq!(
            sig.validate(&doubled, 0),
            Err(InputError::DuplicateInput("x".into()))
        );
    }

    #[test]
    fn batch_dimension_is_bounded() {
        let sig = signature(true);
        assert!(sig.has_batch_dimension());
        assert!(!signature(false).has_batch_dimension());
        assert!(matches!(
            sig.validate(&request(vec![9, 3], None), 8),
            Err(InputError::BatchSize {
                size: 9,
                max: 8,
                ..
            })
        ));
        assert!(matches!(
            sig.validate(&request(vec![0, 3], None), 8),
            Err(InputError::BatchSize { size: 0, .. })
        ));
    }
}
