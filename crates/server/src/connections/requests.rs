//! A connection's requests as its deadlines see them: each request counts as in flight from
//! its head until its answer's body is handed over whole (or given up), and its body must keep
//! to a minimum pace: it may take the body timeout plus one second for every
//! `body_min_bytes_per_sec` bytes that arrived (Apache's mod_reqtimeout rule), else reading it
//! fails with [`BodyTooSlow`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use super::activity::{Activity, TimeoutReason};
use super::{ConnectionLimits, ConnectionStats, ListenerKind};

/// A request body that arrived slower than the minimum pace; the request fails with it.
#[derive(Debug, thiserror::Error)]
#[error("request body arrived too slowly: {received} bytes in {elapsed_secs:.0} s (connections.body_timeout_secs, connections.body_min_bytes_per_sec)")]
pub struct BodyTooSlow {
    /// Bytes that had arrived.
    pub received: u64,
    /// Seconds since the body began.
    pub elapsed_secs: f64,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One request in flight on a connection; dropping it marks the request answered.
#[derive(Debug)]
pub struct InFlight {
    activity: Arc<Activity>,
}

impl InFlight {
    /// A request whose head has arrived on the connection of `activity`.
    pub fn start(activity: Arc<Activity>) -> InFlight {
        activity.request_started();
        InFlight { activity }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.activity.request_finished(Instant::now());
    }
}

/// An answer's body that keeps its request in flight until the last frame went out.
pub struct AnswerBody<B> {
    inner: B,
    in_flight: Option<InFlight>,
}

impl<B> AnswerBody<B> {
    /// `inner`, ending `in_flight` with its last frame.
    pub fn new(inner: B, in_flight: InFlight) -> AnswerBody<B> {
        AnswerBody {
            inner,
            in_flight: Some(in_flight),
        }
    }

    /// `inner` with no request to end.
    pub fn untracked(inner: B) -> AnswerBody<B> {
        AnswerBody {
            inner,
            in_flight: None,
        }
    }
}

impl<B: Body + Unpin> Body for AnswerBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.in_flight = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The pace a request body must keep.
#[derive(Debug, Clone)]
pub(super) struct BodyPace {
    limits: ConnectionLimits,
    stats: Arc<ConnectionStats>,
    listener: ListenerKind,
}

impl BodyPace {
    /// The pace `limits` set, counted in `stats` under `listener`.
    pub(super) fn new(
        limits: ConnectionLimits,
        stats: Arc<ConnectionStats>,
        listener: ListenerKind,
    ) -> BodyPace {
        BodyPace {
            limits,
            stats,
            listener,
        }
    }

    /// `body` held to this pace from now.
    pub(super) fn apply<B>(&self, body: B) -> PacedBody<B> {
        let started = Instant::now();
        PacedBody {
            inner: body,
            pace: self.clone(),
            started,
            received: 0,
            timer: Box::pin(tokio::time::sleep_until(started + self.limits.body_timeout)),
            failed: false,
        }
    }

    fn deadline(&self, started: Instant, received: u64) -> Instant {
        let earned = Duration::from_secs_f64(
            received as f64 / self.limits.body_min_bytes_per_sec.max(1) as f64,
        );
        started + self.limits.body_timeout + earned
    }
}

/// A request body under a [`BodyPace`].
pub(super) struct PacedBody<B> {
    inner: B,
    pace: BodyPace,
    started: Instant,
    received: u64,
    timer: Pin<Box<Sleep>>,
    failed: bool,
}

impl<B> Body for PacedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    let deadline = this.pace.deadline(this.started, this.received);
                    this.timer.as_mut().reset(deadline);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.failed = true;
                this.pace
                    .stats
                    .timed_out(this.pace.listener, TimeoutReason::BodyTooSlow);
                Poll::Ready(Some(Err(Box::new(BodyTooSlow {
                    received: this.received,
                    elapsed_secs: this.started.elapsed().as_secs_f64(),
                }))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `error`, or an error it wraps, is a [`BodyTooSlow`].
pub fn is_body_too_slow(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<BodyTooSlow>() {
            return true;
        }
        current = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn pace(body_timeout: Duration) -> BodyPace {
        let limits = ConnectionLimits {
            body_timeout,
            body_min_bytes_per_sec: 1000,
            ..ConnectionLimits::default()
        };
        BodyPace::new(
            limits,
            Arc::new(ConnectionStats::default()),
            ListenerKind::Http,
        )
    }

    /// A body whose chunks come from a channel, as a client sends them.
    fn channel_body() -> (
        tokio::sync::mpsc::Sender<Bytes>,
        http_body_util::StreamBody<
            impl futures_util::Stream<Item = Result<Frame<Bytes>, std::convert::Infallible>> + Unpin,
        >,
    ) {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(4);
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            let chunk = receiver.recv().await?;
            Some((Ok(Frame::data(chunk)), receiver))
        });
        (sender, http_body_util::StreamBody::new(Box::pin(stream)))
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickling_body_fails_after_the_timeout_and_what_its_bytes_earned() {
        let pace = pace(Duration::from_secs(20));
        let (sender, body) = channel_body();
        let started = Instant::now();
        tokio::spawn(async move {
            // 1 byte a second: 19 s of bytes earn 19 ms.
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if sender.send(Bytes::from_static(b"x")).await.is_err() {
                    break;
                }
            }
        });
        let Err(error) = pace.apply(body).collect().await else {
            panic!("a body at 1 byte a second was not cut");
        };
        assert!(is_body_too_slow(error.as_ref()), "{error}");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(20) && took < Duration::from_millis(20_100),
            "{took:?}"
        );
        let stats = &pace.stats;
        assert_eq!(
            stats.timeouts(ListenerKind::Http, TimeoutReason::BodyTooSlow),
            1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_large_body_at_a_steady_pace_earns_its_time() {
        let pace = pace(Duration::from_secs(2));
        let (sender, body) = channel_body();
        tokio::spawn(async move {
            // 64 KiB a second for 10 s: far past the 2 s, well above 1000 bytes a second.
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                sender.send(Bytes::from(vec![0u8; 65536])).await.unwrap();
            }
        });
        let collected = pace.apply(body).collect().await.expect("whole body");
        assert_eq!(collected.to_bytes().len(), 655_360);
    }
}
