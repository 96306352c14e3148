//! Running one batch: join the requests' inputs along the batch dimension, run the model once,
//! split each output back into every request's rows, record the execution, and hand each
//! request its share.

use std::time::Instant;

use outpost_core::{BackendError, NamedTensor, Tensor};

use super::{BatchRunner, Executed, Pending};
use crate::error::EngineError;

/// Runs `batch` (at least one request, all sharing a batch key) on the calling inference
/// thread and returns what delivers the results, to be run once the thread's slot is free.
pub(super) fn execute(runner: &dyn BatchRunner, batch: Vec<Pending>) -> impl FnOnce() {
    let started = Instant::now();
    let rows: Vec<usize> = batch.iter().map(|p| p.samples).collect();
    let batch_size: usize = rows.iter().sum();
    let outputs = batch[0].outputs.clone();
    let mut replies = Vec::with_capacity(batch.len());
    let mut inputs = Vec::with_capacity(batch.len());
    for pending in batch {
        // Each request keeps its admission place until its answer is ready.
        replies.push((pending.ticket, pending.reply));
        inputs.push(pending.inputs);
    }
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_joined(runner, inputs, &outputs, &rows)
    }))
    .unwrap_or_else(|panic| {
        Err(EngineError::Internal(format!(
            "inference panicked: {}",
            crate::executor::panic_message(panic.as_ref())
        )))
    });
    let finished = Instant::now();
    if ran.is_ok() {
        runner.record_execution(batch_size, finished - started);
    }
    move || match ran {
        Ok(per_request) => {
            for ((ticket, reply), outputs) in replies.into_iter().zip(per_request) {
                let executed = Executed {
                    outputs,
                    started,
                    finished,
                };
                reply.send(Ok(executed), ticket);
            }
        }
        Err(error) => {
            let message = error.to_string();
            for (ticket, reply) in replies {
                let failed = EngineError::Backend(BackendError::Inference(message.clone()));
                reply.send(Err(failed), ticket);
            }
        }
    }
}

/// Joins the inputs of every request (each in name order, with `rows[i]` samples), runs the
/// model for `outputs`, and splits each output into the requests' rows.
fn run_joined(
    runner: &dyn BatchRunner,
    mut inputs: Vec<Vec<NamedTensor>>,
    outputs: &[String],
    rows: &[usize],
) -> Result<Vec<Vec<NamedTensor>>, EngineError> {
    if inputs.len() == 1 {
        let single = inputs.pop().expect("one request");
        return Ok(vec![runner.run(single, outputs)?]);
    }
    let names: Vec<String> = inputs[0].iter().map(|i| i.name.clone()).collect();
    let mut columns: Vec<Vec<Tensor>> = names.iter().map(|_| Vec::new()).collect();
    for request in inputs {
        for (column, input) in columns.iter_mut().zip(request) {
            column.push(input.tensor);
        }
    }
    let joined = names
        .into_iter()
        .zip(columns)
        .map(|(name, parts)| Ok(NamedTensor::new(name, Tensor::concat_batch(parts)?)))
        .collect::<Result<Vec<_>, outpost_core::BatchError>>()
        .map_err(|e| EngineError::Internal(format!("cannot join the batch: {e}")))?;
    let results = runner.run(joined, outputs)?;
    let mut per_request: Vec<Vec<NamedTensor>> = rows.iter().map(|_| Vec::new()).collect();
    for output in results {
        let parts = output.tensor.split_batch(rows).map_err(|e| {
            EngineError::Internal(format!("cannot split output '{}': {e}", output.name))
        })?;
        for (request, part) in per_request.iter_mut().zip(parts) {
            request.push(NamedTensor::new(output.name.clone(), part));
        }
    }
    Ok(per_request)
}
