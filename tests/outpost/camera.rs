//! The camera endpoint on real photos, on ONNX Runtime and on tract: MobileNetV2 int8 (both QDQ
//! fixtures) names the cat and the espresso, UltraFace finds 4 faces and 1 face, SSD-MobileNet
//! finds the 2 dogs, with boxes within a stated tolerance of reference boxes computed with
//! ONNX Runtime and Pillow (`tests/fixtures/reference/make_reference_detections.py`). The
//! scaled JPEG decode gives the same top-1 as the full decode on every photo, forms and V2
//! BYTES inputs carry images too. The same photo checks run on the linux/arm64 build under
//! qemu-user (ignored unless asked for: `scripts/arm64-check.sh` builds it and runs them).

use crate::common;

use outpost_core::{NamedTensor, Tensor, TensorData};
use outpost_testkit::fixtures::{fixtures_dir, write_image_repository};
use outpost_testkit::{Runner, TestServer};
use serde_json::Value;

const CLASSIFIERS: &[&str] = &[
    "mobilenet_v2_1.0_224_int8_qdq",
    "mobilenet_v2_1.0_224_quant_uint8_nhwc_qdq",
];
const FACES: &str = "ultraface_version-RFB-320";
const OBJECTS: &str = "ssd_mobilenet_v1_coco_quant_no_nms";
const DETECTORS: &[&str] = &[FACES, OBJECTS];
const PHOTOS: &[&str] = &[
    "astronaut.png",
    "cat_720p.jpg",
    "chelsea.png",
    "coffee.png",
    "face.jpg",
    "pets.jpg",
    "rocket.jpg",
];

/// A box corner may be this far from the reference: 2% of the photo's longer side, at least
/// 4 px (the server resizes with its own bilinear filter, and tract's arithmetic differs a
/// little from ONNX Runtime's).
fn box_tolerance(width: f64, height: f64) -> f64 {
    (0.02 * width.max(height)).max(4.0)
}

fn photo(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join("images").join(name)).expect("fixture photo")
}

fn content_type(name: &str) -> &'static str {
    if name.ends_with(".png") {
        "image/png"
    } else {
        "image/jpeg"
    }
}

fn post_image(
    client: &reqwest::blocking::Client,
    base: &str,
    model: &str,
    name: &str,
    query: &str,
) -> Value {
    let response = client
        .post(format!("{base}/v2/models/{model}/image{query}"))
        .header("Content-Type", content_type(name))
        .body(photo(name))
        .send()
        .expect("image request");
    let status = response.status();
    let body: Value = response.json().expect("JSON answer");
    assert_eq!(status, 200, "{model} {name}: {body}");
    body
}

fn top1(answer: &Value) -> String {
    answer["classifications"][0]["label"]
        .as_str()
        .unwrap_or_else(|| panic!("no label in {answer}"))
        .to_string()
}

fn reference() -> Value {
    let text = std::fs::read_to_string(fixtures_dir().join("reference/detections.json"))
        .expect("reference detections");
    serde_json::from_str(&text).expect("reference JSON")
}

/// Every reference box has a detection of the same class with each corner within tolerance.
fn assert_boxes_match(model: &str, name: &str, answer: &Value, expected: &Value, backend: &str) {
    let found = answer["detections"].as_array().expect("detections");
    let expected = expected.as_array().expect("reference list");
    assert_eq!(
        found.len(),
        expected.len(),
        "{backend} {model} {name}: {found:?} against {expected:?}"
    );
    let tolerance = box_tolerance(
        answer["image"]["width"].as_f64().unwrap(),
        answer["image"]["height"].as_f64().unwrap(),
    );
    for want in expected {
        let corners: Vec<f64> = want["box"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        // The closest detection of the same class, by its worst corner.
        let closest = found
            .iter()
            .filter(|got| got["class_index"] == want["class_index"])
            .map(|got| {
                let b = &got["box"];
                ["x_min", "y_min", "x_max", "y_max"]
                    .iter()
                    .zip(&corners)
                    .map(|(k, w)| (b[*k].as_f64().unwrap() - w).abs())
                    .fold(0.0, f64::max)
            })
            .fold(f64::INFINITY, f64::min);
        eprintln!("{backend} {model} {name}: worst corner {closest:.2} px from the reference");
        assert!(
            closest <= tolerance,
            "{backend} {model} {name}: closest detection {closest:.1} px from {want}, over {tolerance:.1} px, in {found:?}"
        );
    }
}

/// A server that `start` brings up on a repository of `models` for `backend`, with its folder.
fn serve(
    backend: &str,
    models: &[&str],
    start: impl Fn(&std::path::Path) -> TestServer,
) -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    write_image_repository(dir.path(), models, backend);
    let server = start(dir.path());
    (dir, server)
}

