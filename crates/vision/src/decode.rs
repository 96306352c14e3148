//! Decoding JPEG and PNG into 8-bit RGB, safely: the encoded size and the declared pixel
//! dimensions are checked against limits before any pixel buffer is allocated, a decoder panic
//! is an error, and JPEGs can be decoded at 1/2, 1/4 or 1/8 scale in the DCT domain when the
//! model needs far fewer pixels than the frame has.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::VisionError;
use crate::turbo;

/// Limits applied before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest encoded image accepted.
    pub max_bytes: usize,
    /// Largest width x height accepted, as the file declares it.
    pub max_pixels: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits {
            max_bytes: 16 * 1024 * 1024,
            // An 8K frame (7680x4320) is 33.2 million pixels.
            max_pixels: 40_000_000,
        }
    }
}

/// Encoded formats understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// JPEG (baseline and progressive).
    Jpeg,
    /// PNG.
    Png,
}

impl ImageFormat {
    /// The format a file's first bytes announce.
    pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageFormat::Png)
        } else {
            None
        }
    }

    /// The format a media type names (`image/jpeg`, `image/png`), ignoring parameters.
    pub fn from_media_type(media_type: &str) -> Option<ImageFormat> {
        let essence = media_type.split(';').next().unwrap_or("").trim();
        match essence.to_ascii_lowercase().as_str() {
            "image/jpeg" | "image/jpg" | "image/pjpeg" => Some(ImageFormat::Jpeg),
            "image/png" => Some(ImageFormat::Png),
            _ => None,
        }
    }
}

/// Packed 8-bit RGB pixels, row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub pixels: Vec<u8>,
}

/// A decoded image and the size of the frame it came from.
#[derive(Debug, Clone)]
pub struct DecodedImage {
    /// The pixels as decoded (reduced, when the decode was).
    pub image: RgbImage,
    /// The frame's size as the file declares it.
    pub original_width: u32,
    /// The frame's height as the file declares it.
    pub original_height: u32,
    /// 1 for a full decode; 2, 4 or 8 for a DCT-domain reduction.
    pub reduction: u32,
}

/// Whether a JPEG may be decoded at reduced scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeScale {
    /// Always at full size.
    Full,
    /// The largest reduction that keeps at least this many pixels on each side.
    AtLeast {
        /// Pixels wide at least.
        width: u32,
        /// Pixels high at least.
        height: u32,
    },
}

