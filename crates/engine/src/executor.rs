//! The inference executor: a fixed set of long-lived threads, one per execution slot, that run
//! the CPU-heavy part of a request (decoding, inference, encoding) handed over from the async
//! front ends, and a bound on how many such jobs run at once.
//!
//! Dedicated threads rather than tokio's blocking tools: `block_in_place` hands the async
//! worker's duties to another thread at every request, and that thread is then scheduled in the
//! middle of the inference on a busy CPU; the blocking pool grows and shrinks threads under
//! load. Here the async worker sleeps while the model runs, and each slot's thread stays warm.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use thiserror::Error;
use tokio::sync::{oneshot, Semaphore};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Why a job produced no result.
#[derive(Debug, Error)]
pub(crate) enum ExecutorError {
    #[error("the executor has shut down")]
    ShutDown,
    #[error("inference panicked: {0}")]
    Panicked(String),
}

/// Runs jobs on `slots` named threads, at most `slots` at a time; callers beyond that wait
/// (asynchronously) for a free slot, in arrival order. Clones share the threads.
#[derive(Clone)]
pub(crate) struct Executor {
    slots: Arc<Semaphore>,
    jobs: Sender<Job>,
    load: ExecutorLoad,
}

/// How busy an executor is, readable from elsewhere (metrics) while it runs.
#[derive(Clone)]
pub(crate) struct ExecutorLoad {
    slots: Arc<Semaphore>,
    threads: usize,
    waiting: Arc<AtomicUsize>,
}

impl ExecutorLoad {
    /// Slot threads.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// Jobs running now.
    pub(crate) fn busy(&self) -> usize {
        self.threads - self.slots.available_permits().min(self.threads)
    }

    /// Callers waiting for a free slot.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// Counts a caller as waiting until it has its slot or gives up.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn start(count: &'a AtomicUsize) -> Waiting<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Executor {
    /// Starts `slots` (at least one) threads named `outpost-infer-N`.
    pub(crate) fn start(slots: usize) -> std::io::Result<Executor> {
        let slots = slots.max(1);
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..slots {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("outpost-infer-{index}"))
                .spawn(move || run_jobs(&queue))?;
        }
        let semaphore = Arc::new(Semaphore::new(slots));
        Ok(Executor {
            load: ExecutorLoad {
                slots: semaphore.clone(),
                threads: slots,
                waiting: Arc::new(AtomicUsize::new(0)),
            },
            slots: semaphore,
            jobs,
        })
    }

    /// A handle to read this executor's load.
    pub(crate) fn load(&self) -> ExecutorLoad {
        self.load.clone()
    }

    /// Runs `work` on a slot thread once one is free and returns its result. A panic in
    /// `work` fails this job only. If the caller stops waiting, the job still finishes and its
    /// slot is released only then, so the bound always holds.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, ExecutorError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let slot = self.acquire().await?;
        let (result_tx, result_rx) = oneshot::channel();
        self.run_on(slot, move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .map_err(|panic| ExecutorError::Panicked(panic_message(panic.as_ref())));
            move || {
                let _ = result_tx.send(result);
            }
        })?;
        result_rx.await.map_err(|_| ExecutorError::ShutDown)?
    }

    /// Waits (asynchronously, in arrival order) for a free slot and holds it; the wait counts in
    /// [`ExecutorLoad::waiting`].
    pub(crate) async fn acquire(&self) -> Result<Slot, ExecutorError> {
        let _waiting = Waiting::start(&self.load.waiting);
        self.slots
            .clone()
            .acquire_owned()
            .await
            .map(|permit| Slot { _permit: permit })
            .map_err(|_| ExecutorError::ShutDown)
    }

    /// Hands `work` to a slot thread under the held `slot`, without waiting for it. `work`
    /// returns what delivers its results; the slot is freed before that runs, so that a caller
    /// sending its next job at once finds it free. `work` must not panic (catch inside it).
    pub(crate) fn run_on<F, D>(&self, slot: Slot, work: F) -> Result<(), ExecutorError>
    where
        F: FnOnce() -> D + Send + 'static,
        D: FnOnce(),
    {
        let job: Job = Box::new(move || {
            let deliver = work();
            drop(slot);
            deliver();
        });
        self.jobs.send(job).map_err(|_| ExecutorError::ShutDown)
    }
}

