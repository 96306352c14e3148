//! Reading a bundle without trusting it. [`verify`] checks one as it streams past; [`unpack`]
//! writes its files into a new folder as it checks them and removes the folder if any check
//! fails. Either way: the first entry must be `manifest.json` within its size limit; the
//! manifest must follow the rules and the [`Limits`] before anything else is read; and every
//! following entry must be the next file the manifest names, a regular file (not a link, a
//! device, a folder) at a plain relative path, of the declared size and sha256. Nothing may
//! follow the last file.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::BundleError;
use crate::golden::{GoldenCases, CASES_FILE, MAX_CASES_BYTES};
use crate::hashing::HashingReader;
use crate::limits::Limits;
use crate::manifest::{check_path, FileEntry, Manifest, Part, MANIFEST_PATH};

/// Reads a whole bundle from `reader`, checking every file, and answers its manifest.
pub fn verify(reader: impl Read, limits: &Limits) -> Result<Manifest, BundleError> {
    walk(reader, limits, &mut |_, content| {
        std::io::copy(content, &mut std::io::sink())
            .map(|_| ())
            .map_err(BundleError::io("reading the bundle"))
    })
}

/// Unpacks the bundle read from `reader` into `dest`, a folder this creates (its parent must
/// exist, and it must not). Every file is written and synced before the next is read; the
/// folders are synced at the end. On any failure `dest` is removed and nothing stays.
pub fn unpack(reader: impl Read, limits: &Limits, dest: &Path) -> Result<Manifest, BundleError> {
    std::fs::create_dir(dest).map_err(BundleError::io(format!("creating {}", dest.display())))?;
    let mut folders = BTreeSet::new();
    let unpacked = walk(reader, limits, &mut |entry, content| {
        write_file(dest, entry, content, &mut folders)
    })
    .and_then(|manifest| {
        for folder in folders
            .iter()
            .rev()
            .chain(std::iter::once(&dest.to_path_buf()))
        {
            sync_folder(folder)?;
        }
        Ok(manifest)
    });
    if unpacked.is_err() {
        let _ = std::fs::remove_dir_all(dest);
    }
    unpacked
}

/// Writes one file under `dest` (whose path the manifest check made safe), creating its folders.
fn write_file(
    dest: &Path,
    entry: &FileEntry,
    content: &mut dyn Read,
    folders: &mut BTreeSet<PathBuf>,
) -> Result<(), BundleError> {
    let path = dest.join(&entry.path);
    if let Some(parent) = path.parent() {
        if !folders.contains(parent) {
            std::fs::create_dir_all(parent)
                .map_err(BundleError::io(format!("creating {}", parent.display())))?;
            let mut at = parent.to_path_buf();
            while at != dest && folders.insert(at.clone()) {
                if !at.pop() {
                    break;
                }
            }
        }
    }
    let context = format!("writing {}", path.display());
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(BundleError::io(context.clone()))?;
    std::io::copy(content, &mut file).map_err(BundleError::io(context.clone()))?;
    file.flush().map_err(BundleError::io(context.clone()))?;
    file.sync_all().map_err(BundleError::io(context))
}

fn sync_folder(path: &Path) -> Result<(), BundleError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(BundleError::io(format!("syncing {}", path.display())))
}

