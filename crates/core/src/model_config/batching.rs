//! Batching as a model ends up with it: the batch limit its signature allows and the
//! `[dynamic_batching]` section, checked against that limit.

use serde::{Deserialize, Serialize};

use super::{ModelConfig, ModelConfigError};
use crate::signature::ModelSignature;

/// Joining concurrent requests into one execution, as Triton's dynamic batcher does
/// (`[dynamic_batching]` in `model.toml`; only for models that take batches). Off unless the
/// section is present: on the CPU it did not pay on the machines measured (docs/benchmarks.md,
/// "Dynamic batching").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynamicBatchingConfig {
    /// `false` keeps the section's values but runs every request on its own.
    pub enabled: bool,
    /// How long the first request of a batch may wait for others to join it. 0: a batch is
    /// whatever has queued by the time an inference thread is free.
    pub max_queue_delay_microseconds: u64,
    /// Batch sizes to form when enough requests are waiting: a batch of the largest of these
    /// leaves at once, without waiting out the delay.
    pub preferred_batch_sizes: Vec<usize>,
}

impl Default for DynamicBatchingConfig {
    fn default() -> Self {
        DynamicBatchingConfig {
            enabled: true,
            max_queue_delay_microseconds: 0,
            preferred_batch_sizes: Vec::new(),
        }
    }
}

/// The longest `max_queue_delay_microseconds` accepted (one second).
pub const MAX_QUEUE_DELAY_MICROSECONDS: u64 = 1_000_000;

impl DynamicBatchingConfig {
    /// The maximum queue delay as a duration.
    pub fn max_queue_delay(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.max_queue_delay_microseconds)
    }

    pub(super) fn problems(&self) -> Option<String> {
        if self.max_queue_delay_microseconds > MAX_QUEUE_DELAY_MICROSECONDS {
            return Some(format!(
                "dynamic_batching.max_queue_delay_microseconds is {}, at most {} is accepted",
                self.max_queue_delay_microseconds, MAX_QUEUE_DELAY_MICROSECONDS
            ));
        }
        if self.preferred_batch_sizes.contains(&0) {
            return Some("dynamic_batching.preferred_batch_sizes must be at least 1".into());
        }
        None
    }
}

/// Triton's default `max_batch_size` for models whose batch dimension is variable.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 4;

impl ModelConfig {
    /// The batch limit for a model with this signature: the configured one, or Triton's default
    /// when the graph has a variable batch dimension, or 0 (no batching) when it does not.
    pub fn effective_max_batch_size(&self, signature: &ModelSignature) -> usize {
        if !signature.has_batch_dimension() {
            return 0;
        }
        self.max_batch_size.unwrap_or(DEFAULT_MAX_BATCH_SIZE)
    }

    /// The dynamic batching to apply to a version whose effective `max_batch_size` is given:
    /// `None` when the section is absent or turned off; an error when it asks for batching a
    /// model that takes no batches, or for preferred sizes beyond the maximum.
    pub fn effective_dynamic_batching(
        &self,
        max_batch_size: usize,
    ) -> Result<Option<&DynamicBatchingConfig>, ModelConfigError> {
        let Some(batching) = self.dynamic_batching.as_ref().filter(|b| b.enabled) else {
            return Ok(None);
        };
        if max_batch_size == 0 {
            return Err(ModelConfigError::Invalid(
                "[dynamic_batching] needs a model that takes batches: a variable first dimension \
                 on every input and output, and max_batch_size of at least 1"
                    .into(),
            ));
        }
        if let Some(too_big) = batching
            .preferred_batch_sizes
            .iter()
            .find(|size| **size > max_batch_size)
        {
            return Err(ModelConfigError::Invalid(format!(
                "dynamic_batching.preferred_batch_sizes has {too_big}, more than max_batch_size {max_batch_size}"
            )));
        }
        Ok(Some(batching))
    }
}
