//! Model control is never open by accident: the binary started with control on and no token
//! refuses to start when a listener serving control takes connections from other hosts, and
//! starts on loopback listeners, with a token, or with the opt-out that says what it does.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{binary, client};

/// `outpost serve` on an empty repository with `args`, standard output piped.
fn serve(repository: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut command = Command::new(binary());
    command
        .arg("serve")
        .arg("--model-repository")
        .arg(repository)
        .args([
            "--http-port",
            "0",
            "--grpc-port",
            "0",
            "--metrics-enabled",
            "false",
        ])
        .args(args)
        .env_remove("OUTPOST_CONTROL_TOKEN")
        .env("OUTPOST_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    command.spawn().expect("outpost starts")
}

/// The port of the HTTP line the server announces, or none if it exits first.
fn announced_http_port(child: &mut Child) -> Option<u16> {
    let stdout = child.stdout.take().expect("stdout is piped");
    BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            let addr = line.strip_prefix("outpost: http listening on ")?;
            addr.trim().parse::<SocketAddr>().ok().map(|a| a.port())
        })
}

/// Starts the server with `args`, checks that it becomes ready on loopback, and stops it.
fn assert_starts(args: &[&str], env: &[(&str, &str)]) {
    let repository = tempfile::tempdir().unwrap();
    let mut child = serve(repository.path(), args, env);
    let port = announced_http_port(&mut child);
    let ready = port.is_some_and(|port| {
        let url = format!("http://127.0.0.1:{port}/v2/health/ready");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if client().get(&url).send().is_ok_and(|r| r.status() == 200) {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    assert!(
        ready,
        "{args:?} did not start: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn control_without_a_token_on_a_public_address_refuses_to_start() {
    let repository = tempfile::tempdir().unwrap();
    let args = [
        "--http-host",
        "0.0.0.0",
        "--grpc-host",
        "0.0.0.0",
        "--model-control-mode",
        "explicit",
    ];
    let mut child = serve(repository.path(), &args, &[]);
    assert_eq!(announced_http_port(&mut child), None, "nothing is bound");
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in [
        "without a control token",
        "--control-token-file",
        "--http-host 127.0.0.1",
        "--allow-unauthenticated-control",
    ] {
        assert!(stderr.contains(needle), "{needle:?} missing from: {stderr}");
    }
    // `poll` is control too; a public gRPC listener alone is enough.
    let poll = [
        "--http-host",
        "127.0.0.1",
        "--grpc-host",
        "0.0.0.0",
        "--model-control-mode",
        "poll",
    ];
    let mut child = serve(repository.path(), &poll, &[]);
    assert_eq!(announced_http_port(&mut child), None, "nothing is bound");
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("gRPC listener"));
}

#[test]
fn control_without_a_token_starts_on_loopback_listeners() {
    assert_starts(
        &[
            "--http-host",
            "127.0.0.1",
            "--grpc-host",
            "127.0.0.1",
            "--model-control-mode",
            "explicit",
        ],
        &[],
    );
}

#[test]
fn control_on_a_public_address_starts_with_a_token_or_the_opt_out() {
    let public = [
        "--http-host",
        "0.0.0.0",
        "--grpc-enabled",
        "false",
        "--model-control-mode",
        "explicit",
    ];
    assert_starts(
        &public,
        &[("OUTPOST_CONTROL_TOKEN", "a-long-control-token")],
    );
    let mut opted_out = public.to_vec();
    opted_out.extend(["--allow-unauthenticated-control", "true"]);
    assert_starts(&opted_out, &[]);
}
