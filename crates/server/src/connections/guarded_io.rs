//! A connection's byte stream under its deadlines: reads and writes report to the connection's
//! [`Activity`], and whenever the server waits on the client (a read or a write that cannot go
//! on) a timer runs to the deadline the activity gives; once it passes, every read and write
//! fails with `TimedOut`, which makes the HTTP stack close the connection. It also holds the
//! connection's place under the listener's cap until it is dropped.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Sleep;

use super::activity::{Activity, TimeoutReason};
use super::{ConnectionLimits, ConnectionStats, ListenerKind};

/// The tracked state a connection's requests see (tonic puts it in each request's extensions).
#[derive(Debug, Clone)]
pub struct ConnectionHandle {
    /// The connection's activity.
    pub activity: Arc<Activity>,
}

/// A connection's I/O with its deadlines and its place under the cap.
pub struct GuardedIo<IO> {
    io: IO,
    activity: Arc<Activity>,
    limits: ConnectionLimits,
    stats: Arc<ConnectionStats>,
    listener: ListenerKind,
    timer: Pin<Box<Sleep>>,
    timer_deadline: Option<Instant>,
    expired: Option<TimeoutReason>,
    _place: OwnedSemaphorePermit,
}

impl<IO> GuardedIo<IO> {
    /// Wraps a connection accepted on `listener`, holding `place` under its cap.
    pub fn new(
        io: IO,
        activity: Arc<Activity>,
        limits: ConnectionLimits,
        stats: Arc<ConnectionStats>,
        listener: ListenerKind,
        place: OwnedSemaphorePermit,
    ) -> GuardedIo<IO> {
        stats.opened(listener);
        GuardedIo {
            io,
            timer: Box::pin(tokio::time::sleep_until(activity.accepted())),
            activity,
            limits,
            stats,
            listener,
            timer_deadline: None,
            expired: None,
            _place: place,
        }
    }

    /// The handle the connection's requests report to.
    pub fn handle(&self) -> ConnectionHandle {
        ConnectionHandle {
            activity: self.activity.clone(),
        }
    }

    fn timed_out(reason: TimeoutReason) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connection closed by the server: {}", reason.as_str()),
        )
    }

    /// Called while the server waits on the client: arms the timer for the current deadline
    /// and fails once it has passed.
    fn check_deadline(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if let Some(reason) = self.expired {
            return Err(Self::timed_out(reason));
        }
        self.activity.register_io_task(cx.waker());
        loop {
            let Some((deadline, reason)) = self.activity.deadline(&self.limits) else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                self.expired = Some(reason);
                if self.activity.close() {
                    self.stats.timed_out(self.listener, reason);
                }
                return Err(Self::timed_out(reason));
            }
            if self.timer_deadline != Some(deadline) {
                self.timer.as_mut().reset(deadline);
                self.timer_deadline = Some(deadline);
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
        }
    }
}

impl<IO> Drop for GuardedIo<IO> {
    fn drop(&mut self) {
        self.stats.closed(self.listener);
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for GuardedIo<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(reason) = this.expired {
            return Poll::Ready(Err(Self::timed_out(reason)));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.activity.on_read(Instant::now());
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => match this.check_deadline(cx) {
                Ok(()) => Poll::Pending,
                Err(error) => Poll::Ready(Err(error)),
            },
        }
    }
}

impl<IO: AsyncWrite + Unpin> GuardedIo<IO> {
    fn after_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Ready(result) => {
                self.activity.on_write(None);
                Poll::Ready(result)
            }
            Poll::Pending => {
                self.activity.on_write(Some(Instant::now()));
                match self.check_deadline(cx) {
                    Ok(()) => Poll::Pending,
                    Err(error) => Poll::Ready(Err(error)),
                }
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for GuardedIo<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(reason) = this.expired {
            return Poll::Ready(Err(Self::timed_out(reason)));
        }
        let result = Pin::new(&mut this.io).poll_write(cx, buf);
        this.after_write(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(reason) = this.expired {
            return Poll::Ready(Err(Self::timed_out(reason)));
        }
        let result = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.after_write(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.io).poll_flush(cx);
        this.after_write(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl<IO> tonic::transport::server::Connected for GuardedIo<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type ConnectInfo = ConnectionHandle;

    fn connect_info(&self) -> ConnectionHandle {
        self.handle()
    }
}
