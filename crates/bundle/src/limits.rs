//! How large a bundle a reader accepts, checked against the manifest before any file is
//! written and against every entry as it is read.

/// Bounds on what a bundle may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest `manifest.json`.
    pub max_manifest_bytes: u64,
    /// Most files.
    pub max_files: usize,
    /// Largest single file.
    pub max_file_bytes: u64,
    /// Largest sum of all files.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_bytes: 1024 * 1024,
            max_files: 10_000,
            max_file_bytes: 4 * 1024 * 1024 * 1024,
            max_total_bytes: 8 * 1024 * 1024 * 1024,
        }
    }
}
