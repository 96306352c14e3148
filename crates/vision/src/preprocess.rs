//! Turning a decoded frame into the model's input tensor: resize (stretch, letterbox or centre
//! crop) with a SIMD convolution resizer whose buffers are kept per thread (as are the resized
//! pixels' buffers, [`crate::scratch`]), then one pass that reorders channels, normalises through
//! a 256-entry table and writes NCHW or NHWC.

use std::cell::RefCell;

use fast_image_resize::images::{TypedImage, TypedImageRef};
use fast_image_resize::pixels::U8x3;
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use outpost_core::image_config::{
    ColorOrder, PixelLayout, PixelType, PreprocessConfig, ResizeMode,
};
use outpost_core::{DataType, ModelSignature, NamedTensor, Tensor, TensorData};

use crate::decode::RgbImage;
use crate::error::VisionError;
use crate::geometry::Geometry;
use crate::scratch;

thread_local! {
    /// Resizer scratch buffers, reused by every request an inference thread handles.
    static RESIZER: RefCell<Resizer> = RefCell::new(Resizer::new());
}

/// A model's image preprocessing, checked against its input.
#[derive(Debug, Clone)]
pub struct Preprocessor {
    config: PreprocessConfig,
    input_name: String,
    shape: Vec<usize>,
    /// Source RGB channel of each model channel.
    order: [usize; 3],
    /// `table[k][v]`: the value of model channel `k` for pixel value `v`.
    table: Box<[[f32; 256]; 3]>,
}

impl Preprocessor {
    /// Checks `config` against the model's input and fixes the tensor shape.
    pub fn new(
        config: &PreprocessConfig,
        signature: &ModelSignature,
    ) -> Result<Preprocessor, VisionError> {
        let spec = match &config.input {
            Some(name) => signature
                .input(name)
                .ok_or_else(|| VisionError::Config(format!("the model has no input '{name}'")))?,
            None => match signature.inputs.as_slice() {
                [only] => only,
                _ => {
                    return Err(VisionError::Config(
                        "the model has several inputs; name the image one in preprocess.input"
                            .into(),
                    ))
                }
            },
        };
        let expected = match config.dtype {
            PixelType::F32 => DataType::Fp32,
            PixelType::U8 => DataType::Uint8,
            PixelType::I8 => DataType::Int8,
        };
        if spec.datatype != expected {
            return Err(VisionError::Config(format!(
                "preprocess dtype gives {expected} but input '{}' is {}",
                spec.name, spec.datatype
            )));
        }
        let (w, h) = (config.width as usize, config.height as usize);
        let image_shape = match config.layout {
            PixelLayout::Nchw => vec![3, h, w],
            PixelLayout::Nhwc => vec![h, w, 3],
        };
        let shape = match spec.shape.len() {
            3 => image_shape,
            4 => [vec![1], image_shape].concat(),
            rank => {
                return Err(VisionError::Config(format!(
                    "input '{}' has rank {rank}; an image input needs rank 3 or 4",
                    spec.name
                )))
            }
        };
        if !spec.accepts_shape(&shape) {
            return Err(VisionError::Config(format!(
                "preprocess makes shape {shape:?} but input '{}' is {:?}",
                spec.name, spec.shape
            )));
        }
        let order: [usize; 3] = match config.color_order {
            ColorOrder::Rgb => [0, 1, 2],
            ColorOrder::Bgr => [2, 1, 0],
        };
        let table = Box::new(std::array::from_fn(|k| {
            let source = order[k];
            std::array::from_fn(|v| {
                (v as f32 * config.scale - config.mean[source]) / config.std[source]
            })
        }));
        Ok(Preprocessor {
            config: config.clone(),
            input_name: spec.name.clone(),
            shape,
            order,
            table,
        })
    }

    /// The input the image feeds.
    pub fn input_name(&self) -> &str {
        &self.input_name
    }

    /// The model's input size (width, height).
    pub fn input_size(&self) -> (u32, u32) {
        (self.config.width, self.config.height)
    }

    /// Resizes `image` (decoded from a frame of `original` size) and packs it as the model's
    /// input, with the map back to original-frame pixels.
    pub fn run(
        &self,
        image: &RgbImage,
        original: (u32, u32),
    ) -> Result<(NamedTensor, Geometry), VisionError> {
        let (fitted, geometry) = self.fit(image, original)?;
        let data = self.pack(&fitted);
        scratch::recycle(fitted.pixels);
        let tensor = Tensor::new(self.shape.clone(), data)
            .map_err(|e| VisionError::Config(e.to_string()))?;
        Ok((NamedTensor::new(self.input_name.clone(), tensor), geometry))
    }

