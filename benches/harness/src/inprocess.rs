//! The compute-limit baseline: the same model in ONNX Runtime sessions (or tract) inside this
//! process, driven by plain threads with no protocol, network or server in the way; and the same
//! for the camera path (the server's image pipeline around the model).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_backend_ort::{CpuArena, CpuArenaSettings, LibrarySearch, OrtBackend};
use outpost_backend_tract::TractBackend;
use outpost_core::model_config::ThreadConfig;
use outpost_core::{
    Backend, BackendError, LoadRequest, LoadedModel, ModelConfig, NamedTensor, UnlimitedMemory,
};
use outpost_vision::{ImageLimits, ImagePipeline, Overrides};

use crate::stats::Recorder;

fn load_on(
    backend: &dyn Backend,
    model_path: &Path,
    instances: usize,
    intra_op_threads: usize,
) -> Result<Arc<dyn LoadedModel>, BackendError> {
    let config = ModelConfig {
        instances: Some(instances),
        threads: ThreadConfig {
            intra_op: Some(intra_op_threads),
            inter_op: Some(1),
        },
        ..ModelConfig::default()
    };
    let model = backend.load(&LoadRequest {
        model_name: "bench",
        model_path,
        config: &config,
        scheduling: config.scheduling(instances * intra_op_threads, intra_op_threads),
        memory: Arc::new(UnlimitedMemory),
        parallel_idle_release: std::time::Duration::from_secs(60),
        at_work: outpost_core::WorkGauge::new(),
    })?;
    Ok(Arc::from(model))
}

/// A model loaded with `instances` sessions of `intra_op_threads` threads each.
pub struct InProcessModel {
    model: Arc<dyn LoadedModel>,
    /// The ONNX Runtime version loaded.
    pub ort_version: String,
    /// ONNX Runtime's shared CPU arena, when the model runs on it.
    arena: Option<Arc<CpuArena>>,
}

impl InProcessModel {
    /// Loads `model_path` on ONNX Runtime with `instances` sessions of `intra_op_threads` threads.
    pub fn load(
        model_path: &Path,
        instances: usize,
        intra_op_threads: usize,
    ) -> Result<InProcessModel, BackendError> {
        let backend = OrtBackend::new(None, LibrarySearch::ANYWHERE, CpuArenaSettings::default())?;
        let model = load_on(&backend, model_path, instances, intra_op_threads)?;
        Ok(InProcessModel {
            model,
            ort_version: backend.library().version.clone(),
            arena: backend.cpu_arena().cloned(),
        })
    }

    /// The same model on tract (one plan shared by the threads; `ort_version` is empty).
    pub fn load_tract(model_path: &Path) -> Result<InProcessModel, BackendError> {
        Ok(InProcessModel {
            model: load_on(&TractBackend::new(), model_path, 1, 1)?,
            ort_version: String::new(),
            arena: None,
        })
    }

