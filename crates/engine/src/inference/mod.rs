//! The one request path into a model, shared by every front end and every kind of request (V2
//! REST and gRPC, BYTES image inputs, the camera endpoint): find the model and admit the request
//! (or turn it away at once when the model's queue is full), decide where it is answered
//! ([`Placement`]: the local model, alone or batched, or the model's upstream, see
//! [`with_upstream`]), wait for an executor slot (off the async runtime, under a bound on concurrent
//! executions, no longer than the request's deadline), let the front end decode its request,
//! check it against the model's signature, run it alone or in a dynamic batch, let the front end
//! encode the answer, and record the request once in the model's statistics and the metrics
//! ([`ServedModel::record_request`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_core::{ForwardMode, InferRequest, InferResponse, RecordSink, ServedBy};
use outpost_vision::ImageLimits;

use crate::admission::{AdmissionTicket, Deadline};
use crate::batching::{self, DynamicBatcher, EncodingReply, Pending};
use crate::error::EngineError;
use crate::executor::{Executor, ExecutorError, ExecutorLoad};
use crate::forward;
use crate::images::{expand_image_inputs, recycle_image_inputs};
use crate::repository::{ModelRepository, ServedModel};
use crate::request_metrics::Route;
use crate::statistics::StageTimes;

mod with_upstream;

/// Shared state of the inference path.
pub(crate) struct InferenceService {
    repository: Arc<ModelRepository>,
    /// Where answers of models with `forward` set are recorded.
    outbox: Option<Arc<dyn RecordSink>>,
    executor: Executor,
    image_limits: ImageLimits,
    retry_after_secs: u64,
}

/// A request that has its place in a model version's queue.
pub struct Admitted {
    served: Arc<ServedModel>,
    ticket: AdmissionTicket,
    deadline: Option<Deadline>,
}

impl Admitted {
    /// The model version the request was admitted to.
    pub fn model(&self) -> &Arc<ServedModel> {
        &self.served
    }
}

/// Where an admitted request is answered: the seam where a remote V2 endpoint can answer
/// instead of the local model (without holding an inference thread for the round trip) when
/// an upstream is configured for the model.
enum Placement {
    /// By the local model, alone, on an inference thread.
    Local,
    /// By the local model, in a batch formed by the version's dynamic batcher.
    LocalBatched(Arc<DynamicBatcher>),
    /// By the model's upstream or the local model, as its policy says
    /// ([`with_upstream`]).
    WithUpstream,
}

impl Placement {
    fn of(served: &ServedModel) -> Placement {
        match (&served.upstream, &served.batcher) {
            (Some(_), _) => Placement::WithUpstream,
            (None, Some(batcher)) => Placement::LocalBatched(batcher.clone()),
            (None, None) => Placement::Local,
        }
    }
}

/// Turns the front end's message into a request, plus what the front end needs to encode the
/// answer. Runs on an inference thread.
pub trait Decode<C>: FnOnce() -> Result<(InferRequest, C), EngineError> + Send + 'static {}
impl<C, F: FnOnce() -> Result<(InferRequest, C), EngineError> + Send + 'static> Decode<C> for F {}

/// Turns the model's response (and how long the model ran) into the front end's answer. Runs on
/// an inference thread.
pub trait Encode<C, T>: FnOnce(InferResponse, C, Duration) -> T + Send + 'static {}
impl<C, T, F: FnOnce(InferResponse, C, Duration) -> T + Send + 'static> Encode<C, T> for F {}

impl InferenceService {
    /// A service whose CPU-heavy work runs on `max_concurrent` dedicated threads.
    pub(crate) fn new(
        repository: Arc<ModelRepository>,
        max_concurrent: usize,
        image_limits: ImageLimits,
        retry_after_secs: u64,
        outbox: Option<Arc<dyn RecordSink>>,
    ) -> std::io::Result<InferenceService> {
        Ok(InferenceService {
            repository,
            outbox,
            executor: Executor::start(max_concurrent)?,
            image_limits,
            retry_after_secs,
        })
    }