    /// The frame resized to the input size, as RGB.
    fn fit(
        &self,
        image: &RgbImage,
        original: (u32, u32),
    ) -> Result<(RgbImage, Geometry), VisionError> {
        let (in_w, in_h) = (self.config.width, self.config.height);
        let (src_w, src_h) = (image.width as f32, image.height as f32);
        // Original-frame pixels per decoded pixel (the JPEG reduction, if any).
        let (rx, ry) = (original.0 as f32 / src_w, original.1 as f32 / src_h);
        let mut geometry = Geometry::identity(original.0, original.1);
        let fitted = match self.config.resize {
            ResizeMode::Stretch => {
                geometry.factor_x = src_w / in_w as f32 * rx;
                geometry.factor_y = src_h / in_h as f32 * ry;
                resize_rgb(image, None, in_w, in_h)?
            }
            ResizeMode::CentreCrop => {
                let target_aspect = f64::from(in_w) / f64::from(in_h);
                let (mut crop_w, mut crop_h) = (f64::from(image.width), f64::from(image.height));
                if crop_w / crop_h > target_aspect {
                    crop_w = crop_h * target_aspect;
                } else {
                    crop_h = crop_w / target_aspect;
                }
                let left = (f64::from(image.width) - crop_w) / 2.0;
                let top = (f64::from(image.height) - crop_h) / 2.0;
                geometry.factor_x = (crop_w / f64::from(in_w)) as f32 * rx;
                geometry.factor_y = (crop_h / f64::from(in_h)) as f32 * ry;
                geometry.origin_x = left as f32 * rx;
                geometry.origin_y = top as f32 * ry;
                resize_rgb(image, Some((left, top, crop_w, crop_h)), in_w, in_h)?
            }
            ResizeMode::Letterbox => {
                let scale = (in_w as f32 / src_w).min(in_h as f32 / src_h);
                let content_w = ((src_w * scale).round() as u32).clamp(1, in_w);
                let content_h = ((src_h * scale).round() as u32).clamp(1, in_h);
                let (pad_x, pad_y) = ((in_w - content_w) / 2, (in_h - content_h) / 2);
                geometry.pad_x = pad_x as f32;
                geometry.pad_y = pad_y as f32;
                geometry.factor_x = src_w / content_w as f32 * rx;
                geometry.factor_y = src_h / content_h as f32 * ry;
                let content = resize_rgb(image, None, content_w, content_h)?;
                let fill = self.config.letterbox_fill;
                let mut canvas = scratch::buffer(in_w as usize * in_h as usize * 3);
                canvas.fill(fill);
                let row = content_w as usize * 3;
                for y in 0..content_h as usize {
                    let at = ((y + pad_y as usize) * in_w as usize + pad_x as usize) * 3;
                    canvas[at..at + row].copy_from_slice(&content.pixels[y * row..(y + 1) * row]);
                }
                scratch::recycle(content.pixels);
                RgbImage {
                    width: in_w,
                    height: in_h,
                    pixels: canvas,
                }
            }
        };
        Ok((fitted, geometry))
    }

    /// Channel order, normalisation and layout in one pass.
    fn pack(&self, image: &RgbImage) -> TensorData {
        let table = &*self.table;
        let pixels = image.pixels.len() / 3;
        match self.config.dtype {
            PixelType::F32 => {
                TensorData::Fp32(self.arrange(image, pixels, |k, v| table[k][v as usize]))
            }
            PixelType::U8 => TensorData::Uint8(self.arrange(image, pixels, |k, v| {
                table[k][v as usize].round().clamp(0.0, 255.0) as u8
            })),
            PixelType::I8 => TensorData::Int8(self.arrange(image, pixels, |k, v| {
                table[k][v as usize].round().clamp(-128.0, 127.0) as i8
            })),
        }
    }

    fn arrange<T: scratch::Element>(
        &self,
        image: &RgbImage,
        pixels: usize,
        value: impl Fn(usize, u8) -> T,
    ) -> Vec<T> {
        let order = &self.order;
        let mut out = scratch::buffer::<T>(pixels * 3);
        match self.config.layout {
            PixelLayout::Nhwc => {
                for (dst, src) in out.chunks_exact_mut(3).zip(image.pixels.chunks_exact(3)) {
                    for k in 0..3 {
                        dst[k] = value(k, src[order[k]]);
                    }
                }
            }
            PixelLayout::Nchw => {
                let (planes, _) = out.split_at_mut(pixels * 3);
                let (p0, rest) = planes.split_at_mut(pixels);
                let (p1, p2) = rest.split_at_mut(pixels);
                for (i, src) in image.pixels.chunks_exact(3).enumerate() {
                    p0[i] = value(0, src[order[0]]);
                    p1[i] = value(1, src[order[1]]);
                    p2[i] = value(2, src[order[2]]);
                }
            }
        }
        out
    }
}

