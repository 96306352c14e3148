//! Bad images at the camera endpoint: each gets a clear JSON error with the right status, and
//! the server keeps serving. A small file declaring 60000x60000 pixels is refused from its
//! header, before any pixel buffer exists.

use crate::common;

use outpost_testkit::fixtures::{
    fixtures_dir, model_file, write_image_repository, write_repository,
};
use serde_json::Value;

const MODEL: &str = "mobilenet_v2_1.0_224_int8_qdq";

fn photo(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join("images").join(name)).expect("fixture photo")
}

/// The same JPEG with its frame header claiming `width` x `height`.
fn jpeg_declaring(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = photo("face.jpg");
    // Walk the marker segments (skipping any embedded thumbnail) to the frame header.
    let mut sof = 2;
    while !matches!(jpeg[sof + 1], 0xC0..=0xC2) {
        sof += 2 + usize::from(u16::from_be_bytes([jpeg[sof + 2], jpeg[sof + 3]]));
    }
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    jpeg
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The same PNG with its IHDR claiming `width` x `height` (with a valid checksum).
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut png = photo("coffee.png");
    // Signature (8), IHDR length (4), "IHDR" (4), then width and height.
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

struct Case {
    what: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    message: &'static str,
}

#[test]
fn bad_images_get_clear_errors_and_the_server_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    write_image_repository(dir.path(), &[MODEL], "ort");
    write_repository(dir.path(), &[("plain", &model_file(MODEL), "")]);
    let server = common::start(dir.path(), &["--max-image-bytes", "500000"]);
    let base = format!("http://{}", server.addr);
    let client = common::client();
    let image = format!("/v2/models/{MODEL}/image");
    let face = photo("face.jpg");
    let mut corrupt_png = photo("coffee.png");
    let middle = corrupt_png.len() / 2;
    corrupt_png[middle..middle + 64].fill(0x5A);
    let cases = vec![
        Case {
            what: "declared 60000x60000 JPEG",
            path: image.clone(),
            content_type: Some("image/jpeg"),
            body: jpeg_declaring(60000, 60000),
            status: 413,
            message: "60000x60000",
        },
        Case {
            what: "declared 60000x60000 PNG",
            path: image.clone(),
            content_type: Some("image/png"),
            body: png_declaring(60000, 60000),
            status: 413,
            message: "60000x60000",
        },
        Case {
            what: "truncated JPEG",
            path: image.clone(),
            content_type: Some("image/jpeg"),
            body: face[..face.len() / 3].to_vec(),
            status: 400,
            message: "cannot be decoded",
        },
        Case {
            what: "JPEG signature then noise",
            path: image.clone(),
            content_type: Some("image/jpeg"),
            body: [vec![0xFF, 0xD8, 0xFF], vec![7u8; 5000]].concat(),
            status: 400,
            message: "cannot be decoded",
        },
        Case {
            what: "corrupt PNG data",
            path: image.clone(),
            content_type: Some("image/png"),
            body: corrupt_png,
            status: 400,
            message: "cannot be decoded",
        },
        Case {
            what: "empty body",
            path: image.clone(),
            content_type: Some("image/jpeg"),
            body: Vec::new(),
            status: 400,
            message: "empty",
        },
        Case {
            what: "text content type",
            path: image.clone(),
            content_type: Some("text/plain"),
            body: b"hello".to_vec(),
            status: 415,
            message: "unsupported content type",
        },
        Case {
            what: "GIF content type",
            path: image.clone(),
            content_type: Some("image/gif"),
            body: b"GIF89a".to_vec(),
            status: 415,
            message: "unsupported content type",
        },
        Case {
            what: "octet-stream that is no image",
            path: image.clone(),
            content_type: Some("application/octet-stream"),
            body: b"GIF89a....".to_vec(),
            status: 415,
            message: "unsupported image format",
        },
        Case {
            what: "image over limits.max_image_bytes",
            path: image.clone(),
            content_type: Some("image/png"),
            body: photo("astronaut.png"),
            status: 413,
            message: "over the limit",
        },
        Case {
            what: "zero top_k",
            path: format!("{image}?top_k=0"),
            content_type: Some("image/jpeg"),
            body: face.clone(),
            status: 400,
            message: "top_k",
        },
        Case {
            // Found by schemathesis: with a near-zero score threshold, non-maximum suppression
            // compared 172,000 candidate boxes with each other for minutes.
            what: "a detection count that made suppression unbounded",
            path: format!("{image}?max_detections=1729548&score_threshold=1e-45&iou_threshold=1.0"),
            content_type: Some("image/jpeg"),
            body: face.clone(),
            status: 400,
            message: "at most 1000",
        },
        Case {
            what: "a top_k past any model's classes",
            path: format!("{image}?top_k=27698688"),
            content_type: Some("image/jpeg"),
            body: face.clone(),
            status: 400,
            message: "at most 1000",
        },
        Case {
            what: "unknown query parameter",
            path: format!("{image}?colour=red"),
            content_type: Some("image/jpeg"),
            body: face.clone(),
            status: 400,
            message: "colour",
        },
        Case {
            what: "unknown model",
            path: "/v2/models/nope/image".into(),
            content_type: Some("image/jpeg"),
            body: face.clone(),
            status: 404,
            message: "nope",
        },
        Case {
            what: "model without image processing",
            path: "/v2/models/plain/image".into(),
            content_type: Some("image/jpeg"),
            body: face.clone(),
            status: 400,
            message: "[preprocess]",
        },
    ];
    for case in cases {
        let mut request = client.post(format!("{base}{}", case.path)).body(case.body);
        if let Some(content_type) = case.content_type {
            request = request.header("Content-Type", content_type);
        }
        let response = request
            .send()
            .unwrap_or_else(|e| panic!("{}: {e}", case.what));
        let status = response.status().as_u16();
        let body: Value = response
            .json()
            .unwrap_or_else(|e| panic!("{}: answer is not JSON: {e}", case.what));
        assert_eq!(status, case.status, "{}: {body}", case.what);
        let message = body["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(case.message),
            "{}: error '{message}' should mention '{}'",
            case.what,
            case.message
        );
        assert_eq!(
            server.get_status("/v2/health/live"),
            Some(200),
            "{} took the server down",
            case.what
        );
    }
    // Still serving images.
    let ok = client
        .post(format!("{base}{image}"))
        .header("Content-Type", "image/jpeg")
        .body(face)
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
}