/// Decodes `bytes` (JPEG or PNG, by their signature) into RGB.
pub fn decode(
    bytes: &[u8],
    limits: ImageLimits,
    scale: DecodeScale,
) -> Result<DecodedImage, VisionError> {
    if bytes.is_empty() {
        return Err(VisionError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(VisionError::TooManyBytes {
            bytes: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let format = ImageFormat::sniff(bytes)
        .ok_or_else(|| VisionError::UnsupportedFormat("the data is neither JPEG nor PNG".into()))?;
    let decoded = catch_unwind(AssertUnwindSafe(|| match format {
        ImageFormat::Jpeg => decode_jpeg(bytes, limits, scale),
        ImageFormat::Png => decode_png(bytes, limits),
    }));
    decoded.unwrap_or_else(|_| {
        Err(VisionError::Corrupt(
            "the decoder failed on this data".into(),
        ))
    })
}

fn check_pixels(width: u32, height: u32, limits: ImageLimits) -> Result<(), VisionError> {
    if width == 0 || height == 0 {
        return Err(VisionError::Corrupt(format!(
            "the image declares {width}x{height} pixels"
        )));
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(VisionError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    Ok(())
}

/// The largest of 8, 4 and 2 that leaves at least `min` pixels on both sides, else 1.
pub fn jpeg_reduction(width: u32, height: u32, min_width: u32, min_height: u32) -> u32 {
    [8u32, 4, 2]
        .into_iter()
        .find(|d| width.div_ceil(*d) >= min_width && height.div_ceil(*d) >= min_height)
        .unwrap_or(1)
}

fn decode_jpeg(
    bytes: &[u8],
    limits: ImageLimits,
    scale: DecodeScale,
) -> Result<DecodedImage, VisionError> {
    let header = turbo::read_header(bytes)?;
    let (width, height) = (header.width, header.height);
    check_pixels(width, height, limits)?;
    let reduction = match scale {
        DecodeScale::Full => 1,
        DecodeScale::AtLeast {
            width: min_w,
            height: min_h,
        } => jpeg_reduction(width, height, min_w, min_h),
    };
    let (out_w, out_h, pixels) = turbo::decode_rgb(bytes, header, reduction, limits.max_pixels)?;
    Ok(DecodedImage {
        image: RgbImage {
            width: out_w,
            height: out_h,
            pixels,
        },
        original_width: width,
        original_height: height,
        reduction,
    })
}

fn decode_png(bytes: &[u8], limits: ImageLimits) -> Result<DecodedImage, VisionError> {
    let corrupt = |e: png::DecodingError| VisionError::Corrupt(e.to_string());
    let png_limits = png::Limits {
        bytes: usize::try_from(limits.max_pixels.saturating_mul(8)).unwrap_or(usize::MAX),
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), png_limits);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(corrupt)?;
    let (width, height) = (reader.info().width, reader.info().height);
    check_pixels(width, height, limits)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| VisionError::Corrupt("PNG frame too large".into()))?;
    let mut buffer = vec![0u8; size];
    let frame = reader.next_frame(&mut buffer).map_err(corrupt)?;
    buffer.truncate(frame.buffer_size());
    let pixels = match frame.color_type {
        png::ColorType::Rgb => buffer,
        png::ColorType::Rgba => buffer
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        png::ColorType::Grayscale => buffer.iter().flat_map(|&l| [l, l, l]).collect(),
        png::ColorType::GrayscaleAlpha => buffer
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        png::ColorType::Indexed => {
            return Err(VisionError::Corrupt(
                "indexed PNG was not expanded to RGB".into(),
            ))
        }
    };
    finish(pixels, frame.width, frame.height, width, height, 1)
}

fn finish(
    pixels: Vec<u8>,
    width: u32,
    height: u32,
    original_width: u32,
    original_height: u32,
    reduction: u32,
) -> Result<DecodedImage, VisionError> {
    if pixels.len() != width as usize * height as usize * 3 {
        return Err(VisionError::Corrupt(format!(
            "decoded {} bytes for {width}x{height} pixels",
            pixels.len()
        )));
    }
    Ok(DecodedImage {
        image: RgbImage {
            width,
            height,
            pixels,
        },
        original_width,
        original_height,
        reduction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduction_keeps_the_model_input_covered() {
        assert_eq!(jpeg_reduction(1280, 720, 224, 224), 2);
        assert_eq!(jpeg_reduction(1920, 1080, 224, 224), 4);
        assert_eq!(jpeg_reduction(1920, 1080, 320, 240), 4);
        assert_eq!(jpeg_reduction(4000, 3000, 300, 300), 8);
        assert_eq!(jpeg_reduction(300, 300, 300, 300), 1);
    }

    #[test]
    fn formats_are_recognised_by_signature_and_media_type() {
        assert_eq!(
            ImageFormat::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ImageFormat::Jpeg)
        );
        assert_eq!(ImageFormat::sniff(b"GIF89a"), None);
        assert_eq!(
            ImageFormat::from_media_type("image/PNG; charset=binary"),
            Some(ImageFormat::Png)
        );
        assert_eq!(ImageFormat::from_media_type("text/plain"), None);
    }

    fn png(width: u32, height: u32, color: png::ColorType, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(color);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .write_header()
            .unwrap()
            .write_image_data(data)
            .unwrap();
        out
    }

    #[test]
    fn png_colour_types_become_rgb() {
        let limits = ImageLimits::default();
        let rgba = png(2, 1, png::ColorType::Rgba, &[1, 2, 3, 255, 4, 5, 6, 0]);
        let decoded = decode(&rgba, limits, DecodeScale::Full).unwrap();
        assert_eq!(decoded.image.pixels, vec![1, 2, 3, 4, 5, 6]);
        let grey = png(2, 1, png::ColorType::Grayscale, &[7, 9]);
        let decoded = decode(&grey, limits, DecodeScale::Full).unwrap();
        assert_eq!(decoded.image.pixels, vec![7, 7, 7, 9, 9, 9]);
    }

    #[test]
    fn jpegs_decode_at_the_largest_reduction_that_covers_the_target() {
        let (w, h) = (64u16, 48u16);
        let pixels: Vec<u8> = (0..u32::from(w) * u32::from(h))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 90)
            .encode(&pixels, w, h, jpeg_encoder::ColorType::Luma)
            .unwrap();
        let limits = ImageLimits::default();
        let reduced = decode(
            &jpeg,
            limits,
            DecodeScale::AtLeast {
                width: 16,
                height: 12,
            },
        )
        .unwrap();
        assert_eq!(reduced.reduction, 4);
        assert_eq!((reduced.image.width, reduced.image.height), (16, 12));
        assert_eq!((reduced.original_width, reduced.original_height), (64, 48));
        assert_eq!(reduced.image.pixels.len(), 16 * 12 * 3, "grey becomes RGB");
        let full = decode(&jpeg, limits, DecodeScale::Full).unwrap();
        assert_eq!((full.image.width, full.reduction), (64, 1));
        // The pixel limit applies to the declared size, before decoding.
        let small = ImageLimits {
            max_pixels: 64 * 48 - 1,
            ..limits
        };
        assert!(matches!(
            decode(&jpeg, small, DecodeScale::Full),
            Err(VisionError::TooManyPixels {
                width: 64,
                height: 48,
                ..
            })
        ));
        let truncated = &jpeg[..jpeg.len() / 2];
        assert!(matches!(
            decode(truncated, limits, DecodeScale::Full),
            Err(VisionError::Corrupt(_))
        ));
    }

    #[test]
    fn empty_and_unknown_data_are_refused() {
        let limits = ImageLimits::default();
        assert!(matches!(
            decode(b"", limits, DecodeScale::Full),
            Err(VisionError::Empty)
        ));
        assert!(matches!(
            decode(b"GIF89a....", limits, DecodeScale::Full),
            Err(VisionError::UnsupportedFormat(_))
        ));
    }
}

#[cfg(test)]
mod turbo_recovery_tests {
    use super::*;

    fn photo(name: &str) -> Vec<u8> {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/images");
        std::fs::read(root.join(name)).unwrap()
    }

    #[test]
    fn a_failed_decode_leaves_the_thread_s_decoder_usable() {
        let limits = ImageLimits::default();
        let face = photo("face.jpg");
        let first = decode(&face, limits, DecodeScale::Full);
        assert!(first.is_ok(), "{:?}", first.err());
        let truncated = &face[..face.len() / 2];
        let bad = decode(truncated, limits, DecodeScale::Full);
        assert!(bad.is_err());
        let again = decode(&face, limits, DecodeScale::Full);
        assert!(again.is_ok(), "{:?}", again.err());
    }
}
