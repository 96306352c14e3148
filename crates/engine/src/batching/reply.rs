//! The front end's side of a batched request: where its outcome goes and how its answer is
//! encoded, on the inference thread that ran the batch.

use std::time::{Duration, Instant};

use outpost_core::InferResponse;
use tokio::sync::oneshot;

use super::{Executed, Reply};
use crate::admission::AdmissionTicket;
use crate::error::EngineError;

/// A batched request's answer, encoded, with when its execution started and ended and when
/// the encoding was done.
pub(crate) struct Encoded<T> {
    pub answer: T,
    pub started: Instant,
    pub finished: Instant,
    pub encoded: Instant,
}

/// Encodes a request's share of an execution with the front end's `encode` and sends it to the
/// waiting request.
pub(crate) struct EncodingReply<C, T, E> {
    sender: oneshot::Sender<Result<Encoded<T>, EngineError>>,
    encode: E,
    context: C,
    model_name: String,
    model_version: String,
    id: Option<String>,
}

impl<C, T, E> EncodingReply<C, T, E>
where
    C: Send + 'static,
    T: Send + 'static,
    E: FnOnce(InferResponse, C, Duration) -> T + Send + 'static,
{
    /// A reply for the request `id` to `model_name` version `model_version`, and where the
    /// waiting request receives it.
    pub(crate) fn new(
        encode: E,
        context: C,
        model_name: String,
        model_version: String,
        id: Option<String>,
    ) -> (Self, oneshot::Receiver<Result<Encoded<T>, EngineError>>) {
        let (sender, receiver) = oneshot::channel();
        let reply = EncodingReply {
            sender,
            encode,
            context,
            model_name,
            model_version,
            id,
        };
        (reply, receiver)
    }
}

impl<C, T, E> Reply for EncodingReply<C, T, E>
where
    C: Send + 'static,
    T: Send + 'static,
    E: FnOnce(InferResponse, C, Duration) -> T + Send + 'static,
{
    fn is_abandoned(&self) -> bool {
        self.sender.is_closed()
    }

    fn send(self: Box<Self>, outcome: Result<Executed, EngineError>, ticket: AdmissionTicket) {
        let EncodingReply {
            sender,
            encode,
            context,
            model_name,
            model_version,
            id,
        } = *self;
        let encoded = outcome.and_then(|executed| {
            let response = InferResponse {
                model_name,
                model_version,
                id,
                outputs: executed.outputs,
                served_by: outpost_core::ServedBy::Local,
            };
            let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                encode(response, context, executed.finished - executed.started)
            }))
            .map_err(|panic| {
                EngineError::Internal(format!(
                    "encoding the answer panicked: {}",
                    crate::executor::panic_message(panic.as_ref())
                ))
            })?;
            Ok(Encoded {
                answer,
                started: executed.started,
                finished: executed.finished,
                encoded: Instant::now(),
            })
        });
        drop(ticket);
        let _ = sender.send(encoded);
    }
}
