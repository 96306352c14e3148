//! Serving a router over HTTP/1.1 on a listener (plain TCP or TLS) under the connection limits:
//! the accept loop takes a place under the cap before each accept, each connection runs in its
//! own task with its I/O under its deadlines ([`GuardedIo`]) and its requests tracked and their
//! bodies paced; on stop, accepting ends, every connection finishes its request in flight and
//! closes, and this returns once all have.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response};
use axum::Router;
use futures_util::future::BoxFuture;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower_service::Service;

use super::activity::Activity;
use super::guarded_io::GuardedIo;
use super::requests::{AnswerBody, BodyPace, InFlight};
use super::{ConnectionLimits, ConnectionStats, ListenerKind};

/// Where one listener's connections are counted and what they are held to.
#[derive(Debug, Clone)]
pub struct Governance {
    /// The limits.
    pub limits: ConnectionLimits,
    /// The counts /metrics shows.
    pub stats: Arc<ConnectionStats>,
    /// Which listener this is.
    pub listener: ListenerKind,
}

impl Governance {
    /// A place under the listener's cap, counting a wait when none is free at once.
    pub(super) async fn place(&self, places: &Arc<Semaphore>) -> OwnedSemaphorePermit {
        if let Ok(place) = places.clone().try_acquire_owned() {
            return place;
        }
        self.stats.waited_for_place(self.listener);
        places
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }
}

/// Serves `router` on `listener` until `stop` completes, then waits for open connections to
/// finish their requests in flight.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    governance: Governance,
    stop: impl Future<Output = ()> + Send,
) where
    L: axum::serve::Listener,
    L::Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let places = Arc::new(Semaphore::new(governance.limits.max_connections));
    let pace = BodyPace::new(
        governance.limits.clone(),
        governance.stats.clone(),
        governance.listener,
    );
    // Every connection task holds a receiver of `all_closed`; `closed()` resolves once all have
    // ended. `stopping` tells them to finish.
    let (all_closed, connection_open) = watch::channel(());
    let (stopping, stop_signal) = watch::channel(false);
    let mut stop = pin!(stop);
    loop {
        let place = tokio::select! {
            place = governance.place(&places) => place,
            () = &mut stop => break,
        };
        let (io, _peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let activity = Arc::new(Activity::new(false));
        let io = GuardedIo::new(
            io,
            activity.clone(),
            governance.limits.clone(),
            governance.stats.clone(),
            governance.listener,
            place,
        );
        let service = ConnectionService {
            router: router.clone(),
            activity,
            pace: pace.clone(),
        };
        let mut stop_signal = stop_signal.clone();
        let open = connection_open.clone();
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
            let mut connection = pin!(connection);
            let told_to_stop = async move {
                let _ = stop_signal.wait_for(|stop| *stop).await;
            };
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = told_to_stop => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(open);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    drop(connection_open);
    all_closed.closed().await;
}

/// One connection's view of the router: each request in flight until its answer went out,
/// its body paced.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    activity: Arc<Activity>,
    pace: BodyPace,
}

impl Service<Request<Incoming>> for ConnectionService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::start(self.activity.clone());
        let request = request.map(|body| Body::new(self.pace.apply(body)));
        let answer = self.router.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| Body::new(AnswerBody::new(body, in_flight))))
        })
    }
}
