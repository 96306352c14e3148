//! Bundles made from real model folders: the same inputs give the same bytes, and what is
//! unpacked is what was packed.

use std::path::{Path, PathBuf};

use outpost_bundle::read::{unpack, verify};
use outpost_bundle::{create, BundleSource, Limits};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn golden_dir(dir: &Path) -> PathBuf {
    let golden = dir.join("golden");
    std::fs::create_dir_all(&golden).unwrap();
    std::fs::copy(
        repo_root().join("tests/fixtures/images/cat_720p.jpg"),
        golden.join("cat.jpg"),
    )
    .unwrap();
    std::fs::write(
        golden.join("cases.toml"),
        "[[case]]\nname = \"cat\"\nimage = \"cat.jpg\"\ntop_index = 282\n",
    )
    .unwrap();
    golden
}

fn bundle_of(model_dir: &Path, golden: Option<&Path>) -> Vec<u8> {
    let mut bytes = Vec::new();
    create(
        &BundleSource {
            model_dir,
            name: "mobilenet_v2_int8",
            version: 1,
            golden_dir: golden,
            min_server_version: "0.1.0",
        },
        &mut bytes,
    )
    .unwrap();
    bytes
}

#[test]
fn the_bundled_model_packs_the_same_bytes_every_time_and_unpacks_to_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let golden = golden_dir(dir.path());
    let model_dir = repo_root().join("models/mobilenet_v2_int8");
    let first = bundle_of(&model_dir, Some(&golden));
    // Touching the sources' times and modes changes nothing.
    let copy = dir.path().join("copy");
    std::fs::create_dir_all(copy.join("1")).unwrap();
    for name in ["model.toml", "labels.txt", "LICENSE.txt", "PROVENANCE.md"] {
        std::fs::copy(model_dir.join(name), copy.join(name)).unwrap();
    }
    std::fs::copy(model_dir.join("1/model.onnx"), copy.join("1/model.onnx")).unwrap();
    assert_eq!(
        first,
        bundle_of(&copy, Some(&golden)),
        "same inputs, same bytes"
    );

    let manifest = verify(&first[..], &Limits::default()).unwrap();
    assert_eq!(manifest.name, "mobilenet_v2_int8");
    assert_eq!(manifest.version, 1);
    let paths: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "golden/cases.toml",
            "golden/cat.jpg",
            "model/LICENSE.txt",
            "model/PROVENANCE.md",
            "model/labels.txt",
            "model/model.toml",
            "version/model.onnx",
        ]
    );

    let dest = dir.path().join("unpacked");
    unpack(&first[..], &Limits::default(), &dest).unwrap();
    for (inside, source) in [
        ("version/model.onnx", model_dir.join("1/model.onnx")),
        ("model/labels.txt", model_dir.join("labels.txt")),
        ("golden/cat.jpg", golden.join("cat.jpg")),
    ] {
        assert_eq!(
            std::fs::read(dest.join(inside)).unwrap(),
            std::fs::read(source).unwrap(),
            "{inside}"
        );
    }
    assert!(
        unpack(&first[..], &Limits::default(), &dest).is_err(),
        "an existing folder is never unpacked into"
    );
}

#[test]
fn sources_a_bundle_cannot_carry_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m");
    std::fs::create_dir_all(model.join("1")).unwrap();
    std::fs::write(model.join("1/model.onnx"), b"onnx").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", model.join("labels.txt")).unwrap();
    let mut out = Vec::new();
    let source = BundleSource {
        model_dir: &model,
        name: "m",
        version: 1,
        golden_dir: None,
        min_server_version: "0.1.0",
    };
    let error = create(&source, &mut out).unwrap_err().to_string();
    assert!(error.contains("links"), "{error}");
    std::fs::remove_file(model.join("labels.txt")).unwrap();
    std::fs::write(model.join("bad name.txt"), b"x").unwrap();
    assert!(create(&source, &mut out).is_err());
    std::fs::remove_file(model.join("bad name.txt")).unwrap();
    let missing = BundleSource {
        version: 2,
        ..source
    };
    assert!(
        create(&missing, &mut out).is_err(),
        "no folder for version 2"
    );
    let golden = dir.path().join("golden");
    std::fs::create_dir_all(&golden).unwrap();
    std::fs::write(
        golden.join("cases.toml"),
        "[[case]]\nname = \"x\"\nimage = \"absent.jpg\"\ntop_index = 1\n",
    )
    .unwrap();
    let with_golden = BundleSource {
        golden_dir: Some(&golden),
        ..source
    };
    let error = create(&with_golden, &mut out).unwrap_err().to_string();
    assert!(error.contains("absent.jpg"), "{error}");
}
