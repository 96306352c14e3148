//! Bundles for repository, updater and fleet tests: a stand-in model file (its bytes name the
//! version, so that each version hashes apart) packed as a real bundle, for tests whose server
//! loads anything (a simulated one) or that never serve it.

use std::path::{Path, PathBuf};

use outpost_bundle::{create, BundleSource};

/// Writes `<dir>/<name>-<version>.bundle`: `name`'s `version`, a stand-in `model.onnx` and no
/// golden cases; answers its path.
pub fn stand_in_bundle(dir: &Path, name: &str, version: u64) -> PathBuf {
    let model = dir.join(format!("{name}-model-{version}"));
    let version_dir = model.join(version.to_string());
    std::fs::create_dir_all(&version_dir).expect("create the model's version folder");
    std::fs::write(
        version_dir.join("model.onnx"),
        format!("weights of version {version}"),
    )
    .expect("write the stand-in model");
    let path = dir.join(format!("{name}-{version}.bundle"));
    let out = std::fs::File::create(&path).expect("create the bundle file");
    create(
        &BundleSource {
            model_dir: &model,
            name,
            version,
            golden_dir: None,
            min_server_version: "0.1.0",
        },
        out,
    )
    .expect("pack the bundle");
    path
}
