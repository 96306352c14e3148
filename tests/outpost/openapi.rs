//! `GET /openapi.json` documents every HTTP endpoint: each route the router declares (read from
//! its source) appears with its method, and each documented path reaches a real handler.

use crate::common;

use outpost_testkit::fixtures::{model_file, repo_root, write_repository};
use serde_json::Value;

/// `(method, path)` of every `.route(...)` in the router's source.
fn declared_routes() -> Vec<(String, String)> {
    let source = std::fs::read_to_string(repo_root().join("crates/server/src/http/mod.rs"))
        .expect("router source");
    let mut routes = Vec::new();
    for piece in source.split(".route(").skip(1) {
        let path = piece.split('"').nth(1).expect("route path").to_string();
        let after = piece.split_once(',').expect("route handler").1.trim_start();
        let method = after
            .split('(')
            .next()
            .expect("method router")
            .trim()
            .to_string();
        routes.push((method, path));
    }
    routes
}

#[test]
fn every_route_is_documented_and_every_documented_path_is_served() {
    let dir = tempfile::tempdir().unwrap();
    write_repository(
        dir.path(),
        &[("m", &model_file("mobilenet_v1_0.25_224_float32"), "")],
    );
    let server = common::start(dir.path(), &[]);
    let base = format!("http://{}", server.addr);
    let client = common::client();
    let response = client.get(format!("{base}/openapi.json")).send().unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let document: Value = response.json().expect("OpenAPI JSON");
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().expect("paths");

    let routes = declared_routes();
    assert!(routes.len() >= 14, "router source parsed: {routes:?}");
    for (method, path) in &routes {
        assert!(
            paths
                .get(path)
                .and_then(|p| p.get(method.as_str()))
                .is_some(),
            "{method} {path} is not in /openapi.json"
        );
    }
    for (path, operations) in paths {
        let concrete = path.replace("{model}", "m").replace("{version}", "1");
        for method in operations.as_object().unwrap().keys() {
            let request = match method.as_str() {
                "get" => client.get(format!("{base}{concrete}")),
                "post" => client.post(format!("{base}{concrete}")).body("{}"),
                other => panic!("unexpected method {other} for {path}"),
            };
            let answer = request.send().unwrap();
            let status = answer.status().as_u16();
            let body = answer.text().unwrap();
            assert!(
                status != 405 && !body.contains("no such endpoint"),
                "{method} {path} is documented but not served: {status} {body}"
            );
            assert!(
                routes.iter().any(|(m, p)| m == method && p == path),
                "{method} {path} is documented but not declared in the router"
            );
        }
    }
}
