//! The engine stays free of wire protocols and transports: its dependency tree (normal
//! dependencies, as `cargo tree` resolves them from the lock file) has no HTTP, gRPC, protobuf or
//! TLS crate, no Outpost protocol crate and no concrete runtime. Front ends and runtimes attach
//! to it from the outside.

use std::process::Command;

/// Crates the engine must not depend on, directly or through another crate.
const FORBIDDEN: &[&str] = &[
    "axum",
    "hyper",
    "tonic",
    "prost",
    "h2",
    "tower",
    "rustls",
    "tokio-rustls",
    "outpost-protocol",
    "outpost-server",
    "outpost-backend-ort",
    "outpost-backend-tract",
    "ort",
    "tract-onnx",
];

/// The names of every crate in `package`'s normal dependency tree.
fn dependency_names(package: &str) -> Vec<String> {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--locked",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
        ])
        .arg(package)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_engine_depends_on_no_protocol_transport_or_runtime() {
    let names = dependency_names("outpost-engine");
    assert!(names.iter().any(|n| n == "outpost-core"), "{names:?}");
    let found: Vec<&String> = names
        .iter()
        .filter(|n| FORBIDDEN.contains(&n.as_str()))
        .collect();
    assert!(found.is_empty(), "outpost-engine depends on {found:?}");
}

#[test]
fn the_check_sees_the_server_s_transports() {
    let names = dependency_names("outpost-server");
    for expected in ["axum", "tonic", "rustls", "outpost-protocol"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
}
