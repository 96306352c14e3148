//! A detector's image golden cases, run by the agent's checker (`outpost_agent::golden`)
//! against a real server serving SSD-MobileNet v1 (COCO) on the photo of two dogs: cases that
//! expect the dogs (how many, how sure, where) pass; cases that expect a cat, a third dog, a dog
//! where there is none, or a classifier's answer fail with the reason a device would record.

use std::path::Path;
use std::time::Duration;

use outpost_agent::golden::{run_cases, GoldenOutcome};
use outpost_agent::server_api::ServerApi;
use outpost_testkit::fixtures::{fixtures_dir, write_image_repository};

use crate::common;

const DETECTOR: &str = "ssd_mobilenet_v1_coco_quant_no_nms";

/// A golden folder with the dogs' photo and `cases` as its cases.toml.
fn golden(root: &Path, name: &str, cases: &str) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixtures_dir().join("images/pets.jpg"), dir.join("pets.jpg")).unwrap();
    std::fs::write(dir.join("cases.toml"), cases).unwrap();
    dir
}

fn case(detect: &str) -> String {
    format!("[[case]]\nname = \"dogs\"\nimage = \"pets.jpg\"\n{detect}")
}

#[test]
fn a_detectors_golden_cases_pass_on_its_boxes_and_fail_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let repository = dir.path().join("models");
    write_image_repository(&repository, &[DETECTOR], "ort");
    let server = common::start(&repository, &[]);
    let base = format!("http://{}", server.addr);
    // Where the server finds the first dog, for the overlap cases.
    let answer: serde_json::Value = common::client()
        .post(format!("{base}/v2/models/{DETECTOR}/image"))
        .header("content-type", "image/jpeg")
        .body(std::fs::read(fixtures_dir().join("images/pets.jpg")).unwrap())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let first = &answer["detections"][0]["box"];
    let corner = |key: &str| first[key].as_f64().unwrap();
    let (x_min, y_min, x_max, y_max) = (
        corner("x_min"),
        corner("y_min"),
        corner("x_max"),
        corner("y_max"),
    );
    let near = format!(
        "[{}, {}, {}, {}]",
        x_min + 3.0,
        y_min - 2.0,
        x_max - 4.0,
        y_max + 3.0
    );
    let width = x_max - x_min;
    let beside = format!(
        "[{}, {y_min}, {}, {y_max}]",
        x_max + width,
        x_max + 2.0 * width
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let api = ServerApi::new(&base, None, None, Duration::from_secs(30)).unwrap();
    let run = |name: &str, cases: String| {
        let folder = golden(dir.path(), name, &cases);
        runtime
            .block_on(run_cases(&api, DETECTOR, 1, &folder, true))
            .unwrap()
    };
    let passing = [
        (
            "two dogs",
            case("[[case.detect]]\nlabel = \"dog\"\nat_least = 2\nmin_score = 0.5\n"),
        ),
        (
            "a dog there",
            case(&format!(
                "[[case.detect]]\nlabel = \"dog\"\noverlaps = {near}\nmin_iou = 0.7\n"
            )),
        ),
        ("by index", case("[[case.detect]]\nclass_index = 18\n")),
    ];
    for (name, cases) in passing {
        assert_eq!(
            run(name, cases),
            GoldenOutcome::Passed(1),
            "{name}: {answer}"
        );
    }
    let failing = [
        (
            "a cat",
            case("[[case.detect]]\nlabel = \"cat\"\n"),
            "expected at least 1 'cat' boxes",
        ),
        (
            "three dogs",
            case("[[case.detect]]\nlabel = \"dog\"\nat_least = 3\n"),
            "found 2",
        ),
        (
            "a dog beside",
            case(&format!(
                "[[case.detect]]\nlabel = \"dog\"\noverlaps = {beside}\n"
            )),
            "no 'dog' box overlaps",
        ),
        (
            "a classifier's case",
            "[[case]]\nname = \"dogs\"\nimage = \"pets.jpg\"\ntop_label = \"dog\"\n".to_string(),
            "no classifications",
        ),
    ];
    for (name, cases, reason) in failing {
        match run(name, cases) {
            GoldenOutcome::Failed(why) => {
                assert!(why.contains("golden case 'dogs' failed"), "{name}: {why}");
                assert!(why.contains(reason), "{name}: {why}");
            }
            passed => panic!("{name} passed: {passed:?} ({answer})"),
        }
    }
}
