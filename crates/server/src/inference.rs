//! The one request path into a model, shared by every front end: find the model, check the
//! request against its signature, run it on a blocking thread (never on the async runtime)
//! under a bound on concurrent executions, and pick the requested outputs.

use std::sync::Arc;

use outpost_core::{BackendError, InferRequest, InferResponse, InputError};
use thiserror::Error;
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

    /// Runs CPU-heavy `work` (decoding, inference, encoding) on a blocking thread once one of
    /// the bounded execution slots is free.
    pub async fn run_blocking<T, F>(&self, work: F) -> Result<T, InferError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = self
            .executions
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| InferError::ShuttingDown)?;
        tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(|e| InferError::Internal(format!("inference task failed: {e}")))
    }
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
