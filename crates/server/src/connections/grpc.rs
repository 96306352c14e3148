//! The gRPC listener under the connection limits, for tonic: [`incoming`] turns accepted
//! connections (plain or TLS) into a stream that takes a place under the cap before each one and
//! puts each under its deadlines ([`GuardedIo`]); [`TrackRequestsLayer`] marks each call in
//! flight until its answer went out and paces its request body. HTTP/2 framing between calls
//! (pings, window updates) never counts as a request head.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{Request, Response};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tower_layer::Layer;
use tower_service::Service;

use super::activity::Activity;
use super::guarded_io::{ConnectionHandle, GuardedIo};
use super::http::Governance;
use super::requests::{AnswerBody, BodyPace, InFlight};

/// `connections` (accepted one at a time) each under a place of the cap and its deadlines.
pub fn incoming<IO, S>(
    connections: S,
    governance: Governance,
) -> impl Stream<Item = std::io::Result<GuardedIo<IO>>> + Send + 'static
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Stream<Item = std::io::Result<IO>> + Send + Unpin + 'static,
{
    let places = Arc::new(Semaphore::new(governance.limits.max_connections));
    futures_util::stream::unfold(
        (connections, governance, places),
        |(mut connections, governance, places)| async move {
            use futures_util::StreamExt;
            let place = governance.place(&places).await;
            let next = connections.next().await?;
            let guarded = next.map(|io| {
                GuardedIo::new(
                    io,
                    Arc::new(Activity::new(true)),
                    governance.limits.clone(),
                    governance.stats.clone(),
                    governance.listener,
                    place,
                )
            });
            Some((guarded, (connections, governance, places)))
        },
    )
}

/// Tracks each gRPC call on its connection (tonic puts the connection's handle in the call's
/// extensions) and paces its request body.
#[derive(Debug, Clone)]
pub struct TrackRequestsLayer {
    pace: BodyPace,
}

impl TrackRequestsLayer {
    /// Calls paced by `governance`'s limits and counted in its stats.
    pub fn new(governance: &Governance) -> TrackRequestsLayer {
        TrackRequestsLayer {
            pace: BodyPace::new(
                governance.limits.clone(),
                governance.stats.clone(),
                governance.listener,
            ),
        }
    }
}

impl<S> Layer<S> for TrackRequestsLayer {
    type Service = TrackRequests<S>;

    fn layer(&self, inner: S) -> TrackRequests<S> {
        TrackRequests {
            inner,
            pace: self.pace.clone(),
        }
    }
}

/// The service [`TrackRequestsLayer`] wraps.
#[derive(Debug, Clone)]
pub struct TrackRequests<S> {
    inner: S,
    pace: BodyPace,
}

impl<S, ResBody> Service<Request<tonic::body::Body>> for TrackRequests<S>
where
    S: Service<Request<tonic::body::Body>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: http_body::Body + Unpin,
{
    type Response = Response<AnswerBody<ResBody>>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        let Some(handle) = request.extensions().get::<ConnectionHandle>().cloned() else {
            // Every connection comes through `incoming`; without a handle nothing is tracked.
            let answer = self.inner.call(request);
            return Box::pin(async move {
                let response = answer.await?;
                Ok(response.map(AnswerBody::untracked))
            });
        };
        let in_flight = InFlight::start(handle.activity);
        let request = request.map(|body| tonic::body::Body::new(self.pace.apply(body)));
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| AnswerBody::new(body, in_flight)))
        })
    }
}
