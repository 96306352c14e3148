//! Layering by dependency trees (normal dependencies, as `cargo tree` resolves them from the
//! lock file). The engine stays free of wire protocols and transports: no HTTP, gRPC, protobuf
//! or TLS crate, no Outpost protocol crate and no concrete runtime; front ends and runtimes
//! attach to it from the outside. The agent reaches the server only through its public API: no
//! server, engine, protocol or runtime crate in its tree.

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

#[test]
fn the_agent_reaches_the_server_only_through_its_api() {
    let names = dependency_names("outpost-agent");
    assert!(names.iter().any(|n| n == "outpost-trust"), "{names:?}");
    let server_side = [
        "outpost-engine",
        "outpost-server",
        "outpost-protocol",
        "outpost-vision",
        "outpost-backend-ort",
        "outpost-backend-tract",
        "ort",
        "tract-onnx",
    ];
    let found: Vec<&String> = names
        .iter()
        .filter(|n| server_side.contains(&n.as_str()))
        .collect();
    assert!(found.is_empty(), "outpost-agent depends on {found:?}");
}
