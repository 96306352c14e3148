//! Bundles made to attack the reader: each is refused with its reason, and an unpack leaves
//! nothing behind.

use std::path::Path;

use outpost_bundle::read::{unpack, verify};
use outpost_bundle::{create, BundleError, BundleSource, Limits, Manifest};
use tar::{EntryType, Header};

/// A valid bundle of a two-file model, and its manifest.
fn valid_bundle() -> (Vec<u8>, Manifest) {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m");
    std::fs::create_dir_all(model.join("1")).unwrap();
    std::fs::write(model.join("1/model.onnx"), b"not really onnx, but bytes").unwrap();
    std::fs::write(model.join("labels.txt"), b"cat\ndog\n").unwrap();
    let mut bytes = Vec::new();
    let manifest = create(
        &BundleSource {
            model_dir: &model,
            name: "m",
            version: 1,
            golden_dir: None,
            min_server_version: "0.1.0",
        },
        &mut bytes,
    )
    .unwrap();
    (bytes, manifest)
}

/// One raw archive entry: any path bytes, any type, any declared size.
struct Raw<'a> {
    path: &'a [u8],
    kind: EntryType,
    data: &'a [u8],
    declared: u64,
    link: &'a [u8],
}

fn file<'a>(path: &'a str, data: &'a [u8]) -> Raw<'a> {
    Raw {
        path: path.as_bytes(),
        kind: EntryType::Regular,
        data,
        declared: data.len() as u64,
        link: b"",
    }
}

