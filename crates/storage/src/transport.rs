//! tough's [`Transport`] over an object store: tough asks for URLs under the repository's URL
//! (metadata files, and targets when tough reads them itself) and gets the object's bytes as a
//! stream; a missing object is `FileNotFound`, which tough needs to tell "no newer root" from a
//! failure. tough bounds and checks what it reads; this only fetches.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use object_store::ObjectStoreExt;
use tough::{Transport, TransportError, TransportErrorKind, TransportStream};
use url::Url;

use crate::location::RepositoryLocation;

/// Fetches repository files from the store of a [`RepositoryLocation`].
#[derive(Debug, Clone)]
pub struct StoreTransport {
    location: RepositoryLocation,
}

impl StoreTransport {
    /// A transport for the repository at `location`.
    pub fn new(location: RepositoryLocation) -> StoreTransport {
        StoreTransport { location }
    }
}

#[async_trait::async_trait]
impl Transport for StoreTransport {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        let path = self.location.path_of(&url).ok_or_else(|| {
            TransportError::new(TransportErrorKind::UnsupportedUrlScheme, url.as_str())
        })?;
        let result = self
            .location
            .store
            .get(&path)
            .await
            .map_err(|e| transport_error(&url, e))?;
        let url_text = url.to_string();
        let stream = result
            .into_stream()
            .map(move |chunk| chunk.map_err(|e| transport_error_text(&url_text, e)));
        Ok(Box::pin(SyncStream(Mutex::new(stream.boxed()))))
    }
}

fn transport_error(url: &Url, error: object_store::Error) -> TransportError {
    transport_error_text(url.as_str(), error)
}

fn transport_error_text(url: &str, error: object_store::Error) -> TransportError {
    let kind = match error {
        object_store::Error::NotFound { .. } => TransportErrorKind::FileNotFound,
        _ => TransportErrorKind::Other,
    };
    TransportError::new_with_cause(kind, url, error)
}

/// A stream that tough may share between threads: object_store's stream is `Send` only, and is
/// only ever polled through `&mut`, which the mutex hands out without locking.
struct SyncStream(Mutex<BoxStream<'static, Result<Bytes, TransportError>>>);

impl Stream for SyncStream {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut().0.get_mut() {
            Ok(stream) => stream.poll_next_unpin(cx),
            Err(poisoned) => poisoned.into_inner().poll_next_unpin(cx),
        }
    }
}
