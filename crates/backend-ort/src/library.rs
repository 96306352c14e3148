//! Finding and loading the ONNX Runtime shared library.
//!
//! Search order, first match wins:
//! 1. an explicit path (the `ort.library_path` setting, `--ort-library` or `OUTPOST_ORT_LIBRARY`);
//! 2. the `ORT_DYLIB_PATH` environment variable (the `ort` crate's own convention);
//! 3. next to the executable: `<exe dir>/libonnxruntime.so`, `<exe dir>/lib/`, `<exe dir>/../lib/`;
//! 4. the project-local cache filled by `scripts/fetch-onnxruntime.sh`:
//!    `.cache/onnxruntime/{gpu,cpu,openvino}/libonnxruntime.so`, looked for above the executable
//!    and in the source tree this binary was built from;
//! 5. the system library directories.
//!
//! An explicit path (1 or 2) is used alone: if it does not load, that is the answer, rather than
//! quietly running some other library. A [`LibrarySearch`] naming cache folders (the server's
//! `ort.flavour`) narrows 3-5 to those folders of the cache, for the same reason.

use std::path::{Path, PathBuf};

use outpost_core::BackendError;

/// The library file name on this platform.
pub const LIBRARY_FILE: &str = "libonnxruntime.so";

/// The source tree's cache, as seen when this crate was compiled.
const SOURCE_TREE_CACHE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.cache/onnxruntime");

/// Where the library is looked for when no path is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LibrarySearch {
    /// The project cache's folders (`.cache/onnxruntime/<folder>/`), in the order tried.
    pub cache_folders: &'static [&'static str],
    /// Whether the places outside the cache (next to the executable, the system's library
    /// folders) are tried too.
    pub beyond_the_cache: bool,
}

impl LibrarySearch {
    /// The whole search order: next to the executable, the cache's GPU, CPU and OpenVINO
    /// builds, the system's library folders.
    pub const ANYWHERE: LibrarySearch = LibrarySearch {
        cache_folders: &["gpu", "cpu", "openvino"],
        beyond_the_cache: true,
    };
}

/// A place the library was looked for, and why it was looked for there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryCandidate {
    /// The file looked for.
    pub path: PathBuf,
    /// Why there (the setting, the environment, the project cache, the system).
    pub source: &'static str,
}

/// The library that was loaded.
#[derive(Debug, Clone)]
pub struct OrtLibrary {
    /// The file loaded.
    pub path: PathBuf,
    /// Where it was found.
    pub source: &'static str,
    /// The library's version.
    pub version: String,
}

/// The places to look, in order. With an explicit path, only that one.
pub fn candidates(explicit: Option<&Path>, search: LibrarySearch) -> Vec<LibraryCandidate> {
    if let Some(path) = explicit {
        return vec![LibraryCandidate {
            path: path.to_path_buf(),
            source: "configured library path",
        }];
    }
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return vec![LibraryCandidate {
            path: PathBuf::from(path),
            source: "ORT_DYLIB_PATH",
        }];
    }
    let mut found = Vec::new();
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.canonicalize().ok())
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    if let Some(dir) = exe_dir.as_ref().filter(|_| search.beyond_the_cache) {
        for sub in [".", "lib", "../lib"] {
            found.push(LibraryCandidate {
                path: dir.join(sub).join(LIBRARY_FILE),
                source: "next to the executable",
            });
        }
    }
    let mut caches: Vec<PathBuf> = exe_dir
        .iter()
        .flat_map(|dir| dir.ancestors().map(|a| a.join(".cache/onnxruntime")))
        .collect();
    caches.push(PathBuf::from(SOURCE_TREE_CACHE));
    for cache in caches {
        for flavour in search.cache_folders {
            let path = cache.join(flavour).join(LIBRARY_FILE);
            if !found.iter().any(|c: &LibraryCandidate| c.path == path) {
                found.push(LibraryCandidate {
                    path,
                    source: "project cache (scripts/fetch-onnxruntime.sh)",
                });
            }
        }
    }
    let system_folders: &[&str] = if search.beyond_the_cache {
        &[
            "/usr/local/lib",
            "/usr/lib",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
        ]
    } else {
        &[]
    };
    for dir in system_folders {
        found.push(LibraryCandidate {
            path: Path::new(dir).join(LIBRARY_FILE),
            source: "system library directory",
        });
    }
    found
}

/// The library cannot be used, for this reason.
fn unusable(reason: impl std::fmt::Display) -> BackendError {
    BackendError::LibraryUnavailable(format!("the ONNX Runtime library is not usable: {reason}"))
}