/// An archive of `entries` written header by header, bypassing the tar crate's path checks.
fn archive(entries: &[Raw<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let mut header = Header::new_gnu();
        {
            let gnu = header.as_gnu_mut().unwrap();
            gnu.name[..entry.path.len()].copy_from_slice(entry.path);
            gnu.linkname[..entry.link.len()].copy_from_slice(entry.link);
        }
        header.set_entry_type(entry.kind);
        header.set_size(entry.declared);
        header.set_mode(0o644);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(entry.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn manifest_json(manifest: &Manifest) -> Vec<u8> {
    manifest.to_json()
}

/// Checks that `bytes` is refused by both readers, that an unpack leaves no folder, and
/// answers the error.
fn refused(bytes: &[u8], limits: &Limits) -> BundleError {
    let error = verify(bytes, limits).expect_err("verify accepted a hostile bundle");
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    unpack(bytes, limits, &dest).expect_err("unpack accepted a hostile bundle");
    assert!(!dest.exists(), "a refused unpack left {}", dest.display());
    assert!(!Path::new("/tmp/evil").exists());
    error
}

#[test]
fn the_valid_bundle_is_accepted() {
    let (bytes, manifest) = valid_bundle();
    assert_eq!(verify(&bytes[..], &Limits::default()).unwrap(), manifest);
}

#[test]
fn paths_that_leave_the_folder_are_refused() {
    let (_, manifest) = valid_bundle();
    let json = manifest_json(&manifest);
    for path in [
        "../../tmp/evil",
        "/tmp/evil",
        "version/../../evil",
        "version//x",
    ] {
        let bytes = archive(&[file("manifest.json", &json), file(path, b"x")]);
        let error = refused(&bytes, &Limits::default());
        assert!(
            matches!(error, BundleError::HostilePath(_)),
            "{path}: {error}"
        );
    }
}

#[test]
fn links_devices_and_folders_are_refused() {
    let (_, manifest) = valid_bundle();
    let json = manifest_json(&manifest);
    for (kind, link) in [
        (EntryType::Symlink, &b"/etc/passwd"[..]),
        (EntryType::Link, &b"model/labels.txt"[..]),
        (EntryType::Char, &b""[..]),
        (EntryType::Block, &b""[..]),
        (EntryType::Fifo, &b""[..]),
        (EntryType::Directory, &b""[..]),
    ] {
        let entry = Raw {
            path: b"model/labels.txt",
            kind,
            data: b"",
            declared: 0,
            link,
        };
        let bytes = archive(&[file("manifest.json", &json), entry]);
        let error = refused(&bytes, &Limits::default());
        assert!(
            matches!(error, BundleError::NotAFile { .. }),
            "{kind:?}: {error}"
        );
    }
}

#[test]
fn content_that_does_not_match_the_manifest_is_refused() {
    let (bytes, manifest) = valid_bundle();
    let json = manifest_json(&manifest);
    let labels = b"cat\ndog\n";
    let model = b"not really onnx, but bytes";

    // One byte changed.
    let changed = archive(&[
        file("manifest.json", &json),
        file("model/labels.txt", labels),
        file("version/model.onnx", b"not really onnx, but bytez"),
    ]);
    assert!(matches!(
        refused(&changed, &Limits::default()),
        BundleError::HashMismatch { .. }
    ));

    // A longer file than declared (endless data).
    let longer = archive(&[
        file("manifest.json", &json),
        file("model/labels.txt", labels),
        file(
            "version/model.onnx",
            b"not really onnx, but bytes and then some more",
        ),
    ]);
    assert!(matches!(
        refused(&longer, &Limits::default()),
        BundleError::SizeMismatch { .. }
    ));

    // A file the manifest does not name, in its place.
    let other = archive(&[
        file("manifest.json", &json),
        file("model/other.txt", labels),
        file("version/model.onnx", model),
    ]);
    assert!(matches!(
        refused(&other, &Limits::default()),
        BundleError::Unexpected { .. }
    ));

    // A file missing, an entry after the last file, no manifest first.
    let missing = archive(&[
        file("manifest.json", &json),
        file("model/labels.txt", labels),
    ]);
    assert!(matches!(
        refused(&missing, &Limits::default()),
        BundleError::Unexpected { .. }
    ));
    let trailing = archive(&[
        file("manifest.json", &json),
        file("model/labels.txt", labels),
        file("version/model.onnx", model),
        file("version/extra.bin", b"x"),
    ]);
    assert!(matches!(
        refused(&trailing, &Limits::default()),
        BundleError::Unexpected { .. }
    ));
    let headless = archive(&[
        file("model/labels.txt", labels),
        file("manifest.json", &json),
    ]);
    assert!(matches!(
        refused(&headless, &Limits::default()),
        BundleError::Unexpected { .. }
    ));

    // Cut short in the middle of the model.
    let cut = &bytes[..bytes.len() - 1024 - 512 + 10];
    refused(cut, &Limits::default());
}

#[test]
fn sizes_over_the_limits_are_refused_before_anything_is_written() {
    let (bytes, mut manifest) = valid_bundle();
    let small = Limits {
        max_file_bytes: 10,
        ..Limits::default()
    };
    assert!(matches!(
        refused(&bytes, &small),
        BundleError::TooLarge { .. }
    ));
    let tiny_total = Limits {
        max_total_bytes: 20,
        ..Limits::default()
    };
    assert!(matches!(
        refused(&bytes, &tiny_total),
        BundleError::TooLarge { .. }
    ));
    let tiny_manifest = Limits {
        max_manifest_bytes: 64,
        ..Limits::default()
    };
    assert!(matches!(
        refused(&bytes, &tiny_manifest),
        BundleError::TooLarge { .. }
    ));
    // A manifest that declares a huge file: refused from the manifest alone.
    manifest.files[1].size = u64::MAX / 2;
    let json = manifest_json(&manifest);
    let huge = archive(&[file("manifest.json", &json)]);
    assert!(matches!(
        refused(&huge, &Limits::default()),
        BundleError::TooLarge { .. }
    ));
}

#[test]
fn a_manifest_with_hostile_names_is_refused() {
    let (_, manifest) = valid_bundle();
    let mut renamed = manifest.clone();
    renamed.name = "../other".into();
    let mut escaping = manifest.clone();
    escaping.files[0].path = "model/../../../tmp/evil".into();
    for bad in [renamed, escaping] {
        let json = manifest_json(&bad);
        let bytes = archive(&[file("manifest.json", &json)]);
        assert!(matches!(
            refused(&bytes, &Limits::default()),
            BundleError::Invalid { .. }
        ));
    }
}
