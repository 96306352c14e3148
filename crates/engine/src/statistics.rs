//! Per model-version inference statistics in Triton's shape: success and failure counts with
//! their total durations, the time requests waited for an executor slot, the time spent turning
//! the request into tensors, running the model and encoding the answer, per-batch-size figures,
//! and the time of the last inference. Every front end records through the one request path
//! ([`crate::inference`]), so REST, gRPC and the camera endpoint all count.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::latency::{LatencyCounts, LatencyHistogram};

/// A count of events and their summed duration.
#[derive(Debug, Default)]
struct DurationStat {
    count: AtomicU64,
    ns: AtomicU64,
}

impl DurationStat {
    fn add(&self, d: Duration) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.ns.fetch_add(nanos(d), Ordering::Relaxed);
    }

    fn snapshot(&self) -> DurationTotals {
        DurationTotals {
            count: self.count.load(Ordering::Relaxed),
            ns: self.ns.load(Ordering::Relaxed),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().try_into().unwrap_or(u64::MAX)
}

/// A count and its summed nanoseconds, as read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DurationTotals {
    /// How many.
    pub count: u64,
    /// Their nanoseconds, summed.
    pub ns: u64,
}

impl DurationTotals {
    fn add(&mut self, d: Duration) {
        self.count += 1;
        self.ns = self.ns.saturating_add(nanos(d));
    }
}

/// Where one successful request's time went.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    /// Waiting for an executor slot.
    pub queue: Duration,
    /// Decoding the request (or image) into the model's input tensors.
    pub input: Duration,
    /// Running the model.
    pub infer: Duration,
    /// Encoding the answer.
    pub output: Duration,
}

/// Figures for executions of one batch size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchTotals {
    /// Decoding the inputs.
    pub compute_input: DurationTotals,
    /// Running the model.
    pub compute_infer: DurationTotals,
    /// Encoding the outputs.
    pub compute_output: DurationTotals,
}

/// The statistics of one model version, updated from any thread.
#[derive(Debug, Default)]
pub(crate) struct ModelStatistics {
    success: DurationStat,
    fail: DurationStat,
    queue: DurationStat,
    compute_input: DurationStat,
    compute_infer: DurationStat,
    compute_output: DurationStat,
    inference_count: AtomicU64,
    execution_count: AtomicU64,
    last_inference_ms: AtomicU64,
    batches: Mutex<BTreeMap<u64, BatchTotals>>,
    /// Answered requests' end-to-end times, for percentiles.
    success_latency: LatencyHistogram,
}

/// A consistent-enough copy of [`ModelStatistics`] for an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatisticsSnapshot {
    /// Milliseconds since the Unix epoch of the last inference; 0 when none.
    pub last_inference_ms: u64,
    /// Inferences performed: a request of batch size n counts n.
    pub inference_count: u64,
    /// Model executions.
    pub execution_count: u64,
    /// Answered requests, from arrival to answer.
    pub success: DurationTotals,
    /// Failed requests, from arrival to failure.
    pub fail: DurationTotals,
    /// Waiting for an inference thread or a batch.
    pub queue: DurationTotals,
    /// Decoding the inputs.
    pub compute_input: DurationTotals,
    /// Running the model.
    pub compute_infer: DurationTotals,
    /// Encoding the outputs.
    pub compute_output: DurationTotals,
    /// By batch size.
    pub batches: BTreeMap<u64, BatchTotals>,
    /// Answered requests' end-to-end times, per latency bucket.
    pub success_latency: LatencyCounts,
}

impl ModelStatistics {
    /// Records a request that ran in an execution of its own: answered successfully after
    /// `total`, with `batch_size` inferences (the tests' shorthand for the two records the
    /// accounting makes).
    #[cfg(test)]
    pub(crate) fn record_success(&self, total: Duration, stages: StageTimes, batch_size: u64) {
        self.record_request(total, stages, batch_size);
        self.record_execution(batch_size, stages);
    }

    /// Records a request answered successfully after `total`, carrying `inferences` samples
    /// (its executions are recorded apart, see [`ModelStatistics::record_execution`]).
    pub(crate) fn record_request(&self, total: Duration, stages: StageTimes, inferences: u64) {
        self.success.add(total);
        self.success_latency.observe(total);
        self.queue.add(stages.queue);
        self.compute_input.add(stages.input);
        self.compute_infer.add(stages.infer);
        self.compute_output.add(stages.output);
        self.inference_count
            .fetch_add(inferences, Ordering::Relaxed);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.last_inference_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// Records one execution of the model over `batch_size` inferences, with its stage times.
    pub(crate) fn record_execution(&self, batch_size: u64, stages: StageTimes) {
        self.execution_count.fetch_add(1, Ordering::Relaxed);
        let mut batches = self
            .batches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let batch = batches.entry(batch_size).or_default();
        batch.compute_input.add(stages.input);
        batch.compute_infer.add(stages.infer);
        batch.compute_output.add(stages.output);
    }

    /// Records a request that failed after `total` (bad input, or the model failed).
    pub(crate) fn record_failure(&self, total: Duration) {
        self.fail.add(total);
    }

    /// The figures as they are now.
    pub(crate) fn snapshot(&self) -> StatisticsSnapshot {
        StatisticsSnapshot {
            last_inference_ms: self.last_inference_ms.load(Ordering::Relaxed),
            inference_count: self.inference_count.load(Ordering::Relaxed),
            execution_count: self.execution_count.load(Ordering::Relaxed),
            success: self.success.snapshot(),
            fail: self.fail.snapshot(),
            queue: self.queue.snapshot(),
            compute_input: self.compute_input.snapshot(),
            compute_infer: self.compute_infer.snapshot(),
            compute_output: self.compute_output.snapshot(),
            batches: self
                .batches
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            success_latency: self.success_latency.counts(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successes_failures_and_batch_sizes_add_up() {
        let stats = ModelStatistics::default();
        let ms = Duration::from_millis;
        let stages = StageTimes {
            queue: ms(1),
            input: ms(2),
            infer: ms(3),
            output: ms(4),
        };
        stats.record_success(ms(10), stages, 1);
        stats.record_success(ms(20), stages, 4);
        stats.record_failure(ms(5));
        let s = stats.snapshot();
        assert_eq!(
            s.success,
            DurationTotals {
                count: 2,
                ns: 30_000_000
            }
        );
        assert_eq!(
            s.fail,
            DurationTotals {
                count: 1,
                ns: 5_000_000
            }
        );
        assert_eq!(
            s.queue,
            DurationTotals {
                count: 2,
                ns: 2_000_000
            }
        );
        assert_eq!(
            s.compute_infer,
            DurationTotals {
                count: 2,
                ns: 6_000_000
            }
        );
        assert_eq!(s.inference_count, 5);
        assert_eq!(s.execution_count, 2);
        assert!(s.last_inference_ms > 0);
        assert_eq!(s.batches.keys().copied().collect::<Vec<_>>(), vec![1, 4]);
        assert_eq!(
            s.batches[&4].compute_output,
            DurationTotals {
                count: 1,
                ns: 4_000_000
            }
        );
    }
}
