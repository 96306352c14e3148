//! `outpost bundle create` and `outpost bundle inspect` as a user runs them: the bundled model
//! packed twice gives the same file, inspect lists and checks it, and a bundle with one byte
//! changed is refused with a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn outpost() -> Command {
    Command::new(env!("CARGO_BIN_EXE_outpost"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn create(output: &Path) {
    let status = outpost()
        .args(["bundle", "create"])
        .arg(root().join("models/mobilenet_v2_int8"))
        .args(["--name", "mobilenet_v2_int8", "--version", "1", "-o"])
        .arg(output)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn create_is_reproducible_and_inspect_checks_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("a.bundle"), dir.path().join("b.bundle"));
    create(&first);
    create(&second);
    let bytes = std::fs::read(&first).unwrap();
    assert_eq!(bytes, std::fs::read(&second).unwrap());
    assert!(!dir.path().join("a.bundle.partial").exists());

    let inspected = outpost()
        .args(["bundle", "inspect"])
        .arg(&first)
        .output()
        .unwrap();
    assert!(inspected.status.success());
    let text = String::from_utf8_lossy(&inspected.stdout);
    assert!(
        text.contains("model:              mobilenet_v2_int8"),
        "{text}"
    );
    assert!(text.contains("version/model.onnx"), "{text}");

    // One byte of the model changed: the last byte of data before the archive's end blocks.
    let mut tampered = bytes.clone();
    let at = tampered.iter().rposition(|b| *b != 0).unwrap();
    tampered[at] ^= 0x01;
    let bad = dir.path().join("bad.bundle");
    std::fs::write(&bad, tampered).unwrap();
    let refused = outpost()
        .args(["bundle", "inspect"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(error.contains("sha256"), "{error}");
}
