//! Resumable, verified downloads of one object (a bundle) into a file. Bytes go to
//! `<dest>.partial`, and the object's ETag to `<dest>.partial.etag` before the first byte. A
//! download that was cut continues with a ranged GET from what is already on disk, guarded by
//! that ETag (`If-Match`): if the object changed meanwhile, the partial file is dropped and the
//! download starts over. An object longer than the expected length (as the store declares it,
//! or as it keeps sending: at most one read past the length) is refused; the sha256 is computed as the bytes stream in (over what was on disk first, when
//! resuming); only a file of the expected length and hash is renamed to `dest`. An optional bandwidth cap paces the reads.

use std::path::{Path as FsPath, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore};
use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::progress::Progress;

/// What the downloaded file must be (from signed metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Its length in bytes.
    pub length: u64,
    /// Its sha256.
    pub sha256: outpost_core::Sha256,
}

/// How a download went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Downloaded {
    /// Bytes already on disk when it started (0 for a fresh download).
    pub resumed_from: u64,
    /// Bytes received over the network this time.
    pub transferred: u64,
    /// Whether the object had changed since the partial file began, so it started over.
    pub restarted: bool,
}

/// Why a transfer (a download, or an upload in [`crate::upload`]) failed. A download's partial
/// file stays for the next attempt unless the content was refused.
#[derive(Debug, Error)]
pub enum TransferError {
    /// The store failed or could not be reached.
    #[error("fetching {path}: {source}")]
    Store {
        /// The object.
        path: String,
        /// object_store's error.
        source: object_store::Error,
    },
    /// The object ended before the expected length.
    #[error("{path} ended after {got} of {expected} bytes")]
    Short {
        /// The object.
        path: String,
        /// Bytes on disk.
        got: u64,
        /// Bytes expected.
        expected: u64,
    },
    /// The object is longer than the expected (signed) length: a mirror that sends more than
    /// was signed misbehaves, and the target is refused as python-tuf and tough refuse it;
    /// nothing was kept.
    #[error("{path} is longer than its signed length of {expected} bytes ({found})")]
    TooLong {
        /// The object.
        path: String,
        /// Bytes expected.
        expected: u64,
        /// What the store declared or sent: a length, or "more bytes after them".
        found: String,
    },
    /// The content's sha256 is not the expected one; nothing was kept.
    #[error("{path} does not match its signed sha256")]
    HashMismatch {
        /// The object.
        path: String,
    },
    /// The object changed in the store since it was read: another publisher signed meanwhile.
    #[error("{path} changed in the store since it was read (another publish or renewal came first); nothing was replaced")]
    Changed {
        /// The object.
        path: String,
    },
    /// Writing or reading the local file failed (a full disk among them).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The failure.
        source: std::io::Error,
    },
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> TransferError {
    move |source| TransferError::Io { context, source }
}

fn with_suffix(dest: &FsPath, suffix: &str) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    dest.with_file_name(name)
}

/// Downloads `path` from `store` into `dest` as the module says, at most `bytes_per_second`
/// when given, telling `progress` as bytes arrive.
pub async fn download(
    store: &dyn ObjectStore,
    path: &Path,
    dest: &FsPath,
    expected: &Expected,
    bytes_per_second: Option<u64>,
    progress: &dyn Progress,
) -> Result<Downloaded, TransferError> {
    let result = download_inner(store, path, dest, expected, bytes_per_second, progress).await;
    progress.finish();
    if let Err(TransferError::Io { source, .. }) = &result {
        // A full disk keeps nothing: the partial file could not be finished here anyway.
        if source.kind() == std::io::ErrorKind::StorageFull {
            discard(
                &with_suffix(dest, ".partial"),
                &with_suffix(dest, ".partial.etag"),
            )
            .await;
        }
    }
    result
}

