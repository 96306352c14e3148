//! The one request path into a model, shared by every front end (REST, gRPC, the camera
//! endpoint): find the model and admit the request (or turn it away at once when the model's
//! queue is full), wait for an executor slot (off the async runtime, under a bound on concurrent
//! executions, no longer than the request's deadline), let the front end decode its request,
//! check it against the model's signature, run it, let the front end encode the answer, and
//! record the request's statistics and metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_core::{BackendError, InferRequest, InferResponse, InputError};
use outpost_protocol::{DecodeLimits, ProtocolError};
use outpost_vision::ImageLimits;
use thiserror::Error;

use crate::admission::{AdmissionTicket, Deadline};
use crate::batching::{EncodingReply, Pending};
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
    #[error("model '{model}' has {capacity} requests in flight, its limit; retry in {retry_after_secs} s")]
    Overloaded {
        model: String,
        capacity: usize,
        retry_after_secs: u64,
    },
    #[error("the request's deadline passed before it could run")]
    DeadlineExceeded,
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
    retry_after_secs: u64,
}

/// A request that has its place in a model version's queue.
pub struct Admitted {
    served: Arc<ServedModel>,
    ticket: AdmissionTicket,
    deadline: Option<Deadline>,
}

impl Admitted {
    pub fn model(&self) -> &Arc<ServedModel> {
        &self.served
    }

