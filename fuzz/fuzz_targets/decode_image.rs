//! Fuzzes the camera path's decode entry point, `outpost_vision::decode`, with whatever bytes
//! libFuzzer makes (seeded with small JPEGs and PNGs of every kind the decoder takes): at full
//! scale and at the reduced scale a 224x224 model asks for, then the resize a model input needs.
//! Any panic or crash fails the run; so does breaking the limits (pixels over `max_pixels`, a
//! buffer that does not match its size), and the run's resident-memory limit catches an
//! allocation the limits should have stopped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_vision::preprocess::resize_rgb;
use outpost_vision::{decode, DecodeScale, ImageLimits};

/// Smaller than the server's default, so that each run stays fast; the checks are the same.
const LIMITS: ImageLimits = ImageLimits {
    max_bytes: 1024 * 1024,
    max_pixels: 4_000_000,
};

fuzz_target!(|data: &[u8]| {
    let scales = [
        DecodeScale::Full,
        DecodeScale::AtLeast {
            width: 224,
            height: 224,
        },
    ];
    for scale in scales {
        let Ok(decoded) = decode(data, LIMITS, scale) else {
            continue;
        };
        let (width, height) = (decoded.original_width, decoded.original_height);
        assert!(u64::from(width) * u64::from(height) <= LIMITS.max_pixels);
        let image = &decoded.image;
        assert!(image.width >= 1 && image.height >= 1);
        assert!(image.width <= width && image.height <= height);
        assert_eq!(
            image.pixels.len(),
            image.width as usize * image.height as usize * 3
        );
        let resized = resize_rgb(image, None, 224, 224).expect("a decoded image resizes");
        assert_eq!(resized.pixels.len(), 224 * 224 * 3);
    }
});
