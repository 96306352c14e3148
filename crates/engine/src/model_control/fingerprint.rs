//! What a model directory looked like when it was last loaded, so that the poller reloads only
//! the directories whose files changed.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What a model directory looked like when it was last loaded: every file of the directory and
/// of its version directories, with size and modification time.
pub(super) type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

pub(super) fn fingerprint(dir: &Path) -> Fingerprint {
    fn files(dir: &Path, depth: u32, out: &mut Fingerprint) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if depth > 0 {
                    files(&entry.path(), depth - 1, out);
                }
            } else {
                out.push((entry.path(), meta.len(), meta.modified().ok()));
            }
        }
    }
    let mut out = Vec::new();
    files(dir, 1, &mut out);
    out.sort();
    out
}
