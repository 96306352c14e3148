//! Dynamic batching (`[dynamic_batching]` in `model.toml`): requests for a model version that
//! takes batches wait in one queue, and a scheduler joins them along the batch dimension into
//! one execution, as Triton's dynamic batcher does.
//!
//! A request arrives here decoded and checked. While the queue holds requests, one scheduler
//! task runs for the version: it waits until a batch is worth forming (the maximum or the
//! largest preferred size is waiting, or the oldest request has waited
//! `max_queue_delay_microseconds`), then for a free inference thread, and only then takes the
//! batch ([`BatchPolicy::select`]), so everything that queued while the threads were busy
//! joins. The batch runs on that thread ([`execute`]) and each request gets its own rows of
//! the outputs. Requests whose deadline passed or whose caller left are dropped before a batch
//! forms. The task ends when the queue is empty; the next request starts another.

mod execute;
mod reply;
mod select;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use outpost_core::{BackendError, DataType, NamedTensor};
use tokio::sync::Notify;

use crate::admission::{AdmissionTicket, Deadline};
use crate::error::EngineError;
use crate::executor::Executor;

#[cfg(test)]
pub(crate) use reply::Encoded;
pub(crate) use reply::EncodingReply;
pub(crate) use select::BatchPolicy;

/// The model a batcher's executions run on, and where each execution is recorded: implemented
/// by the repository's served model version.
pub(crate) trait BatchRunner: Send + Sync + 'static {
    /// Runs the joined `inputs` (batch dimension first) for `outputs`.
    fn run(
        &self,
        inputs: Vec<NamedTensor>,
        outputs: &[String],
    ) -> Result<Vec<NamedTensor>, BackendError>;
    /// Counts one execution of `batch_size` samples that took `infer`.
    fn record_execution(&self, batch_size: usize, infer: Duration);
}

/// What one request gets back from the execution it took part in.
pub(crate) struct Executed {
    /// This request's rows of the requested outputs.
    pub outputs: Vec<NamedTensor>,
    /// When the execution started.
    pub started: Instant,
    /// When the execution ended.
    pub finished: Instant,
}

/// Where a request's outcome goes: implemented by the front end's waiting request.
pub(crate) trait Reply: Send {
    /// The caller no longer waits (its connection closed, or it timed out).
    fn is_abandoned(&self) -> bool;
    /// Delivers the outcome; runs on the inference thread. The request's admission `ticket` is
    /// given up once the answer is encoded, before it is delivered: a caller that sends its
    /// next request as soon as it has this answer finds its place free.
    fn send(self: Box<Self>, outcome: Result<Executed, EngineError>, ticket: AdmissionTicket);
}

/// What requests must share to run in one execution: each input's name, datatype and shape
/// beyond the batch dimension, and the outputs asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BatchKey {
    inputs: Vec<(String, DataType, Vec<usize>)>,
    outputs: Vec<String>,
}

/// A checked request waiting for its batch.
pub(crate) struct Pending {
    /// Inputs in name order, each with the batch dimension first.
    inputs: Vec<NamedTensor>,
    outputs: Vec<String>,
    samples: usize,
    key: BatchKey,
    enqueued: Instant,
    deadline: Option<Deadline>,
    /// The request's place in the model's admission bound, held until it is answered.
    ticket: AdmissionTicket,
    reply: Box<dyn Reply>,
}

impl Pending {
    /// A request of `samples` samples (its batch dimension), validated against the model,
    /// asking for `outputs`.
    pub(crate) fn new(
        mut inputs: Vec<NamedTensor>,
        outputs: Vec<String>,
        samples: usize,
        deadline: Option<Deadline>,
        ticket: AdmissionTicket,
        reply: Box<dyn Reply>,
    ) -> Pending {
        inputs.sort_by(|a, b| a.name.cmp(&b.name));
        let key = BatchKey {
            inputs: inputs
                .iter()
                .map(|input| {
                    let shape = input.tensor.shape();
                    (
                        input.name.clone(),
                        input.tensor.datatype(),
                        shape.get(1..).unwrap_or_default().to_vec(),
                    )
                })
                .collect(),
            outputs: outputs.clone(),
        };
        Pending {
            inputs,
            outputs,
            samples,
            key,
            enqueued: Instant::now(),
            deadline,
            ticket,
            reply,
        }
    }
}

/// The queue of one model version that batches.
pub(crate) struct DynamicBatcher {
    policy: BatchPolicy,
    max_queue_delay: Duration,
    state: Mutex<QueueState>,
    wake: Notify,
}

struct QueueState {
    waiting: VecDeque<Pending>,
    /// A scheduler task is running for this queue.
    scheduling: bool,
}

