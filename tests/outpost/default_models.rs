//! The bundled models as a new user meets them: `outpost serve` with no flags in the project's
//! root loads the COCO detector and the ImageNet classifier from `models/`, and the README's
//! quick-start example (a street photo posted to the detector) answers `person` boxes.

use std::path::Path;

use outpost_testkit::fixtures::repo_root;
use outpost_testkit::TestServer;
use serde_json::Value;

use crate::common;

const DETECTOR: &str = "ssd_mobilenet_v1_coco";
const CLASSIFIER: &str = "mobilenet_v2_int8";

/// The README's quick-start request as curl sends it: the photo, the model and the content
/// type, read from its `curl [-H 'Content-Type: T'] --data-binary @PHOTO
/// localhost:8000/v2/models/MODEL/image` line (curl's own `--data-binary` default when no type
/// is given).
struct Example {
    photo: String,
    model: String,
    content_type: String,
}

fn readme_example() -> Example {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let quick_start = readme
        .split("## Quick start")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a Quick start section");
    let line = quick_start
        .lines()
        .find(|line| line.starts_with("curl ") && line.contains("/image"))
        .expect("the quick start posts a photo to a camera endpoint");
    let photo = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix('@'))
        .expect("the example names its photo with --data-binary @PATH");
    let model = line
        .split("/v2/models/")
        .nth(1)
        .and_then(|rest| rest.strip_suffix("/image"))
        .expect("the example's URL is /v2/models/MODEL/image");
    let content_type = line
        .split("Content-Type: ")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or("application/x-www-form-urlencoded");
    Example {
        photo: photo.to_string(),
        model: model.to_string(),
        content_type: content_type.to_string(),
    }
}

fn repository_index(server: &TestServer) -> Vec<Value> {
    let index: Value = common::client()
        .post(format!("{}/v2/repository/index", server.base_url))
        .json(&serde_json::json!({}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    index.as_array().expect("the index is a list").clone()
}

fn post_photo(server: &TestServer, model: &str, photo: &Path, content_type: &str) -> Value {
    let response = common::client()
        .post(format!("{}/v2/models/{model}/image", server.base_url))
        .header("content-type", content_type)
        .body(std::fs::read(photo).unwrap())
        .send()
        .unwrap();
    assert_eq!(response.status(), 200, "posting {}", photo.display());
    response.json().unwrap()
}

#[test]
fn serve_with_no_flags_answers_the_readme_street_photo_with_people() {
    let Example {
        photo,
        model,
        content_type,
    } = readme_example();
    assert_eq!(
        model, DETECTOR,
        "the quick start posts to the bundled detector"
    );
    let logs = tempfile::tempdir().unwrap();
    let server = TestServer::start_with_defaults(
        &common::binary(),
        &repo_root(),
        logs.path().join("serve.stderr.log"),
    )
    .unwrap_or_else(|e| panic!("server did not start: {e}"));

    let index = repository_index(&server);
    for name in [DETECTOR, CLASSIFIER] {
        let entry = index
            .iter()
            .find(|entry| entry["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not in the index: {index:?}"));
        assert_eq!(entry["state"], "READY", "{entry}");
    }

    let answer = post_photo(&server, &model, &repo_root().join(&photo), &content_type);
    let (width, height) = (
        answer["image"]["width"].as_f64().unwrap(),
        answer["image"]["height"].as_f64().unwrap(),
    );
    let detections = answer["detections"].as_array().expect("detections");
    let people: Vec<&Value> = detections
        .iter()
        .filter(|d| d["label"] == "person")
        .collect();
    assert!(
        people.len() >= 4,
        "expected the people walking in {photo}, got {detections:?}"
    );
    for person in &people {
        let score = person["score"].as_f64().unwrap();
        assert!((0.5..=1.0).contains(&score), "{person}");
        let b = &person["box"];
        let (x0, y0, x1, y1) = (
            b["x_min"].as_f64().unwrap(),
            b["y_min"].as_f64().unwrap(),
            b["x_max"].as_f64().unwrap(),
            b["y_max"].as_f64().unwrap(),
        );
        assert!(
            0.0 <= x0 && x0 < x1 && x1 <= width && 0.0 <= y0 && y0 < y1 && y1 <= height,
            "a box inside the {width}x{height} photo: {person}"
        );
        assert!(
            y1 - y0 > x1 - x0,
            "a walking person is taller than wide: {person}"
        );
    }

    let cat = post_photo(
        &server,
        CLASSIFIER,
        &repo_root().join("tests/fixtures/images/chelsea.png"),
        "image/png",
    );
    assert_eq!(cat["classifications"][0]["label"], "Egyptian cat", "{cat}");
}
