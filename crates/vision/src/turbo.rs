//! JPEG decoding with libjpeg-turbo through its TurboJPEG 3 API (built from source with its SIMD
//! code, NASM on x86-64 and NEON on arm64, and linked statically, so the binary carries no extra
//! shared library). It decodes in the DCT domain at 1/2, 1/4 or 1/8 scale and writes packed RGB
//! straight into the output buffer, one this thread kept from its last image
//! ([`crate::scratch`]). Each thread keeps one decompressor and reuses it. Warnings
//! (a truncated file, corrupt data that the library would paper over with grey) are errors, and
//! the library itself refuses images over the pixel limit as a second guard behind the header
//! check.

use std::cell::RefCell;
use std::ffi::CStr;

use turbojpeg_sys as tj;

use crate::error::VisionError;
use crate::scratch;

/// What a JPEG's header says, read before any pixel buffer exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JpegHeader {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Bits per sample: 8 for ordinary JPEGs, 12 or 16 for medical and lossless ones.
    precision: i32,
    /// Lossless JPEGs cannot be scaled in the DCT domain.
    lossless: bool,
    /// CMYK or YCCK (Adobe) images are decoded to CMYK and converted here.
    ink: bool,
}

/// One TurboJPEG decompressor.
struct Decompressor {
    handle: tj::tjhandle,
}

impl Decompressor {
    fn new() -> Result<Decompressor, VisionError> {
        // SAFETY: tj3Init has no preconditions; it returns null on failure.
        let handle = unsafe { tj3_init() };
        if handle.is_null() {
            return Err(VisionError::Corrupt(
                "the JPEG decoder could not be started".into(),
            ));
        }
        let mut decompressor = Decompressor { handle };
        decompressor.set(tj::TJPARAM_TJPARAM_STOPONWARNING, 1)?;
        Ok(decompressor)
    }

    fn set(&mut self, param: tj::TJPARAM, value: i32) -> Result<(), VisionError> {
        // SAFETY: the handle is valid for the decompressor's life; tj3Set checks the parameter.
        if unsafe { tj::tj3Set(self.handle, param as i32, value) } != 0 {
            return Err(self.error());
        }
        Ok(())
    }

    fn get(&mut self, param: tj::TJPARAM) -> i32 {
        // SAFETY: the handle is valid; tj3Get answers -1 for an unknown parameter.
        unsafe { tj::tj3Get(self.handle, param as i32) }
    }

    /// The library's message for the last failure, as a corrupt-image error.
    fn error(&mut self) -> VisionError {
        // SAFETY: the handle is valid; the string it answers lives in the handle until the next
        // call on it, and is copied out at once.
        let message = unsafe {
            let text = tj::tj3GetErrorStr(self.handle);
            if text.is_null() {
                String::from("unknown error")
            } else {
                CStr::from_ptr(text).to_string_lossy().into_owned()
            }
        };
        VisionError::Corrupt(message)
    }

    fn header(&mut self, bytes: &[u8]) -> Result<JpegHeader, VisionError> {
        // SAFETY: the handle is valid and `bytes` is a live slice of the length given.
        let status = unsafe {
            tj::tj3DecompressHeader(self.handle, bytes.as_ptr(), bytes.len() as tj::size_t)
        };
        if status != 0 {
            return Err(self.error());
        }
        let dimension = |value: i32| u32::try_from(value).unwrap_or(0);
        let colorspace = self.get(tj::TJPARAM_TJPARAM_COLORSPACE);
        Ok(JpegHeader {
            width: dimension(self.get(tj::TJPARAM_TJPARAM_JPEGWIDTH)),
            height: dimension(self.get(tj::TJPARAM_TJPARAM_JPEGHEIGHT)),
            precision: self.get(tj::TJPARAM_TJPARAM_PRECISION),
            lossless: self.get(tj::TJPARAM_TJPARAM_LOSSLESS) == 1,
            ink: colorspace == tj::TJCS_TJCS_CMYK as i32 || colorspace == tj::TJCS_TJCS_YCCK as i32,
        })
    }

