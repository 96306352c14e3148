//! Decode + preprocess of camera frames for a 224x224 model (MobileNetV2's preprocessing):
//! a 720p JPEG (tests/fixtures/images/cat_720p.jpg) and a 1080p JPEG made from it here
//! (upscaled to 1920x1080, re-encoded at quality 85), each decoded in full and at reduced
//! scale in the DCT domain. Run: `cargo bench -p outpost-vision --bench decode_preprocess`;
//! the speedup of the scaled path is printed after criterion's figures.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use outpost_core::image_config::{
    ColorOrder, PixelLayout, PixelType as TensorType, PreprocessConfig, ResizeMode,
};
use outpost_core::{DataType, ModelSignature, TensorSpec};
use outpost_vision::preprocess::{resize_rgb, Preprocessor};
use outpost_vision::{decode, DecodeScale, ImageLimits};

fn frame_720p() -> Vec<u8> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/images/cat_720p.jpg");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The 720p frame upscaled to 1920x1080 and re-encoded as JPEG quality 85.
fn frame_1080p(jpeg_720p: &[u8]) -> Vec<u8> {
    let small = decode(jpeg_720p, ImageLimits::default(), DecodeScale::Full).expect("720p decodes");
    let large = resize_rgb(&small.image, None, 1920, 1080).expect("upscale");
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(&large.pixels, 1920, 1080, jpeg_encoder::ColorType::Rgb)
        .expect("encode 1080p");
    out
}

fn mobilenet() -> Preprocessor {
    let config = PreprocessConfig {
        input: None,
        width: 224,
        height: 224,
        resize: ResizeMode::Stretch,
        color_order: ColorOrder::Rgb,
        layout: PixelLayout::Nchw,
        dtype: TensorType::F32,
        scale: 1.0,
        mean: [127.5; 3],
        std: [127.5; 3],
        letterbox_fill: 114,
    };
    let signature = ModelSignature {
        inputs: vec![TensorSpec::new(
            "input",
            DataType::Fp32,
            vec![1, 3, 224, 224],
        )],
        outputs: vec![],
    };
    Preprocessor::new(&config, &signature).expect("preprocessing fits")
}

fn run(pre: &Preprocessor, jpeg: &[u8], scaled: bool) {
    let scale = if scaled {
        DecodeScale::AtLeast {
            width: 224,
            height: 224,
        }
    } else {
        DecodeScale::Full
    };
    let decoded = decode(jpeg, ImageLimits::default(), scale).expect("decode");
    let original = (decoded.original_width, decoded.original_height);
    std::hint::black_box(pre.run(&decoded.image, original).expect("preprocess"));
}

fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let small = frame_720p();
    let large = frame_1080p(&small);
    vec![("720p", small), ("1080p", large)]
}

fn bench(c: &mut Criterion) {
    let pre = mobilenet();
    for (name, jpeg) in frames() {
        let mut group = c.benchmark_group(format!("decode_preprocess_{name}"));
        group.bench_function("full", |b| b.iter(|| run(&pre, &jpeg, false)));
        group.bench_function("scaled", |b| b.iter(|| run(&pre, &jpeg, true)));
        group.finish();
    }
}

/// Median of interleaved samples of both paths, so drift hits both alike.
fn speedups() {
    let pre = mobilenet();
    println!("\ndecode + preprocess to 224x224, median of 60 interleaved runs each:");
    for (name, jpeg) in frames() {
        let (mut full, mut scaled) = (Vec::new(), Vec::new());
        for _ in 0..60 {
            let t = Instant::now();
            run(&pre, &jpeg, false);
            full.push(t.elapsed());
            let t = Instant::now();
            run(&pre, &jpeg, true);
            scaled.push(t.elapsed());
        }
        let median = |v: &mut Vec<Duration>| {
            v.sort_unstable();
            v[v.len() / 2]
        };
        let (f, s) = (median(&mut full), median(&mut scaled));
        println!(
            "  {name:>5}: full {:7.2} ms  scaled {:7.2} ms  speedup {:.2}x",
            f.as_secs_f64() * 1e3,
            s.as_secs_f64() * 1e3,
            f.as_secs_f64() / s.as_secs_f64()
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(4));
    targets = bench
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    speedups();
}
