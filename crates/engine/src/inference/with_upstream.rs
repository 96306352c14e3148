//! The request path of a model with an upstream (`[upstream]` with a policy other than
//! `local`): the request is decoded and checked on an inference thread as always, then, on the
//! async runtime and holding no inference thread while it waits,
//! - `prefer_upstream`: the upstream is asked within its timeout (and the request's deadline);
//!   on an error, a timeout or an open circuit the local model answers the same decoded request;
//! - `upstream_only`: the upstream answers, or the request fails as unavailable, naming it;
//! - `prefer_local`: the local model answers; when its answer is unsure (top score under
//!   `escalate_below`) and the circuit lets it, the upstream is asked too, and its answer is
//!   used when it comes in time.
//!
//! While the circuit is open, requests of the first and last policies take exactly the local
//! path; the upstream is not asked.
//!
//! The answer is encoded on an inference thread by the front end's own encoding, and says who
//! answered ([`InferResponse::served_by`]).

use std::time::{Duration, Instant};

use outpost_core::{InferRequest, InferResponse, NamedTensor, ServedBy, UpstreamPolicy};
use outpost_vision::geometry::Geometry;
use outpost_vision::values::to_f32;
use outpost_vision::{Answer, Overrides};

use super::{decode_and_check, within, Admitted, Answered, Decode, Encode, InferenceService};
use crate::error::EngineError;
use crate::repository::ServedModel;
use crate::statistics::StageTimes;
use crate::upstream::ModelUpstream;

impl InferenceService {
    /// [`InferenceService::infer`] for a version whose `upstream` is set (and not `local`).
    pub(super) async fn run_with_upstream<C, T>(
        &self,
        admitted: Admitted,
        arrived: Instant,
        upstream_form: Option<InferRequest>,
        decode: impl Decode<C>,
        encode: impl Encode<C, T>,
    ) -> Result<Answered<T>, EngineError>
    where
        C: Send + 'static,
        T: Send + 'static,
    {
        let served = admitted.served.clone();
        let Some(upstream) = served.upstream.as_ref() else {
            return Err(EngineError::Internal("no upstream to ask".into()));
        };
        if upstream.config.policy != UpstreamPolicy::UpstreamOnly && upstream.would_skip() {
            // The circuit is open: exactly a local model's path, with no added wait.
            return self.run_local(admitted, arrived, decode, encode).await;
        }
        let image_limits = self.image_limits;
        let deadline = admitted.deadline;
        let model = served.clone();
        let prepare = move || -> Result<_, EngineError> {
            let started = Instant::now();
            let (mut request, context, outputs, samples) =
                decode_and_check(&model, decode, image_limits)?;
            request.outputs = Some(outputs);
            Ok((request, context, samples, started, Instant::now()))
        };
        let (request, context, samples, started, decoded) =
            within(deadline, self.run_blocking(prepare)).await??;
        let decoding = Decoded {
            queue: started.saturating_duration_since(arrived),
            input: decoded - started,
            finished: decoded,
            samples,
        };
        // What the upstream is sent: the decoded request, or the form the front end gave.
        let mut sent = upstream_form;
        if let Some(form) = &mut sent {
            form.id.clone_from(&request.id);
        }
        let time_left = || {
            deadline.map_or(Duration::MAX, |d| {
                d.0.saturating_duration_since(Instant::now())
            })
        };
        match upstream.config.policy {
            UpstreamPolicy::Local => Err(EngineError::Internal(
                "policy local takes the local path".into(),
            )),
            UpstreamPolicy::UpstreamOnly => {
                let response = match upstream
                    .ask(sent.as_ref().unwrap_or(&request), time_left())
                    .await
                {
                    Some(Ok(response)) => response,
                    Some(Err(error)) => return Err(unavailable(&served, upstream, error)),
                    None => return Err(unavailable(&served, upstream, CIRCUIT_OPEN)),
                };
                drop(admitted);
                self.encode_remote(response, context, encode, arrived, decoding)
                    .await
            }
            UpstreamPolicy::PreferUpstream => match upstream
                .ask(sent.as_ref().unwrap_or(&request), time_left())
                .await
            {
                Some(Ok(response)) => {
                    drop(admitted);
                    self.encode_remote(response, context, encode, arrived, decoding)
                        .await
                }
                _ => {
                    let decode = move || Ok((request, context));
                    self.run_local(admitted, arrived, decode, encode).await
                }
            },
            UpstreamPolicy::PreferLocal => {
                let escalate_below = upstream.config.escalate_below.unwrap_or(0.0);
                let kept = match sent {
                    Some(form) => form,
                    None => request.clone(),
                };
                let decode = move || Ok((request, ()));
                let keep_response =
                    |response: InferResponse, (), infer: Duration| (response, infer);
                let local = self
                    .run_local(admitted, arrived, decode, keep_response)
                    .await?;
                let (local_response, infer) = local.answer;
                let unsure = top_score(&served, &local_response.outputs, local.samples)
                    .is_some_and(|score| score < escalate_below);
                let response = if unsure {
                    match upstream.ask(&kept, time_left()).await {
                        Some(Ok(remote)) => remote,
                        _ => local_response,
                    }
                } else {
                    local_response
                };
                drop(kept);
                let served_by = response.served_by;
                let encoding_started = Instant::now();
                let answer = self
                    .run_blocking(move || encode(response, context, infer))
                    .await?;
                let mut stages = local.stages;
                stages.output += encoding_started.elapsed();
                Ok(Answered {
                    answer,
                    total: arrived.elapsed(),
                    stages,
                    samples: local.samples,
                    served_by,
                })
            }
        }
    }