/// Both classifiers name the cat and the espresso, with the requested number of labels.
fn check_labels(backend: &str, server: &TestServer) {
    let base = format!("http://{}", server.addr);
    let client = common::client();
    for model in CLASSIFIERS {
        let cat = post_image(&client, &base, model, "chelsea.png", "");
        assert_eq!(top1(&cat), "Egyptian cat", "{backend} {model}: {cat}");
        assert_eq!(cat["classifications"][0]["index"], 286);
        assert_eq!(cat["classifications"].as_array().unwrap().len(), 5);
        let coffee = post_image(&client, &base, model, "coffee.png", "?top_k=1");
        assert_eq!(top1(&coffee), "espresso", "{backend} {model}: {coffee}");
        assert_eq!(coffee["classifications"].as_array().unwrap().len(), 1);
        for stage in ["decode", "preprocess", "inference", "postprocess"] {
            assert!(coffee["timing_us"][stage].is_u64(), "{coffee}");
        }
    }
}

/// The detectors find the faces and the dogs, boxes within tolerance of the references, and a
/// score threshold above every face leaves none.
fn check_boxes(backend: &str, server: &TestServer) {
    let base = format!("http://{}", server.addr);
    let client = common::client();
    let reference = reference();
    for (model, name, count) in [
        (FACES, "face.jpg", 4),
        (FACES, "astronaut.png", 1),
        (FACES, "coffee.png", 0),
        (OBJECTS, "pets.jpg", 2),
    ] {
        let answer = post_image(&client, &base, model, name, "");
        let found = answer["detections"].as_array().expect("detections");
        assert_eq!(found.len(), count, "{backend} {model} {name}: {answer}");
        if model == OBJECTS {
            assert!(found.iter().all(|d| d["label"] == "dog"), "{answer}");
        }
        assert_boxes_match(model, name, &answer, &reference[model][name], backend);
    }
    let strict = post_image(&client, &base, FACES, "face.jpg", "?score_threshold=1.0");
    assert!(
        strict["detections"].as_array().unwrap().len() < 4,
        "{strict}"
    );
}

/// Every photo check on `backend`, against one server with every image model.
fn check_backend(backend: &str) {
    let models = [CLASSIFIERS, DETECTORS].concat();
    let (_dir, server) = serve(backend, &models, |repository| {
        common::start(repository, &[])
    });
    check_labels(backend, &server);
    check_boxes(backend, &server);
}

#[test]
fn photos_give_the_expected_labels_and_boxes_on_onnx_runtime() {
    check_backend("ort");
}

#[test]
fn photos_give_the_expected_labels_and_boxes_on_tract() {
    check_backend("tract");
}

/// A variable the arm64 checks need, set by `scripts/arm64-check.sh`.
fn arm64_setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: scripts/arm64-check.sh builds the arm64 binary and runs these")
    })
}

/// The aarch64 `outpost` under qemu-user, with the aarch64 ONNX Runtime library.
fn start_arm64(repository: &std::path::Path) -> TestServer {
    let binary = std::path::PathBuf::from(arm64_setting("OUTPOST_ARM64_BIN"));
    let runner = Runner(
        arm64_setting("OUTPOST_ARM64_RUNNER")
            .split_whitespace()
            .map(Into::into)
            .collect(),
    );
    let library = arm64_setting("OUTPOST_ARM64_ORT_LIBRARY");
    TestServer::start_under(
        &runner,
        &binary,
        repository,
        &[],
        &[("ORT_DYLIB_PATH", library.as_str())],
    )
    .unwrap_or_else(|e| panic!("arm64 server did not start: {e}"))
}

// On arm64 the classifiers and the detectors each get a server of their own: under qemu-user a
// server loads its models one after another at emulated speed (tract: most of a minute for the
// four), and two servers load side by side on two cores.