/// Several preprocessed images as one batch: `[1, ...]` tensors stacked along the first axis.
pub fn stack(mut tensors: Vec<Tensor>) -> Result<Tensor, VisionError> {
    if tensors.len() == 1 {
        return Ok(tensors.remove(0));
    }
    let first = tensors
        .first()
        .ok_or_else(|| VisionError::Corrupt("no images".into()))?;
    if first.shape().len() != 4 {
        return Err(VisionError::Config(
            "the model's image input has no batch dimension; send one image".into(),
        ));
    }
    let mut shape = first.shape().to_vec();
    shape[0] = tensors.len();
    let data = match first.data() {
        TensorData::Fp32(_) => TensorData::Fp32(concat(tensors, |d| match d {
            TensorData::Fp32(v) => Some(v),
            _ => None,
        })?),
        TensorData::Uint8(_) => TensorData::Uint8(concat(tensors, |d| match d {
            TensorData::Uint8(v) => Some(v),
            _ => None,
        })?),
        TensorData::Int8(_) => TensorData::Int8(concat(tensors, |d| match d {
            TensorData::Int8(v) => Some(v),
            _ => None,
        })?),
        other => {
            return Err(VisionError::Config(format!(
                "cannot batch {} image tensors",
                other.datatype()
            )))
        }
    };
    Tensor::new(shape, data).map_err(|e| VisionError::Config(e.to_string()))
}

fn concat<T>(
    tensors: Vec<Tensor>,
    take: impl Fn(TensorData) -> Option<Vec<T>>,
) -> Result<Vec<T>, VisionError> {
    let mut out = Vec::new();
    for t in tensors {
        out.extend(take(t.into_data()).ok_or_else(|| {
            VisionError::Config("images of one batch have different types".into())
        })?);
    }
    Ok(out)
}

