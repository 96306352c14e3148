//! Where the test fixtures live and what they contain.

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
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
