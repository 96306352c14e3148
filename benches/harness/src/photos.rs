//! The photos the camera benchmark sends: each of three fixture photos resized to 1280x720 and
//! to 1920x1080 and encoded as JPEG at quality 85 (4:2:0), as a camera would send them. Made at
//! the start of a run from `tests/fixtures/images`, so every run sends the same bytes.

use std::path::Path;

use outpost_vision::preprocess::resize_rgb;
use outpost_vision::{decode, DecodeScale, ImageLimits, VisionError};

/// The fixture photos the benchmark photos are made from.
pub const SOURCES: [&str; 3] = ["pets.jpg", "rocket.jpg", "chelsea.png"];

/// The frame sizes: 720p and 1080p.
pub const RESOLUTIONS: [(&str, u32, u32); 2] = [("720p", 1280, 720), ("1080p", 1920, 1080)];

/// JPEG quality of the benchmark photos.
pub const QUALITY: u8 = 85;

/// One benchmark photo.
pub struct Photo {
    /// `<source>_<resolution>`, e.g. `pets_720p`.
    pub name: String,
    /// `720p` or `1080p`.
    pub resolution: &'static str,
    /// The JPEG.
    pub jpeg: Vec<u8>,
}

/// Why the photos could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// A fixture could not be read.
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    /// A fixture could not be decoded or resized.
    #[error("{0}: {1}")]
    Image(String, VisionError),
    /// The JPEG encoder failed.
    #[error("cannot encode {0}: {1}")]
    Encode(String, String),
}

/// Every benchmark photo, 720p ones first, made from the fixtures under `images_dir`.
pub fn make(images_dir: &Path) -> Result<Vec<Photo>, PhotoError> {
    let mut photos = Vec::new();
    for (resolution, width, height) in RESOLUTIONS {
        for source in SOURCES {
            let path = images_dir.join(source);
            let bytes = std::fs::read(&path)
                .map_err(|e| PhotoError::Read(path.display().to_string(), e))?;
            let limits = ImageLimits::default();
            let image = decode(&bytes, limits, DecodeScale::Full)
                .and_then(|decoded| resize_rgb(&decoded.image, None, width, height))
                .map_err(|e| PhotoError::Image(source.to_string(), e))?;
            let stem = source.split('.').next().unwrap_or(source);
            let name = format!("{stem}_{resolution}");
            let mut jpeg = Vec::new();
            jpeg_encoder::Encoder::new(&mut jpeg, QUALITY)
                .encode(
                    &image.pixels,
                    u16::try_from(width).unwrap_or(u16::MAX),
                    u16::try_from(height).unwrap_or(u16::MAX),
                    jpeg_encoder::ColorType::Rgb,
                )
                .map_err(|e| PhotoError::Encode(name.clone(), e.to_string()))?;
            photos.push(Photo {
                name,
                resolution,
                jpeg,
            });
        }
    }
    Ok(photos)
}
