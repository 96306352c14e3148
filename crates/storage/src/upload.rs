//! Copying a local repository folder to its object store, in the order that keeps readers
//! consistent: bundles (`targets/`) first, then the versioned metadata (`N.targets.json`,
//! `N.snapshot.json`, `N.root.json`), and `timestamp.json`, which points at all of them, last.
//! A reader that sees the new timestamp finds everything it names; one that sees the old still
//! finds the old files, which are never removed here. Target files already in the store (their
//! names carry their sha256) are not sent again.

use std::path::Path as FsPath;

use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::ObjectStoreExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::download::TransferError;
use crate::location::RepositoryLocation;
use crate::progress::Progress;

/// What an upload sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Uploaded {
    /// Files sent.
    pub files: usize,
    /// Bytes sent.
    pub bytes: u64,
    /// Target files already in the store, not sent again.
    pub skipped: usize,
}

/// Copies the repository folder `local` (`metadata/`, `targets/`) to `location`, telling
/// `progress` as bytes go up.
pub async fn upload_repository(
    local: &FsPath,
    location: &RepositoryLocation,
    progress: &dyn Progress,
) -> Result<Uploaded, TransferError> {
    let mut uploaded = Uploaded::default();
    // What goes up, in order: bundles not in the store yet, then the metadata, timestamp last.
    let mut sends = Vec::new();
    for name in list(&local.join("targets"))? {
        let remote = location.prefix.clone().join("targets").join(name.as_str());
        if location.store.head(&remote).await.is_ok() {
            uploaded.skipped += 1;
            continue;
        }
        sends.push((local.join("targets").join(&name), remote));
    }
    let mut metadata = list(&local.join("metadata"))?;
    metadata.sort_by_key(|name| name == "timestamp.json");
    for name in metadata {
        let remote = location.prefix.clone().join("metadata").join(name.as_str());
        sends.push((local.join("metadata").join(&name), remote));
    }
    let total = sends
        .iter()
        .map(|(file, _)| std::fs::metadata(file).map_or(0, |m| m.len()))
        .sum();
    progress.start(total, 0);
    let result = async {
        for (file, remote) in sends {
            uploaded.bytes += put_file(&file, remote, location, progress).await?;
            uploaded.files += 1;
        }
        Ok(uploaded)
    }
    .await;
    progress.finish();
    result
}

/// The file names in `dir`, sorted.
fn list(dir: &FsPath) -> Result<Vec<String>, TransferError> {
    let context = || format!("listing {}", dir.display());
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|source| TransferError::Io {
        context: context(),
        source,
    })? {
        let entry = entry.map_err(|source| TransferError::Io {
            context: context(),
            source,
        })?;
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Streams one file to `remote` (multipart when large); answers its size.
async fn put_file(
    file: &FsPath,
    remote: Path,
    location: &RepositoryLocation,
    progress: &dyn Progress,
) -> Result<u64, TransferError> {
    let io = |source| TransferError::Io {
        context: format!("uploading {} to {remote}", file.display()),
        source,
    };
    let mut source = tokio::fs::File::open(file).await.map_err(io)?;
    let mut writer = BufWriter::new(location.store.clone(), remote.clone());
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0;
    loop {
        let n = source.read(&mut buffer).await.map_err(io)?;
        if n == 0 {
            break;
        }
        writer.write_all(&buffer[..n]).await.map_err(io)?;
        size += n as u64;
        progress.advance(n as u64);
    }
    writer.shutdown().await.map_err(io)?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use std::sync::Arc;

    #[tokio::test]
    async fn every_file_goes_up_and_bundles_already_there_are_not_sent_again() {
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path();
        std::fs::create_dir_all(local.join("metadata")).unwrap();
        std::fs::create_dir_all(local.join("targets")).unwrap();
        for name in [
            "1.root.json",
            "2.targets.json",
            "2.snapshot.json",
            "timestamp.json",
        ] {
            std::fs::write(local.join("metadata").join(name), name).unwrap();
        }
        std::fs::write(local.join("targets/abc.m-1.bundle"), vec![7u8; 100_000]).unwrap();
        let location = RepositoryLocation {
            url: url::Url::parse("s3://bucket/fleet/").unwrap(),
            store: Arc::new(InMemory::new()),
            prefix: Path::from("fleet"),
        };
        let first = upload_repository(local, &location, &crate::NoProgress)
            .await
            .unwrap();
        assert_eq!((first.files, first.skipped), (5, 0));
        let bundle = location
            .store
            .get(&Path::from("fleet/targets/abc.m-1.bundle"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(bundle.len(), 100_000);
        let again = upload_repository(local, &location, &crate::NoProgress)
            .await
            .unwrap();
        assert_eq!((again.files, again.skipped), (4, 1));
    }
}
