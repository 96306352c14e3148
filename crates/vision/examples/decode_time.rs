//! Prints, for each JPEG given, the scale the server decodes it at for a 224x224 model and the
//! median time of 400 such decodes after 20 unmeasured ones: `PATH<TAB>1/N<TAB>MILLISECONDS`
//! (benches/decode_vs_tjbench.sh compares it with libjpeg-turbo's tjbench).
use outpost_vision::{decode, DecodeScale, ImageLimits};
use std::time::Instant;

fn main() {
    let scale = DecodeScale::AtLeast {
        width: 224,
        height: 224,
    };
    for path in std::env::args().skip(1) {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(1);
            }
        };
        let mut times = Vec::new();
        let mut reduction = 0;
        for run in 0..420 {
            let started = Instant::now();
            match decode(&bytes, ImageLimits::default(), scale) {
                Ok(decoded) => reduction = decoded.reduction,
                Err(e) => {
                    eprintln!("{path}: {e}");
                    std::process::exit(1);
                }
            }
            if run >= 20 {
                times.push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        println!("{path}\t1/{reduction}\t{:.3}", times[times.len() / 2]);
    }
}
