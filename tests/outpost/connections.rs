//! Connection limits against the real binary, on short settings: a silent connection is closed
//! after the header read timeout on the HTTP and gRPC listeners, a keep-alive connection after
//! the idle timeout, and past the cap a connection waits for a place and is then served; each
//! is counted in /metrics.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::{client, start};
use outpost_testkit::TestServer;

/// An empty model repository: these tests need listeners only.
fn server(extra: &[&str]) -> (tempfile::TempDir, TestServer) {
    let repository = tempfile::tempdir().unwrap();
    let server = start(repository.path(), extra);
    (repository, server)
}

/// Reads until the server closes the connection; how long that took from `since`.
fn closed_by_server(stream: &mut TcpStream, since: Instant) -> Duration {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return since.elapsed(),
            Err(_) => return since.elapsed(),
            // The gRPC listener's SETTINGS frame, and the like.
            Ok(_) => {}
        }
    }
}

/// `outpost_connections_*` sample with these labels, from /metrics.
fn connection_metric(server: &TestServer, name: &str, labels: &str) -> f64 {
    let text = client()
        .get(format!("{}/metrics", server.base_url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in /metrics"))
}

fn get_live(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /v2/health/live HTTP/1.1\r\nHost: outpost\r\n\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn a_silent_connection_is_closed_after_the_header_read_timeout_on_both_listeners() {
    let (_repository, server) = server(&["--header-read-timeout-secs", "1"]);
    let grpc: SocketAddr = server.grpc_addr.expect("gRPC is on");
    // Over HTTP/1 a request head begun, never finished, is no different from silence.
    for (addr, begun) in [(server.addr, &b"GET /v2/health/li"[..]), (grpc, &b""[..])] {
        let opened = Instant::now();
        let mut silent = TcpStream::connect(addr).unwrap();
        silent.write_all(begun).unwrap();
        let held = closed_by_server(&mut silent, opened);
        assert!(
            held >= Duration::from_millis(900) && held < Duration::from_secs(5),
            "{addr}: {held:?}"
        );
    }
    for listener in ["http", "grpc"] {
        let labels = format!("listener=\"{listener}\",reason=\"header_timeout\"");
        assert_eq!(
            connection_metric(&server, "outpost_connections_timed_out_total", &labels),
            1.0,
            "{listener}"
        );
    }
}

#[test]
fn a_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let (_repository, server) = server(&["--idle-timeout-secs", "1"]);
    let mut kept = TcpStream::connect(server.addr).unwrap();
    for _ in 0..3 {
        assert!(get_live(&mut kept).starts_with("HTTP/1.1 200"));
    }
    let answered = Instant::now();
    let held = closed_by_server(&mut kept, answered);
    assert!(
        held >= Duration::from_millis(900) && held < Duration::from_secs(5),
        "{held:?}"
    );
    let labels = "listener=\"http\",reason=\"idle_timeout\"";
    assert_eq!(
        connection_metric(&server, "outpost_connections_timed_out_total", labels),
        1.0
    );
}

#[test]
fn past_the_cap_a_connection_waits_for_a_place_and_is_then_served() {
    let (_repository, server) =
        server(&["--max-connections", "2", "--header-read-timeout-secs", "2"]);
    let opened = Instant::now();
    let silent: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    let mut waiting = TcpStream::connect(server.addr).unwrap();
    let answer = get_live(&mut waiting);
    let waited = opened.elapsed();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        waited >= Duration::from_millis(1800) && waited < Duration::from_secs(10),
        "answered after {waited:?}: it did not wait for a silent connection to be closed"
    );
    drop(silent);
    drop(waiting);
    let labels = "listener=\"http\"";
    assert!(
        connection_metric(
            &server,
            "outpost_connections_waited_for_place_total",
            labels
        ) >= 1.0
    );
}
