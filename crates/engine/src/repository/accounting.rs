//! The one place where a served version's work is counted: each answered, failed or refused
//! request and each model execution goes into the version's statistics (the V2 statistics
//! endpoints) and the Prometheus metrics together, whichever front end or path it came by.

use std::time::{Duration, Instant};

use outpost_core::{BackendError, NamedTensor, ServedBy};

use super::ServedModel;
use crate::batching::BatchRunner;
use crate::error::EngineError;
use crate::request_metrics::Route;
use crate::statistics::StageTimes;

impl ServedModel {
    /// An answered request of `samples` inferences that took `total` from arrival, spent as
    /// `stages`. Its execution is counted apart ([`ServedModel::record_execution`]), since one
    /// execution may answer several requests.
    /// `served_by` says whether the local model or the upstream answered.
    pub fn record_request(
        &self,
        route: Route,
        served_by: ServedBy,
        total: Duration,
        stages: StageTimes,
        samples: u64,
    ) {
        self.stats.record_request(total, stages, samples);
        self.metrics.record_success(
            &self.name,
            self.version,
            route,
            served_by,
            total,
            stages.queue,
        );
        tracing::debug!(
            model = %self.name,
            front_end = route.protocol,
            endpoint = route.endpoint,
            served_by = served_by.as_str(),
            queue_us = stages.queue.as_micros() as u64,
            decode_us = stages.input.as_micros() as u64,
            infer_us = stages.infer.as_micros() as u64,
            encode_us = stages.output.as_micros() as u64,
            total_us = total.as_micros() as u64,
            "inference request"
        );
    }

    /// One run of the model over `batch_size` samples; `stages` holds the times known for it.
    pub fn record_execution(&self, batch_size: u64, stages: StageTimes) {
        self.stats.record_execution(batch_size, stages);
        self.metrics
            .record_execution(&self.name, self.version, batch_size);
    }

    /// A request that reached this version and failed with `error`.
    pub fn record_failure(&self, route: Route, arrived: Instant, error: &EngineError) {
        self.stats.record_failure(arrived.elapsed());
        match error {
            EngineError::DeadlineExceeded => {
                self.metrics
                    .record_rejected(&self.name, self.version, route, "deadline_exceeded");
            }
            _ => self.metrics.record_failure(&self.name, self.version, route),
        }
    }

    /// A request turned away before it took a place (`reason` labels the metric).
    pub fn record_rejected(&self, route: Route, reason: &'static str) {
        self.metrics
            .record_rejected(&self.name, self.version, route, reason);
    }
}

impl BatchRunner for ServedModel {
    fn run(
        &self,
        inputs: Vec<NamedTensor>,
        outputs: &[String],
    ) -> Result<Vec<NamedTensor>, BackendError> {
        self.model.infer(&inputs, outputs)
    }

    fn record_execution(&self, batch_size: usize, infer: Duration) {
        let stages = StageTimes {
            infer,
            ..StageTimes::default()
        };
        ServedModel::record_execution(self, batch_size as u64, stages);
    }
}