impl DynamicBatcher {
    pub(crate) fn new(policy: BatchPolicy, max_queue_delay: Duration) -> DynamicBatcher {
        DynamicBatcher {
            policy,
            max_queue_delay,
            state: Mutex::new(QueueState {
                waiting: VecDeque::new(),
                scheduling: false,
            }),
            wake: Notify::new(),
        }
    }

    pub(crate) fn policy(&self) -> &BatchPolicy {
        &self.policy
    }

    pub(crate) fn max_queue_delay(&self) -> Duration {
        self.max_queue_delay
    }

    /// Requests waiting for a batch now.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a request, and reports whether the caller must start the scheduler task.
    fn enqueue(&self, pending: Pending) -> bool {
        let start = {
            let mut state = self.lock();
            state.waiting.push_back(pending);
            !std::mem::replace(&mut state.scheduling, true)
        };
        self.wake.notify_one();
        start
    }

    /// Waits until a batch is worth forming. `false` when the queue has emptied: the scheduler
    /// is then marked stopped, under the same lock that [`DynamicBatcher::enqueue`] takes.
    async fn wait_until_ready(&self) -> bool {
        loop {
            let notified = self.wake.notified();
            let wait_until = {
                let mut state = self.lock();
                drop_expired(&mut state.waiting);
                let Some(oldest) = state.waiting.front() else {
                    state.scheduling = false;
                    return false;
                };
                let until = oldest.enqueued + self.max_queue_delay;
                if Instant::now() >= until || self.policy.is_full(self.joinable(&state.waiting)) {
                    return true;
                }
                until
            };
            let _ = tokio::time::timeout_at(wait_until.into(), notified).await;
        }
    }

    /// Samples the next batch would take from `waiting`.
    fn joinable(&self, waiting: &VecDeque<Pending>) -> usize {
        self.policy
            .select(candidates(waiting))
            .into_iter()
            .map(|index| waiting[index].samples)
            .sum()
    }

    /// Takes the next batch off the queue (empty when nothing is left).
    fn take_batch(&self) -> Vec<Pending> {
        let mut state = self.lock();
        drop_expired(&mut state.waiting);
        let chosen = self.policy.select(candidates(&state.waiting));
        let mut batch = Vec::with_capacity(chosen.len());
        // Remove from the back so earlier indices stay valid, then restore queue order.
        for index in chosen.into_iter().rev() {
            batch.extend(state.waiting.remove(index));
        }
        batch.reverse();
        batch
    }
}

/// Each waiting request's compatibility with the oldest one, and its samples.
fn candidates(waiting: &VecDeque<Pending>) -> impl Iterator<Item = (bool, usize)> + '_ {
    let head = waiting.front().map(|p| &p.key);
    waiting
        .iter()
        .map(move |p| (Some(&p.key) == head, p.samples))
}

/// Answers requests whose deadline has passed and forgets those whose caller left.
fn drop_expired(waiting: &mut VecDeque<Pending>) {
    if !waiting
        .iter()
        .any(|p| p.reply.is_abandoned() || p.deadline.is_some_and(|d| d.has_passed()))
    {
        return;
    }
    for pending in std::mem::take(waiting) {
        if pending.reply.is_abandoned() {
            continue;
        }
        if pending.deadline.is_some_and(|d| d.has_passed()) {
            pending
                .reply
                .send(Err(EngineError::DeadlineExceeded), pending.ticket);
            continue;
        }
        waiting.push_back(pending);
    }
}

/// Queues `pending` on `batcher` and starts its scheduler when none runs; batches run on
/// `runner`. Call from within the async runtime.
pub(crate) fn submit(
    batcher: &Arc<DynamicBatcher>,
    runner: Arc<dyn BatchRunner>,
    pending: Pending,
    executor: &Executor,
) {
    if batcher.enqueue(pending) {
        tokio::spawn(schedule(batcher.clone(), runner, executor.clone()));
    }
}

/// The scheduler of one version's queue: forms batches and hands them to inference threads
/// until the queue is empty.
async fn schedule(batcher: Arc<DynamicBatcher>, runner: Arc<dyn BatchRunner>, executor: Executor) {
    while batcher.wait_until_ready().await {
        let Ok(slot) = executor.acquire().await else {
            // Shutting down: the waiting requests are dropped, their callers told so.
            let mut state = batcher.lock();
            state.waiting.clear();
            state.scheduling = false;
            return;
        };
        let batch = batcher.take_batch();
        if batch.is_empty() {
            continue;
        }
        let runner = runner.clone();
        // On failure the executor has shut down and the batch is dropped with the job.
        let _ = executor.run_on(slot, move || execute::execute(runner.as_ref(), batch));
    }
}
