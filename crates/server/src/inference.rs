//! The one request path into a model, shared by every front end: find the model, check the
//! request against its signature, run it off the async runtime under a bound on concurrent
//! executions, and pick the requested outputs.

use std::sync::Arc;

use outpost_core::{BackendError, InferRequest, InferResponse, InputError};
use thiserror::Error;
use tokio::runtime::RuntimeFlavor;
use tokio::sync::Semaphore;

use crate::repository::{LookupError, ModelRepository, ServedModel};

/// Why an inference did not produce an answer.
#[derive(Debug, Error)]
pub enum InferError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

/// Shared state of the inference path.
pub struct InferenceService {
    repository: Arc<ModelRepository>,
    executions: Arc<Semaphore>,
}

impl InferenceService {
    pub fn new(repository: Arc<ModelRepository>, max_concurrent: usize) -> InferenceService {
        InferenceService {
            repository,
            executions: Arc::new(Semaphore::new(max_concurrent.max(1))),
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

    /// Runs CPU-heavy `work` (decoding, inference, encoding) off the async runtime once one of
    /// the bounded execution slots is free.
    ///
    /// On a multi-threaded runtime the work runs on the current thread through
    /// [`tokio::task::block_in_place`], which first hands this worker's other tasks to another
    /// thread: the runtime keeps serving, and the request pays no thread hand-off before or
    /// after its inference. Elsewhere it goes to the blocking pool. A panic in `work` becomes an
    /// error for this request only.
    pub async fn run_blocking<T, F>(&self, work: F) -> Result<T, InferError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _permit = self
            .executions
            .acquire()
            .await
            .map_err(|_| InferError::ShuttingDown)?;
        let guarded = move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .map_err(|panic| InferError::Internal(panic_message(panic.as_ref())))
        };
        match tokio::runtime::Handle::current().runtime_flavor() {
            RuntimeFlavor::MultiThread => tokio::task::block_in_place(guarded),
            _ => tokio::task::spawn_blocking(guarded)
                .await
                .map_err(|e| InferError::Internal(format!("inference task failed: {e}")))?,
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".to_string());
    format!("inference panicked: {detail}")
}

/// Checks `request` against the model and runs it. Call from a blocking thread.
pub fn infer_blocking(
    model: &ServedModel,
    request: InferRequest,
) -> Result<InferResponse, InferError> {
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

    fn service() -> InferenceService {
        InferenceService::new(Arc::new(ModelRepository::new()), 1)
    }

    #[test]
    fn work_runs_and_a_panic_fails_only_its_request_on_both_runtime_flavours() {
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let single = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for runtime in [multi, single] {
            let service = service();
            runtime.block_on(async {
                assert_eq!(service.run_blocking(|| 2 + 2).await.unwrap(), 4);
                let failed = service
                    .run_blocking(|| -> u32 { panic!("bad tensor") })
                    .await;
                match failed {
                    Err(InferError::Internal(message)) => assert!(message.contains("bad tensor")),
                    other => panic!("expected an internal error, got {other:?}"),
                }
                // The slot was released: the next request still runs.
                assert_eq!(service.run_blocking(|| 7).await.unwrap(), 7);
            });
        }
    }
}