    /// Decodes the JPEG whose header is `header` at 1/`reduction` scale into packed RGB,
    /// allowing at most `max_pixels` pixels at full size.
    fn decode_rgb(
        &mut self,
        bytes: &[u8],
        header: JpegHeader,
        reduction: u32,
        max_pixels: u64,
    ) -> Result<(u32, u32, Vec<u8>), VisionError> {
        if header.precision != 8 {
            return Err(VisionError::UnsupportedFormat(format!(
                "a {}-bit JPEG (send 8-bit JPEG or PNG)",
                header.precision
            )));
        }
        let reduction = if header.lossless { 1 } else { reduction };
        self.set(
            tj::TJPARAM_TJPARAM_MAXPIXELS,
            i32::try_from(max_pixels).unwrap_or(i32::MAX),
        )?;
        let factor = tj::tjscalingfactor {
            num: 1,
            denom: i32::try_from(reduction).unwrap_or(1),
        };
        // SAFETY: the handle is valid; the factor is one the library lists (1/1 to 1/8).
        if unsafe { tj::tj3SetScalingFactor(self.handle, factor) } != 0 {
            return Err(self.error());
        }
        let width = header.width.div_ceil(reduction);
        let height = header.height.div_ceil(reduction);
        let channels = if header.ink { 4 } else { 3 };
        let pitch = width as usize * channels;
        let mut pixels = scratch::buffer(pitch * height as usize);
        let format = if header.ink {
            tj::TJPF_TJPF_CMYK
        } else {
            tj::TJPF_TJPF_RGB
        };
        // SAFETY: `pixels` holds `pitch * height` bytes, the size of the scaled image in
        // `format` that the library writes (TJSCALED of the header's size, as computed above);
        // `bytes` is a live slice of the length given.
        let status = unsafe {
            tj::tj3Decompress8(
                self.handle,
                bytes.as_ptr(),
                bytes.len() as tj::size_t,
                pixels.as_mut_ptr(),
                i32::try_from(pitch).unwrap_or(i32::MAX),
                format,
            )
        };
        if status != 0 {
            return Err(self.error());
        }
        if header.ink {
            let cmyk = pixels;
            pixels = scratch::buffer(cmyk.len() / 4 * 3);
            cmyk_to_rgb(&cmyk, &mut pixels);
            scratch::recycle(cmyk);
        }
        Ok((width, height, pixels))
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed once, here.
        unsafe { tj::tj3Destroy(self.handle) }
    }
}

/// tj3Init for decompression.
///
/// # Safety
/// None beyond the library's own; the caller owns the handle answered (when not null).
unsafe fn tj3_init() -> tj::tjhandle {
    // SAFETY: see the function's contract.
    unsafe { tj::tj3Init(tj::TJINIT_TJINIT_DECOMPRESS as i32) }
}

/// Adobe CMYK JPEGs store inverted values: each channel is already 255 - ink. `rgb` holds three
/// bytes for every four of `cmyk`.
fn cmyk_to_rgb(cmyk: &[u8], rgb: &mut [u8]) {
    for (p, out) in cmyk.chunks_exact(4).zip(rgb.chunks_exact_mut(3)) {
        let k = u16::from(p[3]);
        for (c, o) in p[..3].iter().zip(out) {
            *o = ((u16::from(*c) * k) / 255) as u8;
        }
    }
}

thread_local! {
    /// This thread's decompressor, made on first use.
    static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
}

/// Runs `work` with this thread's decompressor. After a failure the decompressor is dropped
/// and the next call starts a fresh one: a TurboJPEG handle keeps the warning state of a failed
/// image and would refuse the next, good one.
fn with_decompressor<T>(
    work: impl FnOnce(&mut Decompressor) -> Result<T, VisionError>,
) -> Result<T, VisionError> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = match slot.as_mut() {
            Some(decompressor) => decompressor,
            None => slot.insert(Decompressor::new()?),
        };
        let result = work(decompressor);
        if result.is_err() {
            *slot = None;
        }
        result
    })
}

/// Reads a JPEG's header.
pub(crate) fn read_header(bytes: &[u8]) -> Result<JpegHeader, VisionError> {
    with_decompressor(|d| d.header(bytes))
}

/// Decodes a JPEG whose header was read (and checked against the limits) at 1/`reduction`
/// scale into packed RGB: its width, height and pixels.
pub(crate) fn decode_rgb(
    bytes: &[u8],
    header: JpegHeader,
    reduction: u32,
    max_pixels: u64,
) -> Result<(u32, u32, Vec<u8>), VisionError> {
    with_decompressor(|d| d.decode_rgb(bytes, header, reduction, max_pixels))
}
