//! The one request path into a model, shared by every front end: find the model, check the
//! request against its signature, run it on the inference executor (off the async runtime,
//! under a bound on concurrent executions), and pick the requested outputs.

use std::sync::Arc;

use outpost_core::{BackendError, InferRequest, InferResponse, InputError};
use outpost_vision::ImageLimits;
use thiserror::Error;

use crate::executor::{Executor, ExecutorError};
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
    #[error(transparent)]
    Image(#[from] outpost_vision::VisionError),
    #[error("model '{0}' declares no image [preprocess] and [postprocess] in its model.toml")]
    NoImagePipeline(String),
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

/// Shared state of the inference path.
pub struct InferenceService {
    repository: Arc<ModelRepository>,
    executor: Executor,
}

impl InferenceService {
    /// A service whose CPU-heavy work runs on `max_concurrent` dedicated threads.
    pub fn new(
        repository: Arc<ModelRepository>,
        max_concurrent: usize,
    ) -> std::io::Result<InferenceService> {
        Ok(InferenceService {
            repository,
            executor: Executor::start(max_concurrent)?,
        })
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

/// Checks `request` against the model and runs it. Call from a blocking thread.
pub fn infer_blocking(
    model: &ServedModel,
    mut request: InferRequest,
    image_limits: ImageLimits,
) -> Result<InferResponse, InferError> {
    crate::camera::expand_image_inputs(model, &mut request, image_limits)?;
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

    #[test]
    fn a_panic_fails_only_its_request() {
        let service = InferenceService::new(Arc::new(ModelRepository::new()), 1).unwrap();
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
}
