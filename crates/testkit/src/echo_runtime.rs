//! `echo`: a runtime that lives only in the tests, registered the way a runtime crate is, to
//! show that the runtime contract is all a new runtime needs. Its "model file" is a TOML list
//! of FP32 tensors (`[[tensors]]` with `input`, `output` and `shape`); each output is its input
//! times the server's `echo.gain` (`[echo] gain`, flag `--echo-gain`) plus the model's
//! `[echo] offset` from `model.toml`.

use std::sync::Arc;

use outpost_core::{
    Backend, BackendError, ConfiguredRuntime, DataType, LoadRequest, LoadedModel, ModelSignature,
    NamedTensor, ProbeContext, ProbeError, Runtime, RuntimeGauge, RuntimeIdentity, RuntimeSettings,
    Tensor, TensorData, TensorSpec,
};
use outpost_settings::{settings_section, Section, Setting};
use serde::Deserialize;

/// The runtime's name: `backend = "echo"`, `[echo]` in the server configuration.
pub const NAME: &str = "echo";

settings_section! {
    /// `[echo]`: the test runtime's one setting.
    #[derive(Debug)]
    pub struct EchoSettings {
        /// Every output is its input times this.
        gain: u64 = 1, flag "echo-gain";
    }
}

/// The test runtime, to register in a test's server.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoRuntime;

/// `[echo]` in `model.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct EchoModelSettings {
    offset: f32,
}

#[derive(Debug, Deserialize)]
struct EchoModelFile {
    tensors: Vec<EchoTensor>,
}

#[derive(Debug, Deserialize)]
struct EchoTensor {
    input: String,
    output: String,
    shape: Vec<i64>,
}

fn model_settings(settings: &toml::Table) -> Result<EchoModelSettings, BackendError> {
    match settings.get(NAME) {
        None => Ok(EchoModelSettings::default()),
        Some(value) => {
            value
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| BackendError::Settings {
                    runtime: NAME,
                    message: e.message().trim().to_string(),
                })
        }
    }
}

impl Runtime for EchoRuntime {
    fn name(&self) -> &'static str {
        NAME
    }

    fn settings(&self) -> Vec<Setting> {
        EchoSettings::settings()
    }

    fn model_keys(&self) -> &'static [&'static str] {
        &[NAME]
    }

    fn check_model_settings(&self, settings: &toml::Table) -> Result<(), BackendError> {
        model_settings(settings).map(|_| ())
    }

    fn configure(
        &self,
        settings: &RuntimeSettings,
    ) -> Result<Box<dyn ConfiguredRuntime>, ProbeError> {
        let settings: EchoSettings = outpost_core::runtime::read_section(NAME, settings)?;
        Ok(Box::new(settings))
    }
}

impl ConfiguredRuntime for EchoSettings {
    fn probe(self: Box<Self>, _context: &ProbeContext) -> Result<Arc<dyn Backend>, ProbeError> {
        Ok(Arc::new(EchoBackend { gain: self.gain }))
    }
}

struct EchoBackend {
    gain: u64,
}

impl Backend for EchoBackend {
    fn identity(&self) -> RuntimeIdentity {
        RuntimeIdentity {
            backend: "echo",
            platform: "echo_toml",
        }
    }

    fn version(&self) -> Option<String> {
        Some("1".to_string())
    }

    fn gauges(&self) -> Vec<RuntimeGauge> {
        vec![RuntimeGauge {
            name: "outpost_echo_gain".to_string(),
            help: "The echo runtime's gain.".to_string(),
            value: self.gain as i64,
        }]
    }

    fn load(&self, request: &LoadRequest<'_>) -> Result<Box<dyn LoadedModel>, BackendError> {
        let load_error = |message: String| BackendError::Load {
            path: request.model_path.to_path_buf(),
            message,
        };
        let text =
            std::fs::read_to_string(request.model_path).map_err(|e| load_error(e.to_string()))?;
        let file: EchoModelFile = toml::from_str(&text).map_err(|e| load_error(e.to_string()))?;
        let settings = model_settings(&request.config.runtime_settings)?;
        let spec =
            |name: &str, shape: &[i64]| TensorSpec::new(name, DataType::Fp32, shape.to_vec());
        Ok(Box::new(EchoModel {
            signature: ModelSignature {
                inputs: file
                    .tensors
                    .iter()
                    .map(|t| spec(&t.input, &t.shape))
                    .collect(),
                outputs: file
                    .tensors
                    .iter()
                    .map(|t| spec(&t.output, &t.shape))
                    .collect(),
            },
            pairs: file
                .tensors
                .into_iter()
                .map(|t| (t.input, t.output))
                .collect(),
            gain: self.gain as f32,
            offset: settings.offset,
        }))
    }
}

struct EchoModel {
    signature: ModelSignature,
    /// Each input's name and its output's.
    pairs: Vec<(String, String)>,
    gain: f32,
    offset: f32,
}

impl LoadedModel for EchoModel {
    fn signature(&self) -> &ModelSignature {
        &self.signature
    }

    fn execution_provider(&self) -> &str {
        "echo-cpu"
    }

    fn intra_op_threads(&self) -> usize {
        1
    }

    fn parameters(&self) -> Vec<(String, String)> {
        vec![("echo_offset".to_string(), self.offset.to_string())]
    }

    fn infer(
        &self,
        inputs: &[NamedTensor],
        outputs: &[String],
    ) -> Result<Vec<NamedTensor>, BackendError> {
        outputs
            .iter()
            .map(|output| {
                let (input, _) = self
                    .pairs
                    .iter()
                    .find(|(_, o)| o == output)
                    .ok_or_else(|| BackendError::Inference(format!("no output '{output}'")))?;
                let tensor = inputs
                    .iter()
                    .find(|t| &t.name == input)
                    .ok_or_else(|| BackendError::Inference(format!("no input '{input}'")))?;
                let TensorData::Fp32(values) = tensor.tensor.data() else {
                    return Err(BackendError::Inference("echo takes FP32".into()));
                };
                let echoed = values.iter().map(|v| v * self.gain + self.offset).collect();
                let tensor = Tensor::new(tensor.tensor.shape().to_vec(), TensorData::Fp32(echoed))
                    .map_err(|e| BackendError::Inference(e.to_string()))?;
                Ok(NamedTensor::new(output.clone(), tensor))
            })
            .collect()
    }
}