#[test]
#[ignore = "needs the arm64 build and qemu-user: scripts/arm64-check.sh"]
fn photos_give_the_expected_labels_on_arm64_onnx_runtime() {
    let (_dir, server) = serve("ort", CLASSIFIERS, start_arm64);
    check_labels("ort", &server);
}

#[test]
#[ignore = "needs the arm64 build and qemu-user: scripts/arm64-check.sh"]
fn photos_give_the_expected_boxes_on_arm64_onnx_runtime() {
    let (_dir, server) = serve("ort", DETECTORS, start_arm64);
    check_boxes("ort", &server);
}

#[test]
#[ignore = "needs the arm64 build and qemu-user: scripts/arm64-check.sh"]
fn photos_give_the_expected_labels_on_arm64_tract() {
    let (_dir, server) = serve("tract", CLASSIFIERS, start_arm64);
    check_labels("tract", &server);
}

#[test]
#[ignore = "needs the arm64 build and qemu-user: scripts/arm64-check.sh"]
fn photos_give_the_expected_boxes_on_arm64_tract() {
    let (_dir, server) = serve("tract", DETECTORS, start_arm64);
    check_boxes("tract", &server);
}

/// The server with MobileNetV2 int8 (ONNX Runtime) and its image configuration.
struct Classifier {
    _dir: tempfile::TempDir,
    _server: outpost_testkit::TestServer,
    base: String,
    client: reqwest::blocking::Client,
}

impl Classifier {
    fn start() -> Classifier {
        let dir = tempfile::tempdir().unwrap();
        write_image_repository(dir.path(), &CLASSIFIERS[..1], "ort");
        let server = common::start(dir.path(), &[]);
        Classifier {
            base: format!("http://{}", server.addr),
            client: common::client(),
            _server: server,
            _dir: dir,
        }
    }
}

#[test]
fn scaled_decode_gives_the_same_top1_as_full_decode_on_every_photo() {
    let classifier = Classifier::start();
    let (base, client, model) = (&classifier.base, &classifier.client, CLASSIFIERS[0]);
    for name in PHOTOS {
        let scaled = post_image(client, base, model, name, "");
        let full = post_image(client, base, model, name, "?decode=full");
        assert_eq!(full["image"]["decode_reduction"], 1);
        assert_eq!(
            scaled["classifications"][0]["index"], full["classifications"][0]["index"],
            "{name}: scaled {scaled} against full {full}"
        );
    }
    // The 1280x720 frame is decoded at half size for a 224x224 model.
    let frame = post_image(client, base, model, "cat_720p.jpg", "");
    assert_eq!(frame["image"]["decode_reduction"], 2, "{frame}");
    assert_eq!(
        (
            frame["image"]["width"].as_u64(),
            frame["image"]["height"].as_u64()
        ),
        (Some(1280), Some(720))
    );
}

#[test]
fn images_arrive_as_form_files_and_as_v2_bytes_inputs() {
    let classifier = Classifier::start();
    let (base, client, model) = (&classifier.base, &classifier.client, CLASSIFIERS[0]);

    let part = reqwest::blocking::multipart::Part::bytes(photo("chelsea.png"))
        .file_name("chelsea.png")
        .mime_str("image/png")
        .unwrap();
    let form = reqwest::blocking::multipart::Form::new()
        .text("note", "kitchen camera")
        .part("image", part);
    let answer: Value = client
        .post(format!("{base}/v2/models/{model}/image"))
        .multipart(form)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(top1(&answer), "Egyptian cat", "{answer}");

    // A V2 infer request whose image input is BYTES holding the encoded photo.
    let image = NamedTensor::new(
        "input",
        Tensor::new(vec![1], TensorData::Bytes(vec![photo("coffee.png")])).unwrap(),
    );
    let (header, outputs) =
        common::infer_binary(client, &format!("{base}/v2/models/{model}/infer"), &[image]);
    assert_eq!(header["model_name"], model);
    let scores = outpost_testkit::reference::as_f64(outputs[0].tensor.data());
    let labels =
        std::fs::read_to_string(fixtures_dir().join("labels/imagenet_1001_labels.txt")).unwrap();
    let best = outpost_testkit::reference::argmax(&scores);
    assert_eq!(labels.lines().nth(best), Some("espresso"));
}
