//! The engine assembled: the repository, the inference path with its threads, model control,
//! the request-body budget and the metrics, built from the engine's settings, and the initial
//! load of the repository. This is what a front end is given.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_vision::{ImageLimits, Overrides};

use crate::admission::Deadline;
use crate::backends::Backends;
use crate::body_memory::BodyMemory;
use crate::camera;
use crate::config::{ControlMode, InferenceConfig, LimitsConfig};
use crate::container::ContainerLimits;
use crate::describe::{self, ModelConfiguration, ModelDescription, VersionStatistics};
use crate::error::EngineError;
use crate::images::ImageAnswer;
use crate::inference::{Admitted, Decode, Encode, InferenceService};
use crate::memory::MemoryBudget;
use crate::metrics::{LiveSources, Metrics};
use crate::model_control::{ControlSetup, IndexEntry, LoadTarget, ModelControl, UnloadTarget};
use crate::repository::{LoadDefaults, ModelRepository, ServedModel};
use crate::request_metrics::{RequestMetrics, Route};
use crate::status::{self, EngineStatus, StatusHistory, StatusSources};
use crate::upstream::{UpstreamCollector, Upstreams};
use outpost_core::{RecordSink, RemoteConnector, UpstreamConfig};
use prometheus_client::collector::Collector;

/// What the engine is built from.
pub struct EngineSettings {
    /// Directory holding `<model>/<version>/model.onnx`.
    pub model_repository: PathBuf,
    /// `none`, `explicit` or `poll`.
    pub control_mode: ControlMode,
    /// Between repository scans in `poll` mode.
    pub poll_interval: Duration,
    /// The bearer token control requests must present, if any.
    pub control_token: Option<String>,
    /// Bounds on what one request may ask for.
    pub limits: LimitsConfig,
    /// How requests are executed.
    pub inference: InferenceConfig,
    /// Whether to keep the Prometheus registry.
    pub metrics_enabled: bool,
    /// Makes the clients of models' upstreams (`[upstream]` in model.toml); without one, a
    /// model with an upstream fails to load.
    pub upstream_connector: Option<Arc<dyn RemoteConnector>>,
    /// The server configuration's `[upstream]`: every model's `model.toml` is read over it.
    pub server_upstream: Option<UpstreamConfig>,
    /// Where answers of models with `forward` set are recorded; without one, such a model
    /// fails to load.
    pub outbox: Option<Arc<dyn RecordSink>>,
    /// What `/metrics` shows besides the engine's own (the outbox's figures).
    pub extra_metrics: Vec<Box<dyn Collector>>,
}

/// The engine: everything the front ends call, as its methods.
pub struct Engine {
    /// The one request path, and the served models behind it.
    inference: InferenceService,
    /// Model load, unload and the repository index, with their token.
    control: Arc<ModelControl>,
    /// `None` when metrics are off.
    metrics: Option<Metrics>,
    budget: MemoryBudget,
    poll_interval: Option<Duration>,
    /// The container's limits, for the status page's memory figures.
    container: ContainerLimits,
    /// The status page's series, sampled when it reads.
    history: StatusHistory,
}

/// How the initial load went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadSummary {
    /// Model directories found.
    pub models: usize,
    /// Those with a ready version.
    pub ready: usize,
}

impl Engine {
    /// Builds the engine on `backends`, within `budget`, sizing its threads from `container`.
    /// No model is loaded yet ([`Engine::load_repository`]).
    pub fn new(
        settings: EngineSettings,
        container: &ContainerLimits,
        budget: MemoryBudget,
        backends: Backends,
    ) -> std::io::Result<Engine> {
        let cpus = container.cpus();
        let repository = Arc::new(ModelRepository::new());
        let request_metrics = RequestMetrics::default();
        let upstreams = Arc::new(Upstreams::new(
            settings.upstream_connector,
            settings.server_upstream,
        ));
        let inference = InferenceService::new(
            repository.clone(),
            settings.inference.max_concurrent_requests(cpus),
            ImageLimits {
                max_bytes: settings.limits.max_image_bytes,
                max_pixels: settings.limits.max_image_pixels,
            },
            settings.inference.retry_after_secs,
            settings.outbox.clone(),
        )?;
        let metrics = settings.metrics_enabled.then(|| {
            Metrics::new(
                &request_metrics,
                LiveSources {
                    repository: repository.clone(),
                    container: container.clone(),
                    executor: inference.executor_load(),
                    memory_budget_bytes: budget.budget_bytes(),
                    request_bodies: budget.bodies().clone(),
                    runtime_gauges: backends.gauge_reader(),
                },
                UpstreamCollector(upstreams.clone()),
                settings.extra_metrics,
            )
        });
        let control = Arc::new(ModelControl::new(ControlSetup {
            mode: settings.control_mode,
            root: settings.model_repository,
            backends,
            defaults: LoadDefaults {
                cpus,
                intra_op_threads: settings.inference.default_intra_op_threads(cpus),
                parallel_idle_release: Duration::from_millis(
                    settings.inference.parallel_sessions_idle_release_ms,
                ),
                admission_capacity: settings.inference.max_concurrent_requests(cpus)
                    + settings.inference.max_queued_requests_per_model,
            },
            budget: budget.clone(),
            repository,
            token: settings.control_token,
            metrics: request_metrics,
            upstreams,
            outbox_open: settings.outbox.is_some(),
        }));
        let poll_interval =
            (settings.control_mode == ControlMode::Poll).then_some(settings.poll_interval);
        Ok(Engine {
            inference,
            control,
            metrics,
            budget,
            poll_interval,
            container: container.clone(),
            history: StatusHistory::default(),
        })
    }