/// Reads the archive, checking it as the module says; `on_file` gets each file's content
/// (exactly its declared bytes) and must consume it.
fn walk(
    reader: impl Read,
    limits: &Limits,
    on_file: &mut dyn FnMut(&FileEntry, &mut dyn Read) -> Result<(), BundleError>,
) -> Result<Manifest, BundleError> {
    let mut archive = tar::Archive::new(reader);
    let mut entries = archive
        .entries()
        .map_err(BundleError::io("reading the bundle"))?;
    let mut next = || -> Result<Option<tar::Entry<'_, _>>, BundleError> {
        entries
            .next()
            .transpose()
            .map_err(BundleError::io("reading the bundle"))
    };

    let manifest = {
        let mut first =
            next()?.ok_or_else(|| BundleError::Manifest("the bundle is empty".into()))?;
        let path = entry_path(&first)?;
        check_regular(&first, &path)?;
        if path != MANIFEST_PATH {
            return Err(BundleError::Unexpected {
                found: path,
                expected: format!("'{MANIFEST_PATH}' first"),
            });
        }
        let size = first.header().entry_size().unwrap_or(u64::MAX);
        if size > limits.max_manifest_bytes {
            return Err(BundleError::TooLarge {
                what: format!("{MANIFEST_PATH} ({size} bytes)"),
                limit: limits.max_manifest_bytes,
            });
        }
        let mut json = Vec::new();
        (&mut first)
            .take(limits.max_manifest_bytes)
            .read_to_end(&mut json)
            .map_err(BundleError::io("reading the manifest"))?;
        Manifest::from_json(&json, limits)?
    };

    let mut cases_text = None;
    for expected in &manifest.files {
        let mut entry = next()?.ok_or_else(|| BundleError::Unexpected {
            found: "the end of the bundle".into(),
            expected: format!("'{}'", expected.path),
        })?;
        let path = entry_path(&entry)?;
        check_regular(&entry, &path)?;
        if path != expected.path {
            return Err(BundleError::Unexpected {
                found: path,
                expected: format!("'{}'", expected.path),
            });
        }
        let declared = entry.header().entry_size().unwrap_or(u64::MAX);
        if declared != expected.size {
            return Err(BundleError::SizeMismatch {
                path,
                declared: expected.size,
                found: declared,
            });
        }
        let is_cases = expected.part() == Some((Part::Golden, CASES_FILE));
        let mut content = HashingReader::new((&mut entry).take(expected.size));
        if is_cases && expected.size <= MAX_CASES_BYTES {
            let mut text = String::new();
            content
                .read_to_string(&mut text)
                .map_err(|_| BundleError::Golden("cases.toml is not UTF-8 text".into()))?;
            on_file(expected, &mut text.as_bytes())?;
            cases_text = Some(text);
        } else {
            on_file(expected, &mut content)?;
        }
        // Whatever the callback left unread still counts (and is hashed).
        std::io::copy(&mut content, &mut std::io::sink())
            .map_err(BundleError::io("reading the bundle"))?;
        if content.bytes != expected.size {
            return Err(BundleError::SizeMismatch {
                path,
                declared: expected.size,
                found: content.bytes,
            });
        }
        if content.finish() != expected.sha256 {
            return Err(BundleError::HashMismatch { path });
        }
    }
    if let Some(extra) = next()? {
        let found = entry_path(&extra).unwrap_or_else(|_| "an entry".into());
        return Err(BundleError::Unexpected {
            found,
            expected: "the end of the bundle".into(),
        });
    }
    if GoldenCases::present_in(&manifest) {
        let text = cases_text.ok_or_else(|| {
            BundleError::Golden(format!("cases.toml is larger than {MAX_CASES_BYTES} bytes"))
        })?;
        let prefix = format!("{}/", Part::Golden.prefix());
        GoldenCases::parse(&text, |file| {
            manifest
                .files
                .iter()
                .any(|f| f.path.strip_prefix(&prefix) == Some(file))
        })?;
    }
    Ok(manifest)
}

/// The entry's path, refused unless it is a plain relative path.
fn entry_path<R: Read>(entry: &tar::Entry<'_, R>) -> Result<String, BundleError> {
    let raw = entry.path_bytes();
    let path = String::from_utf8_lossy(&raw).into_owned();
    if path != MANIFEST_PATH && check_path(&path).is_err() {
        return Err(BundleError::HostilePath(path));
    }
    Ok(path)
}

/// Refuses every entry type but a regular file.
fn check_regular<R: Read>(entry: &tar::Entry<'_, R>, path: &str) -> Result<(), BundleError> {
    use tar::EntryType;
    let kind = match entry.header().entry_type() {
        EntryType::Regular | EntryType::Continuous => return Ok(()),
        EntryType::Symlink => "symbolic link",
        EntryType::Link => "hard link",
        EntryType::Char => "character device",
        EntryType::Block => "block device",
        EntryType::Directory => "folder",
        EntryType::Fifo => "named pipe",
        EntryType::GNUSparse => "sparse file",
        _ => "special entry",
    };
    Err(BundleError::NotAFile {
        path: path.to_string(),
        kind,
    })
}
