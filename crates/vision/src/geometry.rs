//! Where the model's input pixels came from in the original frame, so that boxes found in model
//! coordinates are reported in the caller's image coordinates (undoing the reduction, resize,
//! crop and letterbox padding).

use serde::Serialize;

/// An affine map from model-input pixels to original-frame pixels, per axis:
/// `original = (input - pad) * factor + origin`, clamped to the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    /// Letterbox padding on the left, input pixels.
    pub pad_x: f32,
    /// Letterbox padding on top, input pixels.
    pub pad_y: f32,
    /// Original pixels per input pixel, across.
    pub factor_x: f32,
    /// Original pixels per input pixel, down.
    pub factor_y: f32,
    /// Where the input's left edge lies in the frame (centre crop).
    pub origin_x: f32,
    /// Where the input's top edge lies in the frame (centre crop).
    pub origin_y: f32,
    /// The frame's width.
    pub original_width: u32,
    /// The frame's height.
    pub original_height: u32,
}

/// A box in original-frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PixelBox {
    /// Left edge.
    pub x_min: f32,
    /// Top edge.
    pub y_min: f32,
    /// Right edge.
    pub x_max: f32,
    /// Bottom edge.
    pub y_max: f32,
}

impl Geometry {
    /// Model-input pixels are the frame's own: a `width` x `height` frame used as it is.
    pub fn identity(width: u32, height: u32) -> Geometry {
        Geometry {
            pad_x: 0.0,
            pad_y: 0.0,
            factor_x: 1.0,
            factor_y: 1.0,
            origin_x: 0.0,
            origin_y: 0.0,
            original_width: width,
            original_height: height,
        }
    }

    /// The box `(x1, y1, x2, y2)` in model-input pixels, in original-frame pixels.
    pub fn to_original(&self, x1: f32, y1: f32, x2: f32, y2: f32) -> PixelBox {
        let (w, h) = (self.original_width as f32, self.original_height as f32);
        let x = |v: f32| ((v - self.pad_x) * self.factor_x + self.origin_x).clamp(0.0, w);
        let y = |v: f32| ((v - self.pad_y) * self.factor_y + self.origin_y).clamp(0.0, h);
        PixelBox {
            x_min: x(x1.min(x2)),
            y_min: y(y1.min(y2)),
            x_max: x(x1.max(x2)),
            y_max: y(y1.max(y2)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_padding_and_scale_are_undone() {
        // A 640x320 frame letterboxed into 320x320: content 320x160 at y offset 80.
        let g = Geometry {
            pad_x: 0.0,
            pad_y: 80.0,
            factor_x: 2.0,
            factor_y: 2.0,
            origin_x: 0.0,
            origin_y: 0.0,
            original_width: 640,
            original_height: 320,
        };
        let b = g.to_original(10.0, 80.0, 20.0, 240.0);
        assert_eq!(
            (b.x_min, b.y_min, b.x_max, b.y_max),
            (20.0, 0.0, 40.0, 320.0)
        );
        // Outside the content it clamps to the frame.
        assert_eq!(g.to_original(0.0, 0.0, 400.0, 400.0).y_max, 320.0);
    }
}
