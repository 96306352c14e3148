//! Classification postprocessing: dequantize, optional softmax, then the top-k classes at or
//! above a score threshold, with their labels.

use outpost_core::image_config::ClassificationConfig;
use outpost_core::{ModelSignature, NamedTensor};
use serde::Serialize;

use crate::error::VisionError;
use crate::labels::LabelMap;
use crate::values::output_f32;

/// One class in the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassScore {
    /// The class index in the model's output.
    pub index: usize,
    /// Its label, when the model has a labels file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Its score.
    pub score: f32,
}

/// A model's classification postprocessing, checked against its outputs.
#[derive(Debug, Clone)]
pub struct Classifier {
    config: ClassificationConfig,
    output: String,
    labels: LabelMap,
}

impl Classifier {
    /// A classifier for `config`, checked against the model's `signature`.
    pub fn new(
        config: &ClassificationConfig,
        signature: &ModelSignature,
        labels: LabelMap,
    ) -> Result<Classifier, VisionError> {
        let output = match &config.output {
            Some(name) if signature.output(name).is_some() => name.clone(),
            Some(name) => {
                return Err(VisionError::Config(format!(
                    "the model has no output '{name}'"
                )))
            }
            None => match signature.outputs.as_slice() {
                [only] => only.name.clone(),
                _ => {
                    return Err(VisionError::Config(
                        "the model has several outputs; name the scores in postprocess.output"
                            .into(),
                    ))
                }
            },
        };
        Ok(Classifier {
            config: config.clone(),
            output,
            labels,
        })
    }

    /// The output it reads.
    pub fn output_name(&self) -> &str {
        &self.output
    }

    /// The best classes, highest score first.
    pub fn run(
        &self,
        outputs: &[NamedTensor],
        top_k: Option<usize>,
        score_threshold: Option<f32>,
    ) -> Result<Vec<ClassScore>, VisionError> {
        let (mut scores, _) = output_f32(outputs, &self.output)?;
        if let Some(q) = self.config.dequantize {
            for s in scores.to_mut().iter_mut() {
                *s = (*s - q.zero_point as f32) * q.scale;
            }
        }
        if self.config.softmax {
            softmax(scores.to_mut());
        }
        let threshold = score_threshold.unwrap_or(self.config.score_threshold);
        let k = top_k.unwrap_or(self.config.top_k);
        let mut ranked: Vec<(usize, f32)> = scores
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, s)| *s >= threshold)
            .collect();
        // Highest first; equal scores keep the lower index first.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(k);
        Ok(ranked
            .into_iter()
            .map(|(index, score)| ClassScore {
                index,
                label: self.labels.get(index),
                score,
            })
            .collect())
    }
}

/// In-place, numerically stable softmax.
pub fn softmax(values: &mut [f32]) {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in values.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    if sum > 0.0 {
        for v in values.iter_mut() {
            *v /= sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_core::image_config::Dequantize;
    use outpost_core::{DataType, Tensor, TensorData, TensorSpec};
    use std::sync::Arc;

    fn classifier(config: &ClassificationConfig) -> Classifier {
        let signature = ModelSignature {
            inputs: vec![],
            outputs: vec![TensorSpec::new("p", DataType::Uint8, vec![1, 4])],
        };
        let labels = Arc::new(vec![
            "background".into(),
            "a".into(),
            "b".into(),
            "c".into(),
        ]);
        Classifier::new(config, &signature, LabelMap::new(Some(labels), 0)).unwrap()
    }

    fn base() -> ClassificationConfig {
        ClassificationConfig {
            output: None,
            softmax: false,
            dequantize: None,
            top_k: 2,
            score_threshold: 0.0,
            label_offset: 0,
        }
    }

    #[test]
    fn quantized_scores_are_dequantized_ranked_and_labelled() {
        let mut config = base();
        config.dequantize = Some(Dequantize {
            scale: 1.0 / 256.0,
            zero_point: 0,
        });
        let c = classifier(&config);
        let out = vec![NamedTensor::new(
            "p",
            Tensor::new(vec![1, 4], TensorData::Uint8(vec![10, 200, 30, 16])).unwrap(),
        )];
        let top = c.run(&out, None, None).unwrap();
        assert_eq!(top.len(), 2);
        assert_eq!((top[0].index, top[0].label.as_deref()), (1, Some("a")));
        assert!((top[0].score - 200.0 / 256.0).abs() < 1e-6);
        assert_eq!(top[1].index, 2);
        // Overrides: a threshold above the second score leaves one class.
        assert_eq!(c.run(&out, Some(5), Some(0.5)).unwrap().len(), 1);
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut v = vec![1.0, 3.0, 2.0, 10.0];
        softmax(&mut v);
        assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(v[3] > v[1] && v[1] > v[2]);
    }
}
