//! `inference.GRPCInferenceService`: each call looks up what it needs in the shared state and
//! answers through the shared request path and descriptions.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_util::Stream;
use outpost_core::InferResponse;
use outpost_protocol::grpc::inference as pb;
use outpost_protocol::grpc::inference::grpc_inference_service_server::GrpcInferenceService;
use outpost_protocol::grpc::{decode_model_infer_request, encode_model_infer_response};
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use outpost_engine::Deadline;
use outpost_engine::EngineError;
use outpost_engine::Route;
use outpost_engine::{LoadTarget, ParameterValue, UnloadTarget};

use super::convert;
use super::status::status;
use super::timeout::parse_grpc_timeout;
use crate::about;
use crate::state::AppState;

/// The gRPC service over the server's shared state.
pub struct GrpcFrontEnd {
    state: Arc<AppState>,
}

impl GrpcFrontEnd {
    /// The service over the shared state.
    pub fn new(state: Arc<AppState>) -> GrpcFrontEnd {
        GrpcFrontEnd { state }
    }
}

/// The protocol's empty version string means "the server's choice".
fn version(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// One ModelInfer request through the shared path.
async fn infer(
    state: &AppState,
    request: pb::ModelInferRequest,
    arrived: Instant,
    deadline: Option<Deadline>,
) -> Result<pb::ModelInferResponse, Status> {
    let admitted = state
        .engine
        .admit(
            &request.model_name,
            version(&request.model_version),
            Route::GRPC_INFER,
            deadline,
        )
        .map_err(|e| status(&e))?;
    // The message is in memory already; its room is held until the answer is ready, so bodies
    // in flight stay within the budget.
    let reservation = state
        .engine
        .request_bodies()
        .reserve(request.encoded_len() as u64)
        .map_err(|e| status(&e.into()))?;
    let limits = state.decode_limits;
    let decode = move || {
        let decoded =
            decode_model_infer_request(request, limits).map_err(EngineError::bad_request)?;
        Ok((decoded, ()))
    };
    let encode = |response: InferResponse, (), _| encode_model_infer_response(response);
    let answer = state
        .engine
        .infer(admitted, arrived, Route::GRPC_INFER, decode, encode)
        .await
        .map_err(|e| status(&e));
    drop(reservation);
    answer
}

/// The call's deadline from its `grpc-timeout` header. The transport cancels the call itself when
/// that time is up (with CANCELLED); ending the wait a little earlier lets the client get
/// DEADLINE_EXCEEDED from us instead, and the request is counted as expired.
fn call_deadline<T>(request: &Request<T>, arrived: Instant) -> Option<Deadline> {
    const AHEAD_OF_TRANSPORT: std::time::Duration = std::time::Duration::from_millis(2);
    let timeout = request
        .metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)?;
    Some(Deadline::after(
        arrived,
        timeout.saturating_sub(AHEAD_OF_TRANSPORT),
    ))
}