async fn download_inner(
    store: &dyn ObjectStore,
    path: &Path,
    dest: &FsPath,
    expected: &Expected,
    bytes_per_second: Option<u64>,
    progress: &dyn Progress,
) -> Result<Downloaded, TransferError> {
    let partial = with_suffix(dest, ".partial");
    let etag_file = with_suffix(dest, ".partial.etag");
    let on_disk = tokio::fs::metadata(&partial).await.map(|m| m.len()).ok();
    let etag = tokio::fs::read_to_string(&etag_file).await.ok();
    let (mut offset, mut etag) = match (on_disk, etag) {
        (Some(length), Some(etag)) if length <= expected.length => (length, Some(etag)),
        _ => {
            discard(&partial, &etag_file).await;
            (0, None)
        }
    };
    let resumed_from = offset;
    let mut restarted = false;
    let result = loop {
        let options = GetOptions {
            range: (offset > 0).then_some(GetRange::Offset(offset)),
            if_match: if offset > 0 { etag.clone() } else { None },
            ..GetOptions::default()
        };
        if offset == expected.length {
            break None;
        }
        match store.get_opts(path, options).await {
            Ok(result) => break Some(result),
            Err(object_store::Error::Precondition { .. }) if offset > 0 && !restarted => {
                // The object changed since the partial file began: start over.
                discard(&partial, &etag_file).await;
                (offset, etag, restarted) = (0, None, true);
            }
            Err(source) => {
                return Err(TransferError::Store {
                    path: path.to_string(),
                    source,
                })
            }
        }
    };
    // What is already on disk is hashed once; the rest is hashed as it streams in.
    let mut hasher = Sha256::new();
    if offset > 0 {
        hash_file(&partial, &mut hasher).await?;
    }
    let mut transferred = 0;
    let too_long = |found: String| TransferError::TooLong {
        path: path.to_string(),
        expected: expected.length,
        found,
    };
    if let Some(result) = result {
        if result.meta.size > expected.length {
            discard(&partial, &etag_file).await;
            return Err(too_long(format!("{} bytes", result.meta.size)));
        }
        if offset == 0 {
            let tag = result.meta.e_tag.clone().unwrap_or_default();
            write_synced(&etag_file, tag.as_bytes()).await?;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&partial)
            .await
            .map_err(io(format!("opening {}", partial.display())))?;
        let started = Instant::now();
        progress.start(expected.length, offset);
        let mut stream = result.into_stream();
        while offset < expected.length {
            let Some(chunk) = stream.next().await else {
                break;
            };
            let chunk = chunk.map_err(|source| TransferError::Store {
                path: path.to_string(),
                source,
            })?;
            let room = usize::try_from(expected.length - offset).unwrap_or(usize::MAX);
            if chunk.len() > room {
                discard(&partial, &etag_file).await;
                return Err(too_long("more bytes after them".into()));
            }
            let take = &chunk[..];
            hasher.update(take);
            file.write_all(take)
                .await
                .map_err(io(format!("writing {}", partial.display())))?;
            offset += take.len() as u64;
            transferred += take.len() as u64;
            progress.advance(take.len() as u64);
            if let Some(rate) = bytes_per_second.filter(|r| *r > 0) {
                let due = Duration::from_secs_f64(transferred as f64 / rate as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            }
        }
        // All the signed bytes are in: one more read tells a store that goes on sending.
        if offset == expected.length {
            if let Some(Ok(chunk)) = stream.next().await {
                if !chunk.is_empty() {
                    discard(&partial, &etag_file).await;
                    return Err(too_long("more bytes after them".into()));
                }
            }
        }
        file.sync_all()
            .await
            .map_err(io(format!("syncing {}", partial.display())))?;
    }
    if offset < expected.length {
        return Err(TransferError::Short {
            path: path.to_string(),
            got: offset,
            expected: expected.length,
        });
    }
    if outpost_core::Sha256::from_bytes(hasher.finalize().into()) != expected.sha256 {
        discard(&partial, &etag_file).await;
        return Err(TransferError::HashMismatch {
            path: path.to_string(),
        });
    }
    tokio::fs::rename(&partial, dest)
        .await
        .map_err(io(format!("renaming into {}", dest.display())))?;
    let _ = tokio::fs::remove_file(&etag_file).await;
    Ok(Downloaded {
        resumed_from: if restarted { 0 } else { resumed_from },
        transferred,
        restarted,
    })
}

async fn discard(partial: &FsPath, etag_file: &FsPath) {
    let _ = tokio::fs::remove_file(partial).await;
    let _ = tokio::fs::remove_file(etag_file).await;
}

async fn write_synced(path: &FsPath, bytes: &[u8]) -> Result<(), TransferError> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(io(format!("creating {}", path.display())))?;
    file.write_all(bytes)
        .await
        .map_err(io(format!("writing {}", path.display())))?;
    file.sync_all()
        .await
        .map_err(io(format!("syncing {}", path.display())))
}

