//! Copying a local repository folder to its object store, in the order that keeps readers
//! consistent: bundles (`targets/`) first, then the versioned metadata (`N.targets.json`,
//! `N.snapshot.json`, `N.root.json`), and `timestamp.json`, which points at all of them, last.
//! A reader that sees the new timestamp finds everything it names; one that sees the old still
//! finds the old files, which are never removed here. Target files already in the store (their
//! names carry their sha256) are not sent again. Metadata never replaces another signer's
//! ([`Replacing`]). A renewal sends only the files it wrote ([`upload_metadata`]) and
//! reads the published metadata first ([`read_metadata`]).

use std::path::Path as FsPath;

use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
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
    /// timestamp.json replaced without the check [`Replacing`] asked for: the store has no
    /// conditional writes (a local folder).
    pub unguarded: bool,
}

/// What the store's `metadata/timestamp.json` must still be for an upload to replace it: the
/// check that keeps two publishers (or a publish and a renewal) from overwriting each other's
/// signing. A mismatch fails the upload with [`TransferError::Changed`] before timestamp.json
/// goes up (the versioned files sent before it are harmless: nothing names them yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replacing {
    /// Whatever is there.
    Anything,
    /// No repository yet (`repo init`).
    Nothing,
    /// The object read before signing, by its ETag.
    ETag(String),
}

/// metadata/timestamp.json as read from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// What [`Replacing::ETag`] needs to replace it.
    pub replacing: Replacing,
}

/// Copies the repository folder `local` (`metadata/`, `targets/`) to `location`, telling
/// `progress` as bytes go up.
pub async fn upload_repository(
    local: &FsPath,
    location: &RepositoryLocation,
    replacing: &Replacing,
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
            uploaded.bytes +=
                send(&file, remote, location, replacing, &mut uploaded, progress).await?;
            uploaded.files += 1;
        }
        Ok(uploaded)
    }
    .await;
    progress.finish();
    result
}

/// Copies the named files of `local/metadata/` to `location` in the order given (a renewal's
/// new files, timestamp.json last), telling `progress` as bytes go up.
pub async fn upload_metadata(
    local: &FsPath,
    location: &RepositoryLocation,
    names: &[String],
    replacing: &Replacing,
    progress: &dyn Progress,
) -> Result<Uploaded, TransferError> {
    let mut uploaded = Uploaded::default();
    let files: Vec<_> = names
        .iter()
        .map(|name| local.join("metadata").join(name))
        .collect();
    let total = files
        .iter()
        .map(|file| std::fs::metadata(file).map_or(0, |m| m.len()))
        .sum();
    progress.start(total, 0);
    let result = async {
        for (name, file) in names.iter().zip(&files) {
            let remote = location.prefix.clone().join("metadata").join(name.as_str());
            uploaded.bytes +=
                send(file, remote, location, replacing, &mut uploaded, progress).await?;
            uploaded.files += 1;
        }
        Ok(uploaded)
    }
    .await;
    progress.finish();
    result
}

/// The one metadata file that is replaced in place; the others carry their version in their
/// names.
const TIMESTAMP: &str = "timestamp.json";

/// The largest metadata file [`read_metadata`] takes (tough's own default bound for
/// timestamp.json is 1 MiB, for snapshot and targets 10 MiB).
const MAX_METADATA_BYTES: u64 = 16 << 20;

/// Reads `metadata/<name>` from `location`: what a signing starts from when the bucket is
/// ahead of the publisher's folder. `None` when there is no such object.
pub async fn read_metadata(
    location: &RepositoryLocation,
    name: &str,
) -> Result<Option<Published>, TransferError> {
    let remote = location.prefix.clone().join("metadata").join(name);
    let failed = |source| TransferError::Store {
        path: remote.to_string(),
        source,
    };
    let found = match location.store.get(&remote).await {
        Ok(found) => found,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(error) => return Err(failed(error)),
    };
    if found.meta.size > MAX_METADATA_BYTES {
        return Err(TransferError::Io {
            context: format!("reading {remote}"),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} bytes, more than the {} MiB a metadata file may have",
                    found.meta.size,
                    MAX_METADATA_BYTES >> 20
                ),
            ),
        });
    }
    let replacing = found
        .meta
        .e_tag
        .clone()
        .map_or(Replacing::Anything, Replacing::ETag);
    let bytes = found.bytes().await.map_err(failed)?.to_vec();
    Ok(Some(Published { bytes, replacing }))
}