    /// Waits (at most `limit`) until the shared CPU arena has handed back what it keeps, as it
    /// does once idle; answers at once without the arena.
    pub fn settle(&self, limit: Duration) {
        let Some(arena) = &self.arena else {
            return;
        };
        let deadline = Instant::now() + limit;
        while arena.usage().cached_bytes > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// One inference, every output computed.
    pub fn infer_once(&self, input: &NamedTensor) -> Result<(), BackendError> {
        let outputs = self.output_names();
        self.model
            .infer(std::slice::from_ref(input), &outputs)
            .map(|_| ())
    }

    fn output_names(&self) -> Vec<String> {
        self.model
            .signature()
            .outputs
            .iter()
            .map(|o| o.name.clone())
            .collect()
    }

    /// Name of the model's first input.
    pub fn input_name(&self) -> &str {
        &self.model.signature().inputs[0].name
    }

    /// Name of the model's first output.
    pub fn output_name(&self) -> &str {
        &self.model.signature().outputs[0].name
    }

    /// `threads` threads run inferences back to back for `warmup`, then for `duration`, each on
    /// the same input, as a caller that already holds it would.
    pub fn closed_loop(
        &self,
        input: &NamedTensor,
        threads: usize,
        warmup: Duration,
        duration: Duration,
    ) -> (Recorder, Duration) {
        let outputs = self.output_names();
        let infer = || {
            self.model
                .infer(std::slice::from_ref(input), &outputs)
                .map(|_| ())
                .map_err(|e| format!("inference: {e}"))
        };
        closed_loop(&infer, threads, warmup, duration)
    }

    /// The camera path on this model: `sections` (`[preprocess]` and `[postprocess]` as TOML)
    /// made into the server's image pipeline.
    pub fn camera(&self, sections: &str) -> Result<InProcessCamera, String> {
        let config: ModelConfig = toml::from_str(sections).map_err(|e| e.to_string())?;
        let preprocess = config
            .preprocess
            .as_ref()
            .ok_or("the camera sections have no [preprocess]")?;
        let pipeline = ImagePipeline::new(
            preprocess,
            config.postprocess.as_ref(),
            self.model.signature(),
            None,
            Path::new("."),
        )
        .map_err(|e| e.to_string())?;
        let outputs = pipeline
            .output_names()
            .unwrap_or_else(|| self.output_names());
        Ok(InProcessCamera {
            model: self.model.clone(),
            pipeline,
            outputs,
        })
    }
}

/// The camera path without a server: the server's image pipeline (libjpeg-turbo decode, resize,
/// packing; reading the classes) around the model, called from plain threads. What the camera
/// endpoint could reach on this machine if the protocol, the network and the load generator
/// cost nothing.
pub struct InProcessCamera {
    model: Arc<dyn LoadedModel>,
    pipeline: ImagePipeline,
    outputs: Vec<String>,
}

impl InProcessCamera {
    /// One encoded image answered: decoded, preprocessed, run and read as classes.
    pub fn answer(&self, image: &[u8]) -> Result<(), String> {
        let prepared = self
            .pipeline
            .prepare(image, ImageLimits::default(), false)
            .map_err(|e| format!("image: {e}"))?;
        let outputs = self
            .model
            .infer(std::slice::from_ref(&prepared.input), &self.outputs)
            .map_err(|e| format!("inference: {e}"))?;
        self.pipeline
            .interpret(&outputs, &prepared.geometry, &Overrides::default())
            .map_err(|e| format!("postprocess: {e}"))?;
        outpost_vision::recycle_input(prepared.input);
        Ok(())
    }

    /// `threads` threads answer `image` back to back for `warmup`, then for `duration`.
    pub fn closed_loop(
        &self,
        image: &[u8],
        threads: usize,
        warmup: Duration,
        duration: Duration,
    ) -> (Recorder, Duration) {
        closed_loop(&|| self.answer(image), threads, warmup, duration)
    }
}

/// `threads` threads call `work` back to back for `warmup`, then for `duration`: the second
/// period's latencies and its length.
fn closed_loop(
    work: &(dyn Fn() -> Result<(), String> + Sync),
    threads: usize,
    warmup: Duration,
    duration: Duration,
) -> (Recorder, Duration) {
    let run = |length: Duration| {
        let deadline = Instant::now() + length;
        let started = Instant::now();
        let recorders: Vec<Recorder> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads.max(1))
                .map(|_| {
                    scope.spawn(move || {
                        let mut recorder = Recorder::new();
                        while Instant::now() < deadline {
                            let began = Instant::now();
                            match work() {
                                Ok(()) => recorder.success(began.elapsed()),
                                Err(e) => recorder.error(e),
                            }
                        }
                        recorder
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_default())
                .collect()
        });
        let mut total = Recorder::new();
        for recorder in &recorders {
            total.merge(recorder);
        }
        (total, started.elapsed())
    };
    run(warmup);
    run(duration)
}