    /// Room for request bodies within the memory budget.
    pub fn request_bodies(&self) -> &Arc<BodyMemory> {
        self.budget.bodies()
    }

    /// Finds the model for `name` (and an optional version) and takes a place in its queue, or
    /// answers at once: unknown model, or [`EngineError::Overloaded`] when every place is taken.
    pub fn admit(
        &self,
        name: &str,
        version: Option<&str>,
        route: Route,
        deadline: Option<Deadline>,
    ) -> Result<Admitted, EngineError> {
        self.inference.admit(name, version, route, deadline)
    }

    /// Runs one admitted tensor request: `decode` turns the front end's message into a request
    /// (and what its `encode` needs), the engine checks and runs it on an inference thread, and
    /// `encode` makes the front end's answer ([`InferenceService::infer`]). The future is the
    /// request path's own, not wrapped in another.
    pub fn infer<C, T>(
        &self,
        admitted: Admitted,
        arrived: Instant,
        route: Route,
        decode: impl Decode<C>,
        encode: impl Encode<C, T>,
    ) -> impl Future<Output = Result<T, EngineError>> + '_
    where
        C: Send + 'static,
        T: Send + 'static,
    {
        self.inference
            .infer(admitted, arrived, route, decode, encode)
    }

    /// Answers one encoded image (the camera endpoint) with the admitted model's pipeline.
    pub fn answer_image(
        &self,
        admitted: Admitted,
        arrived: Instant,
        route: Route,
        image: bytes::Bytes,
        overrides: Overrides,
    ) -> impl Future<Output = Result<ImageAnswer, EngineError>> + '_ {
        camera::answer_image(&self.inference, admitted, arrived, route, image, overrides)
    }

    /// The model version serving `name` (and an optional version).
    pub fn lookup(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Arc<ServedModel>, EngineError> {
        self.inference.lookup(name, version)
    }

    /// A model's metadata: its versions, platform, inputs and outputs.
    pub fn model_metadata(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<ModelDescription, EngineError> {
        describe::model_metadata(&self.inference, name, version)
    }

    /// A served version's configuration, in Triton's terms.
    pub fn model_config(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<ModelConfiguration, EngineError> {
        Ok(describe::model_config(self.lookup(name, version)?.as_ref()))
    }

    /// Request statistics: every model's, one model's, or one version's.
    pub fn statistics(
        &self,
        name: Option<&str>,
        version: Option<&str>,
    ) -> Result<Vec<VersionStatistics>, EngineError> {
        describe::statistics(&self.inference, name, version)
    }

    /// Whether every model has a ready version (strict readiness).
    pub fn all_ready(&self) -> bool {
        self.inference.repository().all_ready()
    }

    /// How models are loaded and unloaded after start.
    pub fn control_mode(&self) -> ControlMode {
        self.control.mode()
    }

    /// Whether a caller presenting `token` may use the control endpoints: checked before a
    /// request's parameters, so that a caller without the token learns nothing more.
    pub fn authorize(&self, token: Option<&str>) -> Result<(), EngineError> {
        Ok(self.control.authorize(token)?)
    }

    /// The repository index, for a caller presenting `token`.
    pub async fn repository_index(
        &self,
        token: Option<&str>,
        ready_only: bool,
    ) -> Result<Vec<IndexEntry>, EngineError> {
        self.control.authorized_index(token, ready_only).await
    }

    /// Loads model `name` (or one version) for a caller presenting `token`.
    pub async fn load_model(
        &self,
        token: Option<&str>,
        name: String,
        target: LoadTarget,
    ) -> Result<(), EngineError> {
        self.control.authorized_load(token, name, target).await
    }

    /// Unloads model `name` (or one version) for a caller presenting `token`.
    pub async fn unload_model(
        &self,
        token: Option<&str>,
        name: String,
        target: UnloadTarget,
    ) -> Result<(), EngineError> {
        self.control.authorized_unload(token, name, target).await
    }

    /// What the status page shows of the engine: models, versions and their series, the
    /// inference threads and the memory budget. Read-only; takes a sample for the series.
    pub fn status(&self) -> EngineStatus {
        status::collect(StatusSources {
            control_mode: self.control.mode().as_str(),
            control_token_required: self.control.token_required(),
            entries: self.inference.repository().entries(),
            departed: self.control.departed(),
            executor: self.inference.executor_load(),
            budget: &self.budget,
            container: &self.container,
            history: &self.history,
        })
    }

    /// The Prometheus exposition, `None` when metrics are off.
    pub fn render_metrics(&self) -> Option<String> {
        self.metrics.as_ref().map(Metrics::render)
    }

    /// Loads every model of the repository off the async runtime; in `poll` mode, then follows
    /// the repository until the process exits. A failed scan is logged, and leaves no model.
    pub async fn load_repository(&self) -> LoadSummary {
        let loader = self.control.clone();
        match tokio::task::spawn_blocking(move || loader.load_all()).await {
            Ok(Err(e)) => tracing::error!(error = %e, "model repository scan failed"),
            Err(e) => tracing::error!(error = %e, "model repository load panicked"),
            Ok(Ok(())) => {}
        }
        let entries = self.inference.repository().entries();
        let summary = LoadSummary {
            models: entries.len(),
            ready: entries
                .iter()
                .filter(|e| e.ready().next().is_some())
                .count(),
        };
        if let Some(interval) = self.poll_interval {
            // Runs until the process exits.
            let _poller = self.control.spawn_poller(interval);
        }
        summary
    }
}