async fn hash_file(path: &FsPath, hasher: &mut Sha256) -> Result<(), TransferError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(io(format!("reading {}", path.display())))?;
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buffer)
            .await
            .map_err(io(format!("reading {}", path.display())))?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buffer[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};

    fn expected(bytes: &[u8]) -> Expected {
        Expected {
            length: bytes.len() as u64,
            sha256: outpost_core::Sha256::from_bytes(Sha256::digest(bytes).into()),
        }
    }

    async fn store_with(bytes: &[u8]) -> (InMemory, Path) {
        let store = InMemory::new();
        let path = Path::from("targets/m-1.bundle");
        store
            .put(&path, PutPayload::from(bytes.to_vec()))
            .await
            .unwrap();
        (store, path)
    }

    /// Downloads `path` into `dest`, expecting `bytes`, uncapped.
    async fn fetch(
        store: &InMemory,
        path: &Path,
        dest: &FsPath,
        bytes: &[u8],
    ) -> Result<Downloaded, TransferError> {
        download(
            store,
            path,
            dest,
            &expected(bytes),
            None,
            &crate::NoProgress,
        )
        .await
    }

    fn content(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn a_fresh_download_is_verified_and_renamed_into_place() {
        let bytes = content(300_000);
        let (store, path) = store_with(&bytes).await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("m.bundle");
        let done = fetch(&store, &path, &dest, &bytes).await.unwrap();
        assert_eq!(done.transferred, 300_000);
        assert_eq!(std::fs::read(&dest).unwrap(), bytes);
        assert!(!with_suffix(&dest, ".partial").exists());
        assert!(!with_suffix(&dest, ".partial.etag").exists());
    }

    #[tokio::test]
    async fn a_cut_download_resumes_from_what_is_on_disk() {
        let bytes = content(300_000);
        let (store, path) = store_with(&bytes).await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("m.bundle");
        let etag = store.head(&path).await.unwrap().e_tag.unwrap();
        std::fs::write(with_suffix(&dest, ".partial"), &bytes[..120_000]).unwrap();
        std::fs::write(with_suffix(&dest, ".partial.etag"), etag).unwrap();
        let done = fetch(&store, &path, &dest, &bytes).await.unwrap();
        assert_eq!((done.resumed_from, done.transferred), (120_000, 180_000));
        assert!(!done.restarted);
        assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    }

    #[tokio::test]
    async fn an_object_that_changed_since_the_partial_began_starts_over() {
        let bytes = content(50_000);
        let (store, path) = store_with(&bytes).await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("m.bundle");
        std::fs::write(with_suffix(&dest, ".partial"), b"stale bytes").unwrap();
        std::fs::write(with_suffix(&dest, ".partial.etag"), "\"some-older-etag\"").unwrap();
        let done = fetch(&store, &path, &dest, &bytes).await.unwrap();
        assert!(done.restarted);
        assert_eq!(done.transferred, 50_000);
        assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    }

    #[tokio::test]
    async fn an_object_longer_than_its_signed_length_is_refused_and_nothing_stays() {
        let bytes = content(40_000);
        let mut longer = bytes.clone();
        longer.extend_from_slice(&content(1_000_000));
        let (store, path) = store_with(&longer).await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("m.bundle");
        let error = fetch(&store, &path, &dest, &bytes).await.unwrap_err();
        assert!(
            matches!(&error, TransferError::TooLong { expected: 40_000, found, .. } if found == "1040000 bytes"),
            "{error}"
        );
        assert!(!dest.exists());
        assert!(!with_suffix(&dest, ".partial").exists());
        // Resuming against a store that grew the object: refused as well.
        std::fs::write(with_suffix(&dest, ".partial"), &bytes[..10_000]).unwrap();
        let etag = store.head(&path).await.unwrap().e_tag.unwrap();
        std::fs::write(with_suffix(&dest, ".partial.etag"), etag).unwrap();
        let error = fetch(&store, &path, &dest, &bytes).await.unwrap_err();
        assert!(matches!(error, TransferError::TooLong { .. }), "{error}");
        assert!(!with_suffix(&dest, ".partial").exists());
    }

    #[tokio::test]
    async fn wrong_content_is_refused_and_nothing_stays() {
        let bytes = content(10_000);
        let mut other = bytes.clone();
        other[5_000] ^= 1;
        let (store, path) = store_with(&other).await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("m.bundle");
        let error = fetch(&store, &path, &dest, &bytes).await.unwrap_err();
        assert!(matches!(error, TransferError::HashMismatch { .. }));
        assert!(!dest.exists());
        assert!(!with_suffix(&dest, ".partial").exists());
    }

    #[tokio::test]
    async fn a_short_object_keeps_its_partial_file_for_later() {
        let bytes = content(10_000);
        let (store, path) = store_with(&bytes[..6_000]).await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("m.bundle");
        let error = fetch(&store, &path, &dest, &bytes).await.unwrap_err();
        assert!(matches!(error, TransferError::Short { got: 6_000, .. }));
        assert_eq!(
            std::fs::metadata(with_suffix(&dest, ".partial"))
                .unwrap()
                .len(),
            6_000
        );
    }

    #[tokio::test]
    async fn the_bandwidth_cap_paces_the_reads() {
        let bytes = content(64 * 1024);
        let (store, path) = store_with(&bytes).await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("m.bundle");
        let started = Instant::now();
        download(
            &store,
            &path,
            &dest,
            &expected(&bytes),
            Some(256 * 1024),
            &crate::NoProgress,
        )
        .await
        .unwrap();
        // 64 KiB at 256 KiB/s: at least a quarter of a second.
        assert!(started.elapsed() >= Duration::from_millis(240));
    }
}