/// Bilinear (triangle filter scaled to the reduction, as Pillow's) resize of `image`, or of the
/// `crop` (left, top, width, height) of it, to `width` x `height`.
///
/// The resizer is asked for RGB pixels by type: its untyped entry point would compile the
/// kernels of all thirteen pixel types it knows into every crate that calls it.
pub fn resize_rgb(
    image: &RgbImage,
    crop: Option<(f64, f64, f64, f64)>,
    width: u32,
    height: u32,
) -> Result<RgbImage, VisionError> {
    let fail = |e: &dyn std::fmt::Display| VisionError::Corrupt(format!("resize failed: {e}"));
    let source = TypedImageRef::<U8x3>::from_buffer(image.width, image.height, &image.pixels)
        .map_err(|e| fail(&e))?;
    let mut pixels = scratch::buffer(width as usize * height as usize * 3);
    let mut target =
        TypedImage::<U8x3>::from_buffer(width, height, &mut pixels).map_err(|e| fail(&e))?;
    let mut options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    if let Some((left, top, w, h)) = crop {
        options = options.crop(left, top, w, h);
    }
    RESIZER
        .with(|resizer| {
            resizer
                .borrow_mut()
                .resize_typed(&source, &mut target, &options)
        })
        .map_err(|e| fail(&e))?;
    Ok(RgbImage {
        width,
        height,
        pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_core::TensorSpec;

    /// A 4x2 RGB NCHW f32 configuration, changed by the words in `flags`.
    fn config(flags: &str) -> PreprocessConfig {
        let mut c = PreprocessConfig {
            input: None,
            width: 4,
            height: 2,
            resize: ResizeMode::Stretch,
            color_order: ColorOrder::Rgb,
            layout: PixelLayout::Nchw,
            dtype: PixelType::F32,
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            letterbox_fill: 114,
        };
        for flag in flags.split_whitespace() {
            match flag {
                "nhwc" => c.layout = PixelLayout::Nhwc,
                "bgr" => c.color_order = ColorOrder::Bgr,
                "u8" => c.dtype = PixelType::U8,
                "letterbox" => c.resize = ResizeMode::Letterbox,
                _ => {}
            }
        }
        c
    }

    fn signature(datatype: DataType, shape: Vec<i64>) -> ModelSignature {
        ModelSignature {
            inputs: vec![TensorSpec::new("input", datatype, shape)],
            outputs: vec![],
        }
    }

    fn solid(width: u32, height: u32, rgb: [u8; 3]) -> RgbImage {
        RgbImage {
            width,
            height,
            pixels: rgb.repeat((width * height) as usize),
        }
    }

    #[test]
    fn channels_are_reordered_normalised_and_laid_out() {
        let sig = signature(DataType::Fp32, vec![1, 3, 2, 4]);
        let mut c = config("bgr");
        c.mean = [10.0, 20.0, 30.0];
        c.std = [2.0, 2.0, 2.0];
        let p = Preprocessor::new(&c, &sig).unwrap();
        let (tensor, _) = p.run(&solid(8, 4, [100, 150, 200]), (8, 4)).unwrap();
        assert_eq!(tensor.tensor.shape(), &[1, 3, 2, 4]);
        let TensorData::Fp32(v) = tensor.tensor.data() else {
            panic!()
        };
        // Model channel 0 is blue: (200 - 30) / 2.
        assert_eq!(v[0], 85.0);
        assert_eq!(v[8], (150.0 - 20.0) / 2.0);
        assert_eq!(v[16], (100.0 - 10.0) / 2.0);
    }

    #[test]
    fn raw_u8_nhwc_keeps_pixel_values() {
        let sig = signature(DataType::Uint8, vec![1, 2, 4, 3]);
        let p = Preprocessor::new(&config("nhwc\nu8"), &sig).unwrap();
        let (tensor, _) = p.run(&solid(16, 8, [1, 2, 3]), (16, 8)).unwrap();
        assert_eq!(
            tensor.tensor.data(),
            &TensorData::Uint8([1, 2, 3].repeat(8))
        );
    }

    #[test]
    fn letterbox_pads_and_maps_back() {
        let sig = signature(DataType::Uint8, vec![1, 2, 4, 3]);
        let mut c = config("nhwc\nu8\nletterbox");
        c.width = 4;
        c.height = 4;
        let sig4 = signature(DataType::Uint8, vec![1, 4, 4, 3]);
        assert!(
            Preprocessor::new(&c, &sig).is_err(),
            "shape mismatch is refused"
        );
        let p = Preprocessor::new(&c, &sig4).unwrap();
        // An 8x4 frame becomes 4x2 content at rows 1..3.
        let (tensor, g) = p.run(&solid(8, 4, [9, 9, 9]), (8, 4)).unwrap();
        let TensorData::Uint8(v) = tensor.tensor.data() else {
            panic!()
        };
        assert_eq!(&v[..12], &[114; 12]);
        assert_eq!(&v[12..24], &[9; 12]);
        let b = g.to_original(0.0, 1.0, 4.0, 3.0);
        assert_eq!((b.x_min, b.y_min, b.x_max, b.y_max), (0.0, 0.0, 8.0, 4.0));
    }

    #[test]
    fn centre_crop_takes_the_middle_and_maps_back() {
        let sig = signature(DataType::Int8, vec![1, 4, 4, 3]);
        let mut c = config("nhwc");
        c.resize = ResizeMode::CentreCrop;
        c.dtype = PixelType::I8;
        c.width = 4;
        c.height = 4;
        c.mean = [128.0; 3];
        // A 16x8 frame, bright in x 2..14 and dark at the edges: the 8x8 centre crop (x 4..12)
        // and the filter reaching 2 pixels beyond it see only bright pixels.
        let mut frame = solid(16, 8, [0, 0, 0]);
        for y in 0..8 {
            for x in 2..14 {
                let at = (y * 16 + x) * 3;
                frame.pixels[at..at + 3].copy_from_slice(&[200, 200, 200]);
            }
        }
        let (tensor, g) = p_run(&c, &sig, &frame, (16, 8));
        let TensorData::Int8(v) = tensor.tensor.data() else {
            panic!()
        };
        assert!(
            v.iter().all(|x| *x == 72),
            "only the bright middle is seen: {v:?}"
        );
        let b = g.to_original(0.0, 0.0, 4.0, 4.0);
        assert_eq!((b.x_min, b.y_min, b.x_max, b.y_max), (4.0, 0.0, 12.0, 8.0));
    }

    fn p_run(
        c: &PreprocessConfig,
        sig: &ModelSignature,
        frame: &RgbImage,
        original: (u32, u32),
    ) -> (NamedTensor, Geometry) {
        Preprocessor::new(c, sig)
            .unwrap()
            .run(frame, original)
            .unwrap()
    }

    #[test]
    fn wrong_dtype_or_rank_is_a_config_error() {
        let c = config("");
        assert!(Preprocessor::new(&c, &signature(DataType::Uint8, vec![1, 3, 2, 4])).is_err());
        assert!(Preprocessor::new(&c, &signature(DataType::Fp32, vec![24])).is_err());
    }
}
