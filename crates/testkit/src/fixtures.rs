//! Where the test fixtures live and what they contain.

use std::path::{Path, PathBuf};

/// The repository root: `OUTPOST_REPO_ROOT` when set (a test or benchmark binary run from
/// another copy of the tree, as scripts/device-check.sh does), else the tree it was built from.
pub fn repo_root() -> PathBuf {
    if let Some(root) = std::env::var_os("OUTPOST_REPO_ROOT") {
        return PathBuf::from(root);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root exists")
}

/// `tests/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    repo_root().join("tests/fixtures")
}

/// `tests/fixtures/models/<name>.onnx`.
pub fn model_file(name: &str) -> PathBuf {
    fixtures_dir().join("models").join(format!("{name}.onnx"))
}

/// The `test_data_set_*` directories of a fixture model, sorted.
pub fn test_data_sets(name: &str) -> Vec<PathBuf> {
    let dir = fixtures_dir()
        .join("models")
        .join(format!("{name}.test_data"));
    let mut sets: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    sets.sort();
    sets
}

/// Every ONNX fixture model, by file stem.
pub const ONNX_FIXTURES: &[&str] = &[
    "mobilenet_v1_0.25_224_float32",
    "mobilenet_v1_0.25_224_quant_uint8_nhwc_qdq",
    "mobilenet_v2_1.0_224_float32",
    "mobilenet_v2_1.0_224_int8_qdq",
    "mobilenet_v2_1.0_224_quant_uint8_nhwc_qdq",
    "ssd_mobilenet_v1_coco_quant_no_nms",
    "ultraface_version-RFB-320",
];

/// Builds a model repository in `root` with `models` (name, model file, model.toml text).
pub fn write_repository(root: &Path, models: &[(&str, &Path, &str)]) {
    for (name, file, config) in models {
        let version_dir = root.join(name).join("1");
        std::fs::create_dir_all(&version_dir).expect("create version directory");
        std::fs::copy(file, version_dir.join("model.onnx")).expect("copy model");
        std::fs::write(root.join(name).join("model.toml"), config).expect("write model.toml");
    }
}

/// The labels file (under `tests/fixtures/labels`) that goes with a fixture model.
pub fn fixture_labels(model: &str) -> &'static str {
    if model.starts_with("mobilenet") {
        "imagenet_1001_labels.txt"
    } else if model.starts_with("ssd_mobilenet") {
        "coco_90_labels.txt"
    } else {
        "ultraface_labels.txt"
    }
}

/// Builds a repository of fixture models with their image configurations
/// (`tests/fixtures/configs/<model>.toml`), labels and anchors, each served under its own name
/// on `backend` (`ort`, `tract` or `auto`).
pub fn write_image_repository(root: &Path, models: &[&str], backend: &str) {
    let fixtures = fixtures_dir();
    for model in models {
        let dir = root.join(model);
        std::fs::create_dir_all(dir.join("1")).expect("create version directory");
        std::fs::copy(model_file(model), dir.join("1/model.onnx")).expect("copy model");
        let config =
            std::fs::read_to_string(fixtures.join("configs").join(format!("{model}.toml")))
                .expect("fixture image configuration");
        std::fs::write(
            dir.join("model.toml"),
            format!("backend = \"{backend}\"\n{config}"),
        )
        .expect("write model.toml");
        std::fs::copy(
            fixtures.join("labels").join(fixture_labels(model)),
            dir.join("labels.txt"),
        )
        .expect("copy labels");
        if model.starts_with("ssd_mobilenet") {
            std::fs::copy(
                fixtures.join("models/ssd_mobilenet_v1_anchors_yxhw.npy"),
                dir.join("anchors.npy"),
            )
            .expect("copy anchors");
        }
    }
}