    /// The local model answers a request (alone or in a batch, as the version is set up).
    async fn run_local<C, T>(
        &self,
        admitted: Admitted,
        arrived: Instant,
        decode: impl Decode<C>,
        encode: impl Encode<C, T>,
    ) -> Result<Answered<T>, EngineError>
    where
        C: Send + 'static,
        T: Send + 'static,
    {
        match admitted.served.batcher.clone() {
            Some(batcher) => {
                self.run_batched(admitted, batcher, arrived, decode, encode)
                    .await
            }
            None => self.run_alone(admitted, arrived, decode, encode).await,
        }
    }

    /// Encodes the upstream's answer on an inference thread.
    async fn encode_remote<C, T>(
        &self,
        response: InferResponse,
        context: C,
        encode: impl Encode<C, T>,
        arrived: Instant,
        decoding: Decoded,
    ) -> Result<Answered<T>, EngineError>
    where
        C: Send + 'static,
        T: Send + 'static,
    {
        let answered = Instant::now();
        let remote = answered - decoding.finished;
        let answer = self
            .run_blocking(move || encode(response, context, remote))
            .await?;
        Ok(Answered {
            answer,
            total: arrived.elapsed(),
            stages: StageTimes {
                queue: decoding.queue,
                input: decoding.input,
                infer: remote,
                output: answered.elapsed(),
            },
            samples: decoding.samples,
            served_by: ServedBy::Upstream,
        })
    }
}

/// What decoding took, for the stage times.
#[derive(Debug, Clone, Copy)]
struct Decoded {
    queue: Duration,
    input: Duration,
    /// When decoding ended: the upstream's time runs from here.
    finished: Instant,
    samples: u64,
}

const CIRCUIT_OPEN: &str =
    "its circuit is open after recent failures (it is probed until it answers again)";

fn unavailable(
    served: &ServedModel,
    upstream: &ModelUpstream,
    reason: impl std::fmt::Display,
) -> EngineError {
    EngineError::UpstreamUnavailable {
        model: served.name.clone(),
        upstream: upstream.endpoint().to_string(),
        reason: reason.to_string(),
    }
}

/// How sure an answer is: with a `[postprocess]`, the best class's (or box's) score of a
/// single-sample answer, 0 when there is none; else the largest element of the first output,
/// for a batch that of its least sure sample. `None` when the output is not numeric.
pub(crate) fn top_score(
    served: &ServedModel,
    outputs: &[NamedTensor],
    samples: u64,
) -> Option<f32> {
    if let Some(pipeline) = served.image.as_ref().filter(|p| p.has_postprocess()) {
        if samples == 1 {
            let geometry = Geometry::identity(u32::MAX, u32::MAX);
            let overrides = Overrides {
                top_k: Some(1),
                score_threshold: Some(0.0),
                ..Overrides::default()
            };
            let best = match pipeline.interpret(outputs, &geometry, &overrides).ok()? {
                Answer::Classifications(classes) => {
                    classes.iter().map(|c| c.score).fold(0.0, f32::max)
                }
                Answer::Detections(boxes) => boxes.iter().map(|b| b.score).fold(0.0, f32::max),
            };
            return Some(best);
        }
    }
    let first = outputs.first()?;
    let values = to_f32(first.tensor.data())?;
    let rows = match first.tensor.shape() {
        [n, _, ..] if *n > 0 => *n,
        _ => 1,
    };
    let per_row = values.len() / rows;
    if per_row == 0 {
        return None;
    }
    values
        .chunks(per_row)
        .map(|row| row.iter().copied().fold(f32::NEG_INFINITY, f32::max))
        .reduce(f32::min)
}