    /// The place in the queue and the deadline, for [`InferenceService::run_admitted`].
    pub fn into_place(self) -> (AdmissionTicket, Option<Deadline>) {
        (self.ticket, self.deadline)
    }
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
        retry_after_secs: u64,
    ) -> std::io::Result<InferenceService> {
        Ok(InferenceService {
            repository,
            executor: Executor::start(max_concurrent)?,
            limits,
            metrics,
            retry_after_secs,
        })
    }

    /// Finds the model for `name` (and an optional version) and takes a place in its queue, or
    /// answers at once: unknown model, or [`InferError::Overloaded`] when every place is taken.
    pub fn admit(
        &self,
        name: &str,
        version: Option<&str>,
        route: Route,
        deadline: Option<Deadline>,
    ) -> Result<Admitted, InferError> {
        let served = self.lookup(name, version)?;
        match served.admission.try_admit() {
            Some(ticket) => Ok(Admitted {
                served,
                ticket,
                deadline,
            }),
            None => {
                self.metrics
                    .record_rejected(&served.name, served.version, route, "queue_full");
                Err(InferError::Overloaded {
                    model: served.name.clone(),
                    capacity: served.admission.capacity(),
                    retry_after_secs: self.retry_after_secs,
                })
            }
        }
    }

    /// The inference threads.
    #[cfg(test)]
    pub(crate) fn executor(&self) -> &Executor {
        &self.executor
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

    /// Runs one admitted request: `decode` turns the front end's message into an
    /// [`InferRequest`] plus whatever the front end needs to encode the answer (`C`), the request
    /// is checked and run, and `encode` turns the response into the front end's answer. Decoding,
    /// inference and encoding all happen on an executor thread. `arrived` is when the front end
    /// received the request; `route` names its front end in the metrics and the debug log. A
    /// request whose deadline passes while it waits is answered with
    /// [`InferError::DeadlineExceeded`] and never runs.
    pub async fn infer<C, T>(
        &self,
        admitted: Admitted,
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
        let Admitted {
            served,
            ticket,
            deadline,
        } = admitted;
        if served.batcher.is_some() {
            return self
                .infer_batched(served, ticket, deadline, arrived, route, decode, encode)
                .await;
        }
        let stats_model = served.clone();
        let job = move || -> Result<(T, Timeline), InferError> {
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
        };
        let ran = self.run_admitted(ticket, deadline, job).await;
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
                );
                self.metrics.record_execution(
                    &stats_model.name,
                    stats_model.version,
                    timeline.batch_size,
                );
                log_request(route.protocol, &stats_model.name, total, stages);
                Ok(answer)
            }
            Err(error) => {
                self.record_failure(&stats_model, route, arrived, &error);
                Err(error)
            }
        }
    }

    /// [`InferenceService::infer`] for a version with a dynamic batcher: the request is decoded
    /// and checked on an executor thread, then waits in the version's batch queue; the thread
    /// that runs its batch encodes its answer.
    #[allow(clippy::too_many_arguments)]
    async fn infer_batched<C, T>(
        &self,
        served: Arc<ServedModel>,
        ticket: AdmissionTicket,
        deadline: Option<Deadline>,
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
        let model = served.clone();
        let prepare = move || -> Result<_, InferError> {
            let started = Instant::now();
            let (mut request, context) = decode(limits)?;
            let outputs = check_request(&model, &mut request, limits.images)?;
            let samples = batch_size(&model, &request);
            Ok((request, context, outputs, samples, started, Instant::now()))
        };
        let prepared = within(deadline, self.run_blocking(prepare))
            .await
            .and_then(|prepared| prepared);
        let (request, context, outputs, samples, started, decoded) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                self.record_failure(&served, route, arrived, &error);
                return Err(error);
            }
        };
        let (reply, answer) = EncodingReply::new(
            encode,
            context,
            served.name.clone(),
            served.version.to_string(),
            request.id,
        );
        let pending = Pending::new(
            request.inputs,
            outputs,
            samples as usize,
            deadline,
            ticket,
            Box::new(reply),
        );
        crate::batching::submit(&served, pending, &self.executor, &self.metrics);
        let received = within(deadline, async {
            answer.await.map_err(|_| InferError::ShuttingDown)
        })
        .await
        .and_then(|outcome| outcome);
        match received {
            Ok(encoded) => {
                let stages = StageTimes {
                    queue: started.saturating_duration_since(arrived)
                        + encoded.started.saturating_duration_since(decoded),
                    input: decoded - started,
                    infer: encoded.finished.saturating_duration_since(encoded.started),
                    output: encoded.encoded.saturating_duration_since(encoded.finished),
                };
                let total = encoded.encoded.saturating_duration_since(arrived);
                served.stats.record_request(total, stages, samples);
                self.metrics.record_success(
                    &served.name,
                    served.version,
                    route,
                    total,
                    stages.queue,
                );
                log_request(route.protocol, &served.name, total, stages);
                Ok(encoded.answer)
            }
            Err(error) => {
                self.record_failure(&served, route, arrived, &error);
                Err(error)
            }
        }
    }

    /// Counts a request that reached `served` and failed, in its statistics and the metrics.
    pub fn record_failure(
        &self,
        served: &ServedModel,
        route: Route,
        arrived: Instant,
        error: &InferError,
    ) {
        served.stats.record_failure(arrived.elapsed());
        match error {
            InferError::DeadlineExceeded => self.metrics.record_rejected(
                &served.name,
                served.version,
                route,
                "deadline_exceeded",
            ),
            _ => self
                .metrics
                .record_failure(&served.name, served.version, route),
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

    /// Runs an admitted request's `work` on an executor thread: it holds its place in the model's
    /// queue until the work ends (or is dropped unrun because its caller gave up), and a request
    /// whose deadline passes first, while waiting or just before starting, does not run.
    pub async fn run_admitted<T, F>(
        &self,
        ticket: AdmissionTicket,
        deadline: Option<Deadline>,
        work: F,
    ) -> Result<T, InferError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, InferError> + Send + 'static,
    {
        let job = move || {
            let _ticket = ticket;
            if deadline.is_some_and(|d| d.has_passed()) {
                return Err(InferError::DeadlineExceeded);
            }
            work()
        };
        within(deadline, self.run_blocking(job))
            .await
            .and_then(|r| r)
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

/// Waits for `work`, but no later than `deadline`: [`InferError::DeadlineExceeded`] then.
async fn within<T>(
    deadline: Option<Deadline>,
    work: impl std::future::Future<Output = Result<T, InferError>>,
) -> Result<T, InferError> {
    match deadline {
        Some(Deadline(at)) => tokio::time::timeout_at(at.into(), work)
            .await
            .unwrap_or(Err(InferError::DeadlineExceeded)),
        None => work.await,
    }
}

/// The outputs a request asks for: those it names, else all of the model's.
fn requested_outputs(model: &ServedModel, named: Option<Vec<String>>) -> Vec<String> {
    named.unwrap_or_else(|| {
        model
            .signature
            .outputs
            .iter()
            .map(|o| o.name.clone())
            .collect()
    })
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

/// Turns image inputs into tensors, checks `request` against the model, and answers the
/// outputs to compute (taken out of the request).
fn check_request(
    model: &ServedModel,
    request: &mut InferRequest,
    image_limits: ImageLimits,
) -> Result<Vec<String>, InferError> {
    crate::camera::expand_image_inputs(model, request, image_limits)?;
    model.signature.validate(request, model.max_batch_size)?;
    Ok(requested_outputs(model, request.outputs.take()))
}

/// Checks `request` against the model and runs it. Call from a blocking thread.
fn infer_blocking(
    model: &ServedModel,
    mut request: InferRequest,
    image_limits: ImageLimits,
) -> Result<InferResponse, InferError> {
    let output_names = check_request(model, &mut request, image_limits)?;
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

    fn one_thread_service() -> InferenceService {
        InferenceService::new(
            Arc::new(ModelRepository::new()),
            1,
            RequestLimits::default(),
            RequestMetrics::default(),
            1,
        )
        .unwrap()
    }

    #[test]
    fn a_panic_fails_only_its_request() {
        let service = one_thread_service();
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

    #[test]
    fn a_request_whose_deadline_passes_while_waiting_never_runs_and_frees_its_place() {
        use std::sync::atomic::{AtomicBool, Ordering};

        let service = one_thread_service();
        let admission = crate::admission::Admission::new(4);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let ran = Arc::new(AtomicBool::new(false));
        runtime.block_on(async {
            // The only inference thread is busy until released.
            let (busy_tx, busy_rx) = tokio::sync::oneshot::channel();
            let blocker = service.run_blocking(move || {
                busy_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            });
            let waiting = async {
                busy_rx.await.unwrap();
                let ticket = admission.try_admit().unwrap();
                let deadline = Deadline::after(Instant::now(), Duration::from_millis(30));
                let ran = ran.clone();
                let answer = service
                    .run_admitted(ticket, Some(deadline), move || {
                        ran.store(true, Ordering::SeqCst);
                        Ok(())
                    })
                    .await;
                assert!(
                    matches!(answer, Err(InferError::DeadlineExceeded)),
                    "{answer:?}"
                );
                assert_eq!(
                    admission.in_system(),
                    0,
                    "the expired request left the queue"
                );
                release_tx.send(()).unwrap();
            };
            let (blocked, ()) = tokio::join!(blocker, waiting);
            blocked.unwrap();
            // The thread is free again and the expired job was never run.
            service.run_blocking(|| ()).await.unwrap();
        });
        assert!(!ran.load(Ordering::SeqCst));
    }
}