/// One held execution slot (see [`Executor::acquire`]); dropping it frees the slot.
pub(crate) struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// A slot thread's life: take the next job, run it, until the executor is dropped.
fn run_jobs(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(std::string::ToString::to_string)
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn jobs_run_on_named_slot_threads_and_return_their_result() {
        let executor = Executor::start(2).unwrap();
        let name = runtime()
            .block_on(executor.run(|| std::thread::current().name().map(str::to_string)))
            .unwrap();
        assert!(name.unwrap().starts_with("outpost-infer-"));
    }

    #[test]
    fn a_panic_fails_only_its_job_and_frees_its_slot() {
        let executor = Executor::start(1).unwrap();
        let runtime = runtime();
        let failed = runtime.block_on(executor.run(|| -> u32 { panic!("bad tensor") }));
        match failed {
            Err(ExecutorError::Panicked(message)) => assert!(message.contains("bad tensor")),
            other => panic!("expected a panic error, got {other:?}"),
        }
        assert_eq!(runtime.block_on(executor.run(|| 7)).unwrap(), 7);
    }

    #[test]
    fn no_more_jobs_run_at_once_than_there_are_slots() {
        let executor = Arc::new(Executor::start(2).unwrap());
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        runtime.block_on(async {
            let jobs: Vec<_> = (0..8)
                .map(|_| {
                    let (executor, running, most) =
                        (executor.clone(), running.clone(), most.clone());
                    tokio::spawn(async move {
                        executor
                            .run(move || {
                                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                                most.fetch_max(now, Ordering::SeqCst);
                                std::thread::sleep(std::time::Duration::from_millis(20));
                                running.fetch_sub(1, Ordering::SeqCst);
                            })
                            .await
                    })
                })
                .collect();
            for job in jobs {
                job.await.unwrap().unwrap();
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn an_abandoned_job_keeps_its_slot_until_it_finishes() {
        let executor = Executor::start(1).unwrap();
        let runtime = runtime();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        runtime.block_on(async {
            let abandoned = executor.run(move || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            });
            // Poll until the job has started on its thread, then drop the waiting caller.
            tokio::select! {
                _ = abandoned => panic!("the job cannot finish before it is released"),
                _ = tokio::task::spawn_blocking(move || started_rx.recv().unwrap()) => {}
            }
        });
        assert_eq!(executor.slots.available_permits(), 0);
        let load = executor.load();
        assert_eq!((load.threads(), load.busy(), load.waiting()), (1, 1, 0));
        release_tx.send(()).unwrap();
        assert_eq!(runtime.block_on(executor.run(|| 3)).unwrap(), 3);
    }

    #[test]
    fn the_load_counts_running_and_waiting_jobs() {
        let executor = Arc::new(Executor::start(1).unwrap());
        let load = executor.load();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        runtime.block_on(async {
            let holder = {
                let executor = executor.clone();
                tokio::spawn(async move { executor.run(move || release_rx.recv().unwrap()).await })
            };
            // The holder takes the one thread before the waiter is sent (spawned together, the
            // waiter could run first and finish, leaving nothing waiting).
            while load.busy() < 1 {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            let waiter = {
                let executor = executor.clone();
                tokio::spawn(async move { executor.run(|| 5).await })
            };
            while load.waiting() < 1 {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            assert_eq!((load.threads(), load.busy(), load.waiting()), (1, 1, 1));
            release_tx.send(()).unwrap();
            holder.await.unwrap().unwrap();
            assert_eq!(waiter.await.unwrap().unwrap(), 5);
        });
        assert_eq!((load.busy(), load.waiting()), (0, 0));
    }
}
