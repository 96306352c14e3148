//! The one request path into a model, shared by every front end (REST, gRPC, the camera
//! endpoint): find the model, wait for an executor slot (off the async runtime, under a bound on
//! concurrent executions), let the front end decode its request, check it against the model's
//! signature, run it, let the front end encode the answer, and record the request's statistics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_core::{BackendError, InferRequest, InferResponse, InputError};
use outpost_protocol::{DecodeLimits, ProtocolError};
use outpost_vision::ImageLimits;
use thiserror::Error;

use crate::executor::{Executor, ExecutorError, ExecutorLoad};
use crate::metrics::{RequestMetrics, Route};
use crate::repository::{LookupError, ModelRepository, ServedModel};
use crate::statistics::StageTimes;

/// Why an inference did not produce an answer.
#[derive(Debug, Error)]
pub enum InferError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Image(#[from] outpost_vision::VisionError),
    #[error("model '{0}' declares no image [preprocess] and [postprocess] in its model.toml")]
    NoImagePipeline(String),
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

/// Limits on what one request may ask the server to decode.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestLimits {
    pub tensors: DecodeLimits,
    pub images: ImageLimits,
}

/// Shared state of the inference path.
pub struct InferenceService {
    repository: Arc<ModelRepository>,
    executor: Executor,
    limits: RequestLimits,
    metrics: RequestMetrics,
}

/// Where one request's time went, for the debug log.
struct Timeline {
    batch_size: u64,
    arrived: Instant,
    started: Instant,
    decoded: Instant,
    inferred: Instant,
    encoded: Instant,
}

impl Timeline {
    fn stages(&self) -> StageTimes {
        StageTimes {
            queue: self.started.saturating_duration_since(self.arrived),
            input: self.decoded - self.started,
            infer: self.inferred - self.decoded,
            output: self.encoded - self.inferred,
        }
    }
}

impl InferenceService {
    /// A service whose CPU-heavy work runs on `max_concurrent` dedicated threads.
    pub fn new(
        repository: Arc<ModelRepository>,
        max_concurrent: usize,
        limits: RequestLimits,
        metrics: RequestMetrics,
    ) -> std::io::Result<InferenceService> {
        Ok(InferenceService {
            repository,
            executor: Executor::start(max_concurrent)?,
            limits,
            metrics,
        })
    }

    /// How busy the inference threads are.
    pub fn executor_load(&self) -> ExecutorLoad {
        self.executor.load()
    }

    /// Where requests record their metrics.
    pub fn metrics(&self) -> &RequestMetrics {
        &self.metrics
    }

    pub fn limits(&self) -> RequestLimits {
        self.limits
    }

    /// Runs one inference request for `served`: `decode` turns the front end's message into an
    /// [`InferRequest`] plus whatever the front end needs to encode the answer (`C`), the request
    /// is checked and run, and `encode` turns the response into the front end's answer. Decoding,
    /// inference and encoding all happen on an executor thread. `arrived` is when the front end
    /// received the request; `route` names its front end in the metrics and the debug log.
    pub async fn infer<C, T>(
        &self,
        served: Arc<ServedModel>,
        arrived: Instant,
        route: Route,
        decode: impl FnOnce(RequestLimits) -> Result<(InferRequest, C), InferError> + Send + 'static,
        encode: impl FnOnce(InferResponse, C) -> T + Send + 'static,
    ) -> Result<T, InferError>
    where
        C: Send + 'static,
        T: Send + 'static,
    {
        let limits = self.limits;
        let stats_model = served.clone();
        let ran = self
            .run_blocking(move || -> Result<(T, Timeline), InferError> {
                let started = Instant::now();
                let (request, context) = decode(limits)?;
                let decoded = Instant::now();
                let batch_size = batch_size(&served, &request);
                let response = infer_blocking(&served, request, limits.images)?;
                let inferred = Instant::now();
                let answer = encode(response, context);
                let timeline = Timeline {
                    batch_size,
                    arrived,
                    started,
                    decoded,
                    inferred,
                    encoded: Instant::now(),
                };
                Ok((answer, timeline))
            })
            .await
            .and_then(|r| r);
        match ran {
            Ok((answer, timeline)) => {
                let stages = timeline.stages();
                let total = timeline.encoded - arrived;
                stats_model
                    .stats
                    .record_success(total, stages, timeline.batch_size);
                self.metrics.record_success(
                    &stats_model.name,
                    stats_model.version,
                    route,
                    total,
                    stages.queue,
                    timeline.batch_size,
                );
                log_request(route.protocol, &stats_model.name, total, stages);
                Ok(answer)
            }
            Err(error) => {
                stats_model.stats.record_failure(arrived.elapsed());
                self.metrics
                    .record_failure(&stats_model.name, stats_model.version, route);
                Err(error)
            }
        }
    }

