//! A model bundle as the agent downloads it (tar: `manifest.json` first, then the files it
//! names), read with the checks the agent's unpack runs. What must hold: no panic; a bundle
//! `verify` accepts is one whose manifest passes its own check and the limits, whose every path
//! is a plain relative path; and `unpack` accepts the same bytes, writes exactly the manifest's
//! files inside its folder, each of its declared size. A refused bundle leaves no folder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_bundle::manifest::check_path;
use outpost_bundle::read::{unpack, verify};
use outpost_bundle::Limits;

/// Small, so that a run stays fast; the checks are the same as the agent's.
const LIMITS: Limits = Limits {
    max_manifest_bytes: 64 * 1024,
    max_files: 64,
    max_file_bytes: 1024 * 1024,
    max_total_bytes: 4 * 1024 * 1024,
};

fuzz_target!(|data: &[u8]| {
    let verified = verify(data, &LIMITS);
    let folder = tempfile::tempdir().expect("a temporary folder");
    let dest = folder.path().join("bundle");
    let unpacked = unpack(data, &LIMITS, &dest);
    match (verified, unpacked) {
        (Ok(manifest), Ok(same)) => {
            assert_eq!(manifest, same);
            manifest
                .check(&LIMITS)
                .expect("an accepted manifest passes its check");
            assert!(manifest.files.len() <= LIMITS.max_files);
            let mut total = 0u64;
            for file in &manifest.files {
                check_path(&file.path).expect("an accepted path is plain and relative");
                let written = std::fs::symlink_metadata(dest.join(&file.path))
                    .expect("every file of the manifest is written");
                assert!(written.is_file(), "{} is a regular file", file.path);
                assert_eq!(written.len(), file.size, "{}", file.path);
                total += file.size;
            }
            assert!(total <= LIMITS.max_total_bytes);
        }
        (Err(_), Err(_)) => assert!(!dest.exists(), "a refused bundle leaves nothing"),
        (verified, unpacked) => panic!(
            "verify and unpack disagree: {:?} against {:?}",
            verified.map(|m| m.files.len()),
            unpacked.map(|m| m.files.len())
        ),
    }
});
