//! Asking whether a small object changed without reading it again when it has not: a
//! conditional GET (`If-None-Match` with the ETag seen last), which costs one request that
//! transfers nothing when the object is the same. The agent polls `timestamp.json` this way.

use object_store::path::Path;
use object_store::{GetOptions, ObjectStore};

use crate::download::TransferError;

/// Whether the object changed since the ETag given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Same ETag: unchanged.
    Unchanged,
    /// Changed (or the store gives no ETag); its new ETag, when it has one.
    Changed(Option<String>),
}

/// One conditional GET of `path` against `etag`.
pub async fn changed_since(
    store: &dyn ObjectStore,
    path: &Path,
    etag: &str,
) -> Result<Freshness, TransferError> {
    let options = GetOptions {
        if_none_match: Some(etag.to_string()),
        ..GetOptions::default()
    };
    match store.get_opts(path, options).await {
        Ok(result) => {
            let etag = result.meta.e_tag.clone();
            // Read the (small) body so the connection can be reused.
            let _ = result.bytes().await;
            Ok(Freshness::Changed(etag))
        }
        Err(object_store::Error::NotModified { .. }) => Ok(Freshness::Unchanged),
        Err(source) => Err(TransferError::Store {
            path: path.to_string(),
            source,
        }),
    }
}

/// The ETag of `path` now (a HEAD request), if the store gives one.
pub async fn current_etag(
    store: &dyn ObjectStore,
    path: &Path,
) -> Result<Option<String>, TransferError> {
    let options = GetOptions {
        head: true,
        ..GetOptions::default()
    };
    match store.get_opts(path, options).await {
        Ok(result) => Ok(result.meta.e_tag),
        Err(source) => Err(TransferError::Store {
            path: path.to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};

    #[tokio::test]
    async fn unchanged_until_the_object_is_replaced() {
        let store = InMemory::new();
        let path = Path::from("metadata/timestamp.json");
        store
            .put(&path, PutPayload::from_static(b"v1"))
            .await
            .unwrap();
        let etag = current_etag(&store, &path).await.unwrap().unwrap();
        assert_eq!(
            changed_since(&store, &path, &etag).await.unwrap(),
            Freshness::Unchanged
        );
        store
            .put(&path, PutPayload::from_static(b"v2"))
            .await
            .unwrap();
        let Freshness::Changed(Some(new)) = changed_since(&store, &path, &etag).await.unwrap()
        else {
            panic!("a replaced object must read as changed");
        };
        assert_ne!(new, etag);
    }
}
