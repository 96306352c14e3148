//! Writing files and folders so that a crash or power loss at any moment leaves either the old
//! state or the new one: write beside, fsync, rename, fsync the folder.

use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes` atomically: `path.tmp` is written and synced, renamed over
/// `path`, and the folder synced so the rename itself survives a power loss.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_parent(path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Syncs the folder holding `path`, making a rename or removal in it durable.
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => File::open(parent)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

/// Syncs every file and folder under `dir`, and `dir` itself.
pub fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            sync_tree(&entry.path())?;
        } else if kind.is_file() {
            File::open(entry.path())?.sync_all()?;
        }
    }
    File::open(dir)?.sync_all()
}

/// Removes `dir` and everything in it, if it exists: first renamed to a hidden name beside it
/// (so a crash midway never leaves a half-removed folder under its real name), then deleted.
pub fn remove_dir(dir: &Path) -> std::io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let mut hidden = std::ffi::OsString::from(".removing-");
    hidden.push(dir.file_name().unwrap_or_default());
    hidden.push(format!("-{}", std::process::id()));
    let doomed = dir.with_file_name(hidden);
    std::fs::rename(dir, &doomed)?;
    sync_parent(dir)?;
    std::fs::remove_dir_all(&doomed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn remove_dir_takes_the_whole_tree() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("7");
        std::fs::create_dir_all(target.join("sub")).unwrap();
        std::fs::write(target.join("sub/f"), b"x").unwrap();
        sync_tree(&target).unwrap();
        remove_dir(&target).unwrap();
        remove_dir(&target).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