/// Sends one file: a bundle as it is (its name carries its hash); a versioned metadata file
/// only where there is none of that name, or an identical one (another signer's file of the
/// same version is never replaced: the timestamp naming it would no longer match it);
/// timestamp.json only if the store's is still what `replacing` says.
async fn send(
    file: &FsPath,
    remote: Path,
    location: &RepositoryLocation,
    replacing: &Replacing,
    uploaded: &mut Uploaded,
    progress: &dyn Progress,
) -> Result<u64, TransferError> {
    let is_metadata = remote.prefix_matches(&location.prefix.clone().join("metadata"));
    if !is_metadata {
        return put_file(file, remote, location, progress).await;
    }
    let bytes = std::fs::read(file).map_err(|source| TransferError::Io {
        context: format!("reading {}", file.display()),
        source,
    })?;
    let size = bytes.len() as u64;
    let store_error = |source| TransferError::Store {
        path: remote.to_string(),
        source,
    };
    let changed = || TransferError::Changed {
        path: remote.to_string(),
    };
    let put = |mode| {
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        location
            .store
            .put_opts(&remote, PutPayload::from(bytes.clone()), options)
    };
    let mode = match (remote.filename() == Some(TIMESTAMP), replacing) {
        (false, _) | (true, Replacing::Nothing) => PutMode::Create,
        (true, Replacing::Anything) => PutMode::Overwrite,
        (true, Replacing::ETag(e_tag)) => PutMode::Update(UpdateVersion {
            e_tag: Some(e_tag.clone()),
            version: None,
        }),
    };
    let is_update = matches!(mode, PutMode::Update(_));
    match put(mode).await {
        Ok(_) => {}
        Err(object_store::Error::AlreadyExists { .. }) if remote.filename() != Some(TIMESTAMP) => {
            let there = location.store.get(&remote).await.map_err(store_error)?;
            if there.bytes().await.map_err(store_error)? != bytes {
                return Err(changed());
            }
        }
        Err(
            object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. },
        ) => return Err(changed()),
        Err(object_store::Error::NotImplemented { .. }) if is_update => {
            uploaded.unguarded = true;
            put(PutMode::Overwrite).await.map_err(store_error)?;
        }
        Err(source) => return Err(store_error(source)),
    }
    progress.advance(size);
    Ok(size)
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
        let first = upload_repository(local, &location, &Replacing::Nothing, &crate::NoProgress)
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
        let again = upload_repository(local, &location, &Replacing::Anything, &crate::NoProgress)
            .await
            .unwrap();
        assert_eq!((again.files, again.skipped), (4, 1));
        std::fs::write(local.join("metadata/timestamp.json"), "renewed").unwrap();
        std::fs::write(local.join("metadata/2.snapshot.json"), "not sent").unwrap();
        let published = read_metadata(&location, "timestamp.json")
            .await
            .unwrap()
            .unwrap();
        let renewal = upload_metadata(
            local,
            &location,
            &["timestamp.json".to_string()],
            &published.replacing,
            &crate::NoProgress,
        )
        .await
        .unwrap();
        assert_eq!(renewal.files, 1);
        // Replacing what was read before is refused once another upload came in between.
        let again = upload_metadata(
            local,
            &location,
            &["timestamp.json".to_string()],
            &published.replacing,
            &crate::NoProgress,
        )
        .await;
        assert!(
            matches!(again, Err(TransferError::Changed { .. })),
            "{again:?}"
        );
        let first_again =
            upload_repository(local, &location, &Replacing::Nothing, &crate::NoProgress).await;
        assert!(matches!(first_again, Err(TransferError::Changed { .. })));
        let read = |name: &'static str| {
            let store = location.store.clone();
            async move {
                let path = Path::from(format!("fleet/metadata/{name}"));
                store.get(&path).await.unwrap().bytes().await.unwrap()
            }
        };
        assert_eq!(&read("timestamp.json").await[..], b"renewed");
        assert_eq!(&read("2.snapshot.json").await[..], b"2.snapshot.json");
    }
}
