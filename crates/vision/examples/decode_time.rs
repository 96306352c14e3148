//! Prints the median time to decode each JPEG given at the scale the server would choose for a
//! 224x224 model.
use outpost_vision::{decode, DecodeScale, ImageLimits};
use std::time::Instant;

fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).unwrap();
        let scale = DecodeScale::AtLeast {
            width: 224,
            height: 224,
        };
        let mut times = Vec::new();
        let mut reduction = 0;
        for _ in 0..200 {
            let t = Instant::now();
            let d = decode(&bytes, ImageLimits::default(), scale).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e3);
            reduction = d.reduction;
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("{path}: 1/{reduction} p50 {:.3} ms", times[times.len() / 2]);
    }
}