/// Loads the library from the first candidate that exists.
pub fn load(explicit: Option<&Path>, search: LibrarySearch) -> Result<OrtLibrary, BackendError> {
    let candidates = candidates(explicit, search);
    let only_one = candidates.len() == 1;
    for candidate in &candidates {
        if !candidate.path.exists() {
            if only_one {
                return Err(unusable(format!(
                    "{} ({}) does not exist",
                    candidate.path.display(),
                    candidate.source
                )));
            }
            continue;
        }
        let path = candidate
            .path
            .canonicalize()
            .unwrap_or_else(|_| candidate.path.clone());
        return match ort::init_from(&path) {
            Ok(_) => {
                let version = version_from_build_info(ort::info())
                    .or_else(|| version_from_file_name(&path))
                    .unwrap_or_else(|| "unknown".to_string());
                tracing::info!(
                    path = %path.display(),
                    source = candidate.source,
                    %version,
                    telemetry = if crate::telemetry::is_opted_out() { "off" } else { "on" },
                    "loaded ONNX Runtime"
                );
                Ok(OrtLibrary {
                    path,
                    source: candidate.source,
                    version,
                })
            }
            Err(e) => Err(unusable(format!(
                "{} ({}): {e}",
                candidate.path.display(),
                candidate.source
            ))),
        };
    }
    let looked: Vec<String> = candidates
        .iter()
        .map(|c| c.path.display().to_string())
        .collect();
    Err(unusable(format!(
        "{LIBRARY_FILE} not found; run scripts/fetch-onnxruntime.sh (--gpu, --openvino for those builds) or set ort.library_path (looked in: {})",
        looked.join(", ")
    )))
}

/// Extracts `1.32.0` from ONNX Runtime's build-info string (`... git-branch=rel-1.32.0, ...`).
fn version_from_build_info(info: &str) -> Option<String> {
    let start = info.find("rel-")? + 4;
    let rest = &info[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    (end > 0).then(|| rest[..end].to_string())
}

/// Extracts `1.32.0` from `libonnxruntime.so.1.32.0`.
fn version_from_file_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let version = name.strip_prefix(LIBRARY_FILE)?.strip_prefix('.')?;
    (!version.is_empty() && version.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .then(|| version.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_path_is_the_only_candidate() {
        let c = candidates(
            Some(Path::new("/opt/ort/libonnxruntime.so")),
            LibrarySearch::ANYWHERE,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].path, Path::new("/opt/ort/libonnxruntime.so"));
    }

    #[test]
    fn search_includes_the_project_cache() {
        if std::env::var_os("ORT_DYLIB_PATH").is_some() {
            return;
        }
        let c = candidates(None, LibrarySearch::ANYWHERE);
        assert!(c
            .iter()
            .any(|c| c.path.ends_with(".cache/onnxruntime/cpu/libonnxruntime.so")));
        assert!(c.iter().any(|c| c.path.starts_with("/usr/lib")));
    }

    #[test]
    fn a_chosen_flavour_looks_in_its_cache_folder_alone() {
        if std::env::var_os("ORT_DYLIB_PATH").is_some() {
            return;
        }
        let search = LibrarySearch {
            cache_folders: &["openvino"],
            beyond_the_cache: false,
        };
        let c = candidates(None, search);
        assert!(!c.is_empty());
        assert!(
            c.iter().all(|c| c
                .path
                .ends_with(".cache/onnxruntime/openvino/libonnxruntime.so")),
            "{c:?}"
        );
    }

    #[test]
    fn missing_explicit_library_is_an_error_not_a_panic() {
        let err = load(
            Some(Path::new("/nonexistent/libonnxruntime.so")),
            LibrarySearch::ANYWHERE,
        )
        .unwrap_err();
        assert!(matches!(err, BackendError::LibraryUnavailable(_)), "{err}");
    }

    #[test]
    fn parses_version_from_build_info() {
        let info = "ORT Build Info: git-branch=rel-1.32.0, git-commit-id=abc, build type=Release";
        assert_eq!(version_from_build_info(info).as_deref(), Some("1.32.0"));
        assert_eq!(version_from_build_info("no version here"), None);
        assert_eq!(
            version_from_file_name(Path::new("/x/libonnxruntime.so.1.32.0")).as_deref(),
            Some("1.32.0")
        );
        assert_eq!(
            version_from_file_name(Path::new("/x/libonnxruntime.so")),
            None
        );
    }
}