    pub fn repository(&self) -> &Arc<ModelRepository> {
        &self.repository
    }

    /// The model to serve for `name` and an optional version.
    pub fn lookup(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Arc<ServedModel>, InferError> {
        Ok(self.repository.get(name, version)?)
    }

    /// Runs CPU-heavy `work` (decoding, inference, encoding) on one of the executor's threads
    /// once a slot is free (see [`Executor`]). A panic in `work` becomes an error for this
    /// request only.
    pub async fn run_blocking<T, F>(&self, work: F) -> Result<T, InferError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.executor.run(work).await.map_err(|e| match e {
            ExecutorError::ShutDown => InferError::ShuttingDown,
            ExecutorError::Panicked(_) => InferError::Internal(e.to_string()),
        })
    }
}

/// Inferences in one request: the leading dimension for models that batch, else one.
fn batch_size(model: &ServedModel, request: &InferRequest) -> u64 {
    if model.max_batch_size == 0 {
        return 1;
    }
    request
        .inputs
        .first()
        .and_then(|input| input.tensor.shape().first())
        .map_or(1, |n| *n as u64)
}

fn log_request(front_end: &str, model: &str, total: Duration, stages: StageTimes) {
    tracing::debug!(
        model,
        front_end,
        queue_us = stages.queue.as_micros() as u64,
        decode_us = stages.input.as_micros() as u64,
        infer_us = stages.infer.as_micros() as u64,
        encode_us = stages.output.as_micros() as u64,
        total_us = total.as_micros() as u64,
        "inference request"
    );
}

/// Checks `request` against the model and runs it. Call from a blocking thread.
fn infer_blocking(
    model: &ServedModel,
    mut request: InferRequest,
    image_limits: ImageLimits,
) -> Result<InferResponse, InferError> {
    crate::camera::expand_image_inputs(model, &mut request, image_limits)?;
    model.signature.validate(&request, model.max_batch_size)?;
    let output_names: Vec<String> = match request.outputs {
        Some(names) => names,
        None => model
            .signature
            .outputs
            .iter()
            .map(|o| o.name.clone())
            .collect(),
    };
    let outputs = model.model.infer(request.inputs, &output_names)?;
    Ok(InferResponse {
        model_name: model.name.clone(),
        model_version: model.version.to_string(),
        id: request.id,
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_fails_only_its_request() {
        let service = InferenceService::new(
            Arc::new(ModelRepository::new()),
            1,
            RequestLimits::default(),
            RequestMetrics::default(),
        )
        .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            assert_eq!(service.run_blocking(|| 2 + 2).await.unwrap(), 4);
            let failed = service
                .run_blocking(|| -> u32 { panic!("bad tensor") })
                .await;
            match failed {
                Err(InferError::Internal(message)) => {
                    assert!(
                        message.contains("inference panicked: bad tensor"),
                        "{message}"
                    )
                }
                other => panic!("expected an internal error, got {other:?}"),
            }
            assert_eq!(service.run_blocking(|| 7).await.unwrap(), 7);
        });
    }
}
