//! Packing a model version into a bundle. The same files always give the same bytes: paths are
//! sorted, and every header carries mode 0644, owner 0 and time 0 whatever the files on disk
//! say. Sources are refused rather than silently skipped when a bundle could not carry them
//! faithfully (links, devices, names outside the path rules).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::BundleError;
use crate::golden::{GoldenCases, CASES_FILE, MAX_CASES_BYTES};
use crate::hashing::HashingReader;
use crate::limits::Limits;
use crate::manifest::{
    check_model_name, check_path, FileEntry, Manifest, Part, FORMAT, MANIFEST_PATH,
};

/// What a bundle is made from.
#[derive(Debug, Clone, Copy)]
pub struct BundleSource<'a> {
    /// The model's folder in repository layout: model-level files (`model.toml`, labels,
    /// anchors) at its top, the version in `<version>/`. Other folders in it are not packed.
    pub model_dir: &'a Path,
    /// The model's name in the repository.
    pub name: &'a str,
    /// The version packed: `<model_dir>/<version>/`.
    pub version: u64,
    /// A folder holding `cases.toml` and the files its cases name.
    pub golden_dir: Option<&'a Path>,
    /// The oldest server version that can serve the bundle.
    pub min_server_version: &'a str,
}

/// Writes the bundle of `source` to `out` and answers its manifest.
pub fn create(source: &BundleSource<'_>, out: impl Write) -> Result<Manifest, BundleError> {
    check_model_name(source.name)?;
    let mut files = collect(source)?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(golden) = source.golden_dir {
        check_golden(golden, &files)?;
    }
    let mut entries = Vec::with_capacity(files.len());
    for (path, on_disk) in &files {
        let (size, sha256) = hash_file(on_disk)?;
        entries.push(FileEntry {
            path: path.clone(),
            size,
            sha256,
        });
    }
    let manifest = Manifest {
        format: FORMAT,
        name: source.name.to_string(),
        version: source.version,
        min_server_version: source.min_server_version.to_string(),
        files: entries,
    };
    manifest.check(&Limits::default())?;

    let mut archive = tar::Builder::new(out);
    let manifest_json = manifest.to_json();
    append(
        &mut archive,
        MANIFEST_PATH,
        manifest_json.len() as u64,
        &manifest_json[..],
    )?;
    for ((_, on_disk), entry) in files.iter().zip(&manifest.files) {
        let file = File::open(on_disk).map_err(BundleError::io(on_disk.display().to_string()))?;
        let mut reader = HashingReader::new(file.take(entry.size));
        append(&mut archive, &entry.path, entry.size, &mut reader)?;
        if reader.finish() != entry.sha256 {
            return Err(BundleError::Source {
                path: on_disk.clone(),
                reason: "changed while it was being packed".into(),
            });
        }
    }
    archive
        .into_inner()
        .and_then(|mut out| out.flush())
        .map_err(BundleError::io("writing the bundle"))?;
    Ok(manifest)
}

/// One archive entry with fixed metadata.
fn append<W: Write>(
    archive: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> Result<(), BundleError> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    archive
        .append_data(&mut header, path, data)
        .map_err(BundleError::io(format!("writing '{path}' into the bundle")))
}

/// (path in the bundle, file on disk) for every file `source` packs.
fn collect(source: &BundleSource<'_>) -> Result<Vec<(String, PathBuf)>, BundleError> {
    let mut files = Vec::new();
    for (name, path, is_dir) in list(source.model_dir)? {
        if !is_dir {
            files.push((bundle_path(Part::Model, &name, &path)?, path));
        }
    }
    let version_dir = source.model_dir.join(source.version.to_string());
    if !version_dir.is_dir() {
        return Err(BundleError::Source {
            path: version_dir,
            reason: "no such version folder".into(),
        });
    }
    walk(&version_dir, Part::Version, "", &mut files)?;
    if let Some(golden) = source.golden_dir {
        walk(golden, Part::Golden, "", &mut files)?;
    }
    Ok(files)
}

/// Every file under `dir`, recursively, as `part/prefix...`.
fn walk(
    dir: &Path,
    part: Part,
    prefix: &str,
    files: &mut Vec<(String, PathBuf)>,
) -> Result<(), BundleError> {
    for (name, path, is_dir) in list(dir)? {
        let relative = format!("{prefix}{name}");
        if is_dir {
            walk(&path, part, &format!("{relative}/"), files)?;
        } else {
            files.push((bundle_path(part, &relative, &path)?, path));
        }
    }
    Ok(())
}

/// The entries of `dir`: name, path and whether it is a folder. Links and special files are
/// refused.
fn list(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>, BundleError> {
    let read = std::fs::read_dir(dir).map_err(BundleError::io(dir.display().to_string()))?;
    let mut entries = Vec::new();
    for entry in read {
        let entry = entry.map_err(BundleError::io(dir.display().to_string()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(BundleError::io(path.display().to_string()))?;
        if !kind.is_file() && !kind.is_dir() {
            return Err(BundleError::Source {
                path,
                reason: "not a regular file or folder (links and special files are not packed)"
                    .into(),
            });
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        entries.push((name, path, kind.is_dir()));
    }
    Ok(entries)
}

fn bundle_path(part: Part, relative: &str, on_disk: &Path) -> Result<String, BundleError> {
    let path = format!("{}/{relative}", part.prefix());
    check_path(&path).map_err(|e| BundleError::Source {
        path: on_disk.to_path_buf(),
        reason: format!("cannot be packed: {e}"),
    })?;
    Ok(path)
}

/// The golden folder's `cases.toml` parses and names only files it holds.
fn check_golden(golden: &Path, files: &[(String, PathBuf)]) -> Result<(), BundleError> {
    let cases_path = golden.join(CASES_FILE);
    let mut text = String::new();
    File::open(&cases_path)
        .and_then(|f| f.take(MAX_CASES_BYTES + 1).read_to_string(&mut text))
        .map_err(BundleError::io(cases_path.display().to_string()))?;
    if text.len() as u64 > MAX_CASES_BYTES {
        return Err(BundleError::Golden(format!(
            "cases.toml is larger than {MAX_CASES_BYTES} bytes"
        )));
    }
    let prefix = format!("{}/", Part::Golden.prefix());
    GoldenCases::parse(&text, |file| {
        files
            .iter()
            .any(|(path, _)| path.strip_prefix(&prefix) == Some(file))
    })?;
    Ok(())
}

fn hash_file(path: &Path) -> Result<(u64, outpost_core::Sha256), BundleError> {
    let file = File::open(path).map_err(BundleError::io(path.display().to_string()))?;
    let mut reader = HashingReader::new(file);
    std::io::copy(&mut reader, &mut std::io::sink())
        .map_err(BundleError::io(path.display().to_string()))?;
    let size = reader.bytes;
    Ok((size, reader.finish()))
}