    /// Finds the model for `name` (and an optional version) and takes a place in its queue, or
    /// answers at once: unknown model, or [`EngineError::Overloaded`] when every place is taken.
    pub(crate) fn admit(
        &self,
        name: &str,
        version: Option<&str>,
        route: Route,
        deadline: Option<Deadline>,
    ) -> Result<Admitted, EngineError> {
        let served = self.lookup(name, version)?;
        match served.admission.try_admit() {
            Some(ticket) => Ok(Admitted {
                served,
                ticket,
                deadline,
            }),
            None => {
                served.record_rejected(route, "queue_full");
                Err(EngineError::Overloaded {
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
    pub(crate) fn executor_load(&self) -> ExecutorLoad {
        self.executor.load()
    }

    /// The limits on images that requests carry.
    pub(crate) fn image_limits(&self) -> ImageLimits {
        self.image_limits
    }

    /// The outbox, when store-and-forward is on.
    pub(crate) fn outbox(&self) -> Option<&Arc<dyn RecordSink>> {
        self.outbox.as_ref()
    }

    /// The models being served.
    pub(crate) fn repository(&self) -> &Arc<ModelRepository> {
        &self.repository
    }

    /// The model to serve for `name` and an optional version.
    pub(crate) fn lookup(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Arc<ServedModel>, EngineError> {
        Ok(self.repository.get(name, version)?)
    }

    /// Runs one admitted request: `decode` turns the front end's message into an
    /// [`InferRequest`] plus whatever the front end needs to encode the answer (`C`), the request
    /// is checked and run, and `encode` turns the response into the front end's answer. Decoding,
    /// inference and encoding all happen on an executor thread. `arrived` is when the front end
    /// received the request; `route` names its front end in the metrics and the debug log. A
    /// request whose deadline passes while it waits is answered with
    /// [`EngineError::DeadlineExceeded`] and never runs.
    ///
    /// For a model with `forward` set, the answer's record (see [`crate::forward`]) is on disk
    /// in the outbox before the answer is returned (camera answers are recorded by
    /// [`crate::camera`], with their classes or boxes).
    pub(crate) async fn infer<C, T>(
        &self,
        admitted: Admitted,
        arrived: Instant,
        route: Route,
        decode: impl Decode<C>,
        encode: impl Encode<C, T>,
    ) -> Result<T, EngineError>
    where
        C: Send + 'static,
        T: Send + 'static,
    {
        let mode = admitted.served.config.forward;
        let outbox = match &self.outbox {
            Some(outbox) if mode != ForwardMode::None => outbox,
            _ => {
                return self
                    .place(admitted, arrived, route, None, decode, encode)
                    .await
            }
        };
        let with_inputs = mode == ForwardMode::ResultsAndInputs;
        let decode = move || {
            let (request, context) = decode()?;
            let inputs = with_inputs.then(|| forward::inputs(&request.inputs));
            Ok((request, (context, inputs)))
        };
        let encode = move |response: InferResponse, (context, inputs): (C, _), took| {
            let at_ms = forward::now_ms();
            let record = forward::record(&response, at_ms, inputs);
            (encode(response, context, took), (record, at_ms))
        };
        let (answer, (record, at_ms)) = self
            .place(admitted, arrived, route, None, decode, encode)
            .await?;
        outbox.append(record, at_ms).await;
        Ok(answer)
    }

    /// [`InferenceService::infer`] without the outbox: where the request is answered, and its
    /// accounting. `upstream_form`, when given, is what the model's upstream is sent instead
    /// of the decoded request (the camera endpoint's photo).
    pub(crate) async fn place<C, T>(
        &self,
        admitted: Admitted,
        arrived: Instant,
        route: Route,
        upstream_form: Option<InferRequest>,
        decode: impl Decode<C>,
        encode: impl Encode<C, T>,
    ) -> Result<T, EngineError>
    where
        C: Send + 'static,
        T: Send + 'static,
    {
        let served = admitted.served.clone();
        let answered = match Placement::of(&served) {
            Placement::Local => self.run_alone(admitted, arrived, decode, encode).await,
            Placement::LocalBatched(batcher) => {
                self.run_batched(admitted, batcher, arrived, decode, encode)
                    .await
            }
            Placement::WithUpstream => {
                self.run_with_upstream(admitted, arrived, upstream_form, decode, encode)
                    .await
            }
        };
        match answered {
            Ok(Answered {
                answer,
                total,
                stages,
                samples,
                served_by,
            }) => {
                served.record_request(route, served_by, total, stages, samples);
                Ok(answer)
            }
            Err(error) => {
                served.record_failure(route, arrived, &error);
                Err(error)
            }
        }
    }

    /// [`InferenceService::infer`] for a version without a batcher: decode, check, run and
    /// encode in one job on an inference thread; the execution is counted here.
    async fn run_alone<C, T>(
        &self,
        admitted: Admitted,
        arrived: Instant,
        decode: impl Decode<C>,
        encode: impl Encode<C, T>,
    ) -> Result<Answered<T>, EngineError>
    where
        C: Send + 'static,
        T: Send + 'static,
    {
        let image_limits = self.image_limits;
        let Admitted {
            served,
            ticket,
            deadline,
        } = admitted;
        let job = move || -> Result<_, EngineError> {
            let _at_work = served.at_work.start();
            let started = Instant::now();
            let (request, context, outputs, samples) =
                decode_and_check(&served, decode, image_limits)?;
            let decoded = Instant::now();
            let response = InferResponse {
                outputs: served.model.infer(&request.inputs, &outputs)?,
                model_name: served.name.clone(),
                model_version: served.version.to_string(),
                id: request.id,
                served_by: ServedBy::Local,
            };
            let inferred = Instant::now();
            recycle_image_inputs(&served, request.inputs);
            let answer = encode(response, context, inferred - decoded);
            let stages = StageTimes {
                queue: started.saturating_duration_since(arrived),
                input: decoded - started,
                infer: inferred - decoded,
                output: inferred.elapsed(),
            };
            served.record_execution(samples, stages);
            Ok(Answered {
                answer,
                total: arrived.elapsed(),
                stages,
                samples,
                served_by: ServedBy::Local,
            })
        };
        self.run_admitted(ticket, deadline, job).await
    }

    /// [`InferenceService::infer`] for a version with a dynamic batcher: the request is decoded
    /// and checked on an executor thread, then waits in the version's batch queue; the thread
    /// that runs its batch encodes its answer, and the batcher counts the execution.
    async fn run_batched<C, T>(
        &self,
        admitted: Admitted,
        batcher: Arc<DynamicBatcher>,
        arrived: Instant,
        decode: impl Decode<C>,
        encode: impl Encode<C, T>,
    ) -> Result<Answered<T>, EngineError>
    where
        C: Send + 'static,
        T: Send + 'static,
    {
        let image_limits = self.image_limits;
        let Admitted {
            served,
            ticket,
            deadline,
        } = admitted;
        let model = served.clone();
        let prepare = move || -> Result<_, EngineError> {
            let _at_work = model.at_work.start();
            let started = Instant::now();
            let (request, context, outputs, samples) =
                decode_and_check(&model, decode, image_limits)?;
            Ok((request, context, outputs, samples, started, Instant::now()))
        };
        let (request, context, outputs, samples, started, decoded) =
            within(deadline, self.run_blocking(prepare)).await??;
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
        batching::submit(&batcher, served, pending, &self.executor);
        let encoded = within(deadline, async {
            answer.await.map_err(|_| EngineError::ShuttingDown)
        })
        .await??;
        Ok(Answered {
            stages: StageTimes {
                queue: started.saturating_duration_since(arrived)
                    + encoded.started.saturating_duration_since(decoded),
                input: decoded - started,
                infer: encoded.finished.saturating_duration_since(encoded.started),
                output: encoded.encoded.saturating_duration_since(encoded.finished),
            },
            total: encoded.encoded.saturating_duration_since(arrived),
            answer: encoded.answer,
            samples,
            served_by: ServedBy::Local,
        })
    }

    /// Runs an admitted request's `work` on an executor thread: it holds its place in the model's
    /// queue until the work ends (or is dropped unrun because its caller gave up), and a request
    /// whose deadline passes first, while waiting or just before starting, does not run.
    async fn run_admitted<T, F>(
        &self,
        ticket: AdmissionTicket,
        deadline: Option<Deadline>,
        work: F,
    ) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, EngineError> + Send + 'static,
    {
        let job = move || {
            let _ticket = ticket;
            if deadline.is_some_and(|d| d.has_passed()) {
                return Err(EngineError::DeadlineExceeded);
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
    pub(crate) async fn run_blocking<T, F>(&self, work: F) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.executor.run(work).await.map_err(|e| match e {
            ExecutorError::ShutDown => EngineError::ShuttingDown,
            ExecutorError::Panicked(_) => EngineError::Internal(e.to_string()),
        })
    }
}

/// An answered request: the front end's answer, the time from arrival, where it went, and its
/// samples.
struct Answered<T> {
    answer: T,
    total: Duration,
    stages: StageTimes,
    samples: u64,
    served_by: ServedBy,
}

/// Waits for `work`, but no later than `deadline`: [`EngineError::DeadlineExceeded`] then.
async fn within<T>(
    deadline: Option<Deadline>,
    work: impl std::future::Future<Output = Result<T, EngineError>>,
) -> Result<T, EngineError> {
    match deadline {
        Some(Deadline(at)) => tokio::time::timeout_at(at.into(), work)
            .await
            .unwrap_or(Err(EngineError::DeadlineExceeded)),
        None => work.await,
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

/// The front end's decoding, then [`check_request`]: the checked request, the front end's
/// context, the outputs to compute and the request's inferences. Call from an inference thread.
fn decode_and_check<C>(
    model: &ServedModel,
    decode: impl Decode<C>,
    image_limits: ImageLimits,
) -> Result<(InferRequest, C, Vec<String>, u64), EngineError> {
    let (mut request, context) = decode()?;
    let outputs = check_request(model, &mut request, image_limits)?;
    let samples = batch_size(model, &request);
    Ok((request, context, outputs, samples))
}

/// Turns image inputs into tensors, checks `request` against the model, and answers the
/// outputs to compute (those it names, else all of the model's), taken out of the request.
fn check_request(
    model: &ServedModel,
    request: &mut InferRequest,
    image_limits: ImageLimits,
) -> Result<Vec<String>, EngineError> {
    expand_image_inputs(model, request, image_limits)?;
    model.signature.validate(request, model.max_batch_size)?;
    Ok(request.outputs.take().unwrap_or_else(|| {
        model
            .signature
            .outputs
            .iter()
            .map(|o| o.name.clone())
            .collect()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_thread_service() -> InferenceService {
        InferenceService::new(
            Arc::new(ModelRepository::new()),
            1,
            ImageLimits::default(),
            1,
            None,
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
                Err(EngineError::Internal(message)) => {
                    assert!(
                        message.contains("inference panicked: bad tensor"),
                        "{message}"
                    );
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
                    matches!(answer, Err(EngineError::DeadlineExceeded)),
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
