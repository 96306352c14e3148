//! The status page as served: `/` and its files under a strict Content-Security-Policy, with no
//! inline script or style and nothing fetched from elsewhere; `/status/data` with the models,
//! their series after traffic (requests per second and p50/p99 from the server's own figures),
//! and an unreachable agent reported as such; the page off answers 404. The page in a browser:
//! tests/python/test_status_page.py.

use std::time::Duration;

use outpost_testkit::fixtures::{fixtures_dir, model_file, repo_root, write_repository};
use serde_json::Value;

use crate::common;

const DETECTOR: &str = "ssd_mobilenet_v1_coco";

fn page_files() -> Vec<(&'static str, String)> {
    let dir = repo_root().join("crates/server/src/status/page");
    ["index.html", "app.js", "style.css", "icon.svg"]
        .into_iter()
        .map(|name| (name, std::fs::read_to_string(dir.join(name)).unwrap()))
        .collect()
}

#[test]
fn the_page_loads_nothing_from_elsewhere_and_runs_no_inline_code() {
    for (name, text) in page_files() {
        // The SVG namespace is a name, not an address anything is fetched from.
        let addresses = text
            .replace("http://www.w3.org/2000/svg", "")
            .matches("://")
            .count();
        assert_eq!(addresses, 0, "{name} names another origin");
    }
    let files = page_files();
    let html = &files[0].1;
    assert!(!html.contains("<script>") && !html.contains("style=") && !html.contains(" on"));
    let script = &files[1].1;
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!script.contains(sink), "app.js uses {sink}");
    }
}

#[test]
fn the_page_is_served_under_its_policy_and_its_figures_follow_the_traffic() {
    let server = common::start(
        &repo_root().join("models"),
        &["--agent-status-url", "http://127.0.0.1:9/status"],
    );
    let client = common::client();
    let base = &server.base_url;

    let page = client.get(format!("{base}/")).send().unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers();
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let policy = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert_eq!(headers["x-content-type-options"], "nosniff");
    for (path, kind) in [
        ("/status/app.js", "text/javascript"),
        ("/status/style.css", "text/css"),
        ("/status/icon.svg", "image/svg+xml"),
    ] {
        let file = client.get(format!("{base}{path}")).send().unwrap();
        assert_eq!(file.status(), 200, "{path}");
        assert!(file.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
    }

    let data = |client: &reqwest::blocking::Client| -> Value {
        client
            .get(format!("{base}/status/data"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let detector = |data: &Value| -> Value {
        data["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == DETECTOR)
            .unwrap_or_else(|| panic!("{DETECTOR} is listed: {data}"))
            .clone()
    };
    let first = data(&client);
    let model = detector(&first);
    assert_eq!(model["state"], "ready");
    assert_eq!(model["image_answer"], "detection");
    assert_eq!(model["default_version"], 1);
    assert_eq!(model["versions"][0]["backend"], "onnxruntime");
    // Nothing listens on port 9: the agent is reported unreachable, not left out.
    assert_eq!(first["agent"]["reachable"], false, "{}", first["agent"]);
    assert!(first["agent"]["error"].as_str().unwrap().contains("agent"));

    let photo = std::fs::read(fixtures_dir().join("images/pets.jpg")).unwrap();
    for _ in 0..10 {
        let answer = client
            .post(format!("{base}/v2/models/{DETECTOR}/image"))
            .header("content-type", "image/jpeg")
            .body(photo.clone())
            .send()
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let failed = client
        .post(format!("{base}/v2/models/{DETECTOR}/image"))
        .header("content-type", "image/jpeg")
        .body(b"not a photo".to_vec())
        .send()
        .unwrap();
    assert_eq!(failed.status(), 415);
    std::thread::sleep(Duration::from_millis(1000));
    let model = detector(&data(&client));
    assert_eq!(model["versions"][0]["requests"], 10);
    assert_eq!(model["versions"][0]["failures"], 1);
    let [point] = model["series"].as_array().unwrap().as_slice() else {
        panic!("one interval between two readings: {}", model["series"]);
    };
    let secs = point["secs"].as_f64().unwrap();
    let rate = point["requests_per_sec"].as_f64().unwrap();
    assert!((rate * secs - 10.0).abs() < 1e-6, "{point}");
    let (p50, p99) = (
        point["p50_ms"].as_f64().unwrap(),
        point["p99_ms"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p99, "{point}");
    assert!((point["failures_per_sec"].as_f64().unwrap() * secs - 1.0).abs() < 1e-6);
}

#[test]
fn the_page_off_answers_not_found() {
    let dir = tempfile::tempdir().unwrap();
    write_repository(
        dir.path(),
        &[("m", &model_file("mobilenet_v1_0.25_224_float32"), "")],
    );
    let server = common::start(dir.path(), &["--status-page", "false"]);
    for path in ["/", "/status/data", "/status/app.js"] {
        assert_eq!(server.get_status(path), Some(404), "{path}");
    }
}