type StreamOf<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl GrpcInferenceService for GrpcFrontEnd {
    async fn server_live(
        &self,
        _: Request<pb::ServerLiveRequest>,
    ) -> Result<Response<pb::ServerLiveResponse>, Status> {
        Ok(Response::new(pb::ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _: Request<pb::ServerReadyRequest>,
    ) -> Result<Response<pb::ServerReadyResponse>, Status> {
        Ok(Response::new(pb::ServerReadyResponse {
            ready: self.state.is_ready(),
        }))
    }

    /// An unknown or unloaded model is an answer (ready = false), not an error.
    async fn model_ready(
        &self,
        request: Request<pb::ModelReadyRequest>,
    ) -> Result<Response<pb::ModelReadyResponse>, Status> {
        let r = request.into_inner();
        let ready = self
            .state
            .engine
            .lookup(&r.name, version(&r.version))
            .is_ok();
        Ok(Response::new(pb::ModelReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        _: Request<pb::ServerMetadataRequest>,
    ) -> Result<Response<pb::ServerMetadataResponse>, Status> {
        Ok(Response::new(pb::ServerMetadataResponse {
            name: about::NAME.to_string(),
            version: about::VERSION.to_string(),
            extensions: about::extensions(),
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<pb::ModelMetadataRequest>,
    ) -> Result<Response<pb::ModelMetadataResponse>, Status> {
        let r = request.into_inner();
        let metadata = self
            .state
            .engine
            .model_metadata(&r.name, version(&r.version))
            .map_err(|e| status(&e))?;
        Ok(Response::new(convert::model_metadata(metadata)))
    }

    async fn model_infer(
        &self,
        request: Request<pb::ModelInferRequest>,
    ) -> Result<Response<pb::ModelInferResponse>, Status> {
        let arrived = Instant::now();
        let deadline = call_deadline(&request, arrived);
        infer(&self.state, request.into_inner(), arrived, deadline)
            .await
            .map(Response::new)
    }

    type ModelStreamInferStream = StreamOf<pb::ModelStreamInferResponse>;

    /// Answers each request of the stream in order; a failed request's answer carries its error
    /// and the stream goes on.
    async fn model_stream_infer(
        &self,
        request: Request<Streaming<pb::ModelInferRequest>>,
    ) -> Result<Response<Self::ModelStreamInferStream>, Status> {
        let mut incoming = request.into_inner();
        let state = self.state.clone();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            while let Some(next) = incoming.next().await {
                let answer = match next {
                    Err(status) => Err(status),
                    Ok(request) => Ok(match infer(&state, request, Instant::now(), None).await {
                        Ok(response) => pb::ModelStreamInferResponse {
                            error_message: String::new(),
                            infer_response: Some(response),
                        },
                        Err(status) => pb::ModelStreamInferResponse {
                            error_message: status.message().to_string(),
                            infer_response: None,
                        },
                    }),
                };
                let stop = answer.is_err();
                if tx.send(answer).await.is_err() || stop {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn model_config(
        &self,
        request: Request<pb::ModelConfigRequest>,
    ) -> Result<Response<pb::ModelConfigResponse>, Status> {
        let r = request.into_inner();
        let served = self
            .state
            .engine
            .model_config(&r.name, version(&r.version))
            .map_err(|e| status(&e))?;
        Ok(Response::new(pb::ModelConfigResponse {
            config: Some(convert::model_config(served)),
        }))
    }

    async fn model_statistics(
        &self,
        request: Request<pb::ModelStatisticsRequest>,
    ) -> Result<Response<pb::ModelStatisticsResponse>, Status> {
        let r = request.into_inner();
        let model = (!r.name.is_empty()).then_some(r.name.as_str());
        let stats = self
            .state
            .engine
            .statistics(model, version(&r.version))
            .map_err(|e| status(&e))?;
        Ok(Response::new(pb::ModelStatisticsResponse {
            model_stats: stats.into_iter().map(convert::model_statistics).collect(),
        }))
    }

    async fn repository_index(
        &self,
        request: Request<pb::RepositoryIndexRequest>,
    ) -> Result<Response<pb::RepositoryIndexResponse>, Status> {
        let index = self
            .state
            .engine
            .repository_index(authorization(&request), request.get_ref().ready)
            .await
            .map_err(|e| status(&e))?;
        Ok(Response::new(pb::RepositoryIndexResponse {
            models: index.into_iter().map(convert::index_entry).collect(),
        }))
    }

    async fn repository_model_load(
        &self,
        request: Request<pb::RepositoryModelLoadRequest>,
    ) -> Result<Response<pb::RepositoryModelLoadResponse>, Status> {
        let engine = &self.state.engine;
        engine
            .authorize(authorization(&request))
            .map_err(|e| status(&e))?;
        let name = request.get_ref().model_name.clone();
        let target = LoadTarget::from_parameters(control_parameters(&request.get_ref().parameters))
            .map_err(|e| status(&EngineError::from(e)))?;
        engine
            .load_model(authorization(&request), name, target)
            .await
            .map_err(|e| status(&e))?;
        Ok(Response::new(pb::RepositoryModelLoadResponse {}))
    }

    async fn repository_model_unload(
        &self,
        request: Request<pb::RepositoryModelUnloadRequest>,
    ) -> Result<Response<pb::RepositoryModelUnloadResponse>, Status> {
        let engine = &self.state.engine;
        engine
            .authorize(authorization(&request))
            .map_err(|e| status(&e))?;
        let name = request.get_ref().model_name.clone();
        let target =
            UnloadTarget::from_parameters(control_parameters(&request.get_ref().parameters))
                .map_err(|e| status(&EngineError::from(e)))?;
        engine
            .unload_model(authorization(&request), name, target)
            .await
            .map_err(|e| status(&e))?;
        Ok(Response::new(pb::RepositoryModelUnloadResponse {}))
    }
}

/// A load or unload request's parameters, as the engine reads them (bytes become a string when
/// they are UTF-8, and are otherwise refused as the unknown value they are).
fn control_parameters(
    parameters: &std::collections::HashMap<String, pb::ModelRepositoryParameter>,
) -> Vec<(String, ParameterValue)> {
    use pb::model_repository_parameter::ParameterChoice;
    parameters
        .iter()
        .map(|(name, p)| {
            let value = match &p.parameter_choice {
                Some(ParameterChoice::BoolParam(b)) => ParameterValue::Bool(*b),
                Some(ParameterChoice::Int64Param(i)) => ParameterValue::Int(*i),
                Some(ParameterChoice::StringParam(s)) => ParameterValue::String(s.clone()),
                Some(ParameterChoice::BytesParam(b)) => {
                    ParameterValue::String(String::from_utf8_lossy(b).into_owned())
                }
                None => ParameterValue::String(String::new()),
            };
            (name.clone(), value)
        })
        .collect()
}

/// The bearer token of the call's `authorization` metadata, if it has one.
fn authorization<T>(request: &Request<T>) -> Option<&str> {
    crate::bearer::bearer_token(
        request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
    )
}
