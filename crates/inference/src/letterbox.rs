//! Fitting a frame into the model's input the way Ultralytics does, and back.
//!
//! Ultralytics' `LetterBox`: scale to fit keeping the aspect ratio, round the new size half to
//! even (Python's `round`), centre it, pad with grey 114, and split an odd padding so the extra
//! pixel goes to the bottom/right (`round(d - 0.1)`, `round(d + 0.1)`). Predicting on a model
//! with a dynamic input, it pads only up to a multiple of the stride ("rect"), so a 1920x1080
//! frame goes in as 640x384 rather than 640x640. Matching this exactly is what lets our boxes
//! agree with Ultralytics' own predictions to the pixel.

use fast_image_resize as fir;
use ndarray::ArrayViewMut3;

use crate::error::InferenceError;

/// The value Ultralytics pads with, on the 0..255 scale.
pub const PAD_VALUE: u8 = 114;

/// `v / 255` for every byte value.
static UNIT_SCALE: std::sync::LazyLock<[f32; 256]> =
    std::sync::LazyLock::new(|| std::array::from_fn(|v| v as f32 / 255.0));

/// What a model input holds per pixel channel: the 0..1 floats a YOLO export takes, or the
/// bytes themselves for a model that scales them inside (what `triton-repo` writes: a quarter
/// of the bytes on the wire).
pub trait InputValue: Copy + Send + Sync + 'static {
    /// The values of the 256 byte values.
    fn table() -> &'static [Self; 256];
}

impl InputValue for f32 {
    /// `v / 255`, bit-identical to dividing as Ultralytics does.
    fn table() -> &'static [f32; 256] {
        &UNIT_SCALE
    }
}

impl InputValue for u8 {
    fn table() -> &'static [u8; 256] {
        static BYTES: [u8; 256] = {
            let mut t = [0u8; 256];
            let mut v = 0;
            while v < 256 {
                t[v] = v as u8;
                v += 1;
            }
            t
        };
        &BYTES
    }
}

/// Where a source image lands inside the model input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Source size (width, height).
    pub source: (u32, u32),
    /// Model input size (width, height).
    pub input: (u32, u32),
    /// Size of the scaled image inside the input.
    pub scaled: (u32, u32),
    /// Padding on the left and top.
    pub left: u32,
    pub top: u32,
    /// Source pixels to input pixels.
    pub gain: f64,
}

fn py_round(x: f64) -> f64 {
    x.round_ties_even()
}

impl Letterbox {
    /// Fits `source` into exactly `input` (both width, height).
    pub fn fit(source: (u32, u32), input: (u32, u32)) -> Self {
        let (sw, sh) = (f64::from(source.0), f64::from(source.1));
        let (iw, ih) = (f64::from(input.0), f64::from(input.1));
        let gain = (ih / sh).min(iw / sw);
        let scaled = (
            py_round(sw * gain).max(1.0) as u32,
            py_round(sh * gain).max(1.0) as u32,
        );
        let dw = (iw - f64::from(scaled.0)) / 2.0;
        let dh = (ih - f64::from(scaled.1)) / 2.0;
        Self {
            source,
            input,
            scaled,
            left: py_round(dw - 0.1).max(0.0) as u32,
            top: py_round(dh - 0.1).max(0.0) as u32,
            gain,
        }
    }

    /// The input size Ultralytics uses for `source` on a model of square size `imgsz` with a
    /// dynamic input: scaled to fit, padded only up to a multiple of `stride`.
    pub fn rect_input(source: (u32, u32), imgsz: u32, stride: u32) -> (u32, u32) {
        let fit = Self::fit(source, (imgsz, imgsz));
        let stride = stride.max(1);
        let pad = |scaled: u32| scaled + (imgsz - scaled) % stride;
        (pad(fit.scaled.0), pad(fit.scaled.1))
    }

    /// A box in input pixels back to source pixels, clamped to the source: minus the padding
    /// actually applied, divided by each axis's own scale (the rounded size over the source
    /// size), as Ultralytics' `scale_boxes` does since 8.4.
    pub fn to_source(&self, [x1, y1, x2, y2]: [f32; 4]) -> [f32; 4] {
        let gain_x = f64::from(self.scaled.0) / f64::from(self.source.0);
        let gain_y = f64::from(self.scaled.1) / f64::from(self.source.1);
        let (w, h) = (self.source.0 as f32, self.source.1 as f32);
        let x = |v: f32| (((f64::from(v) - f64::from(self.left)) / gain_x) as f32).clamp(0.0, w);
        let y = |v: f32| (((f64::from(v) - f64::from(self.top)) / gain_y) as f32).clamp(0.0, h);
        [x(x1), y(y1), x(x2), y(y2)]
    }
}

/// Reusable buffers for [`Preprocessor::fill`]: a resizer and a scratch image.
#[derive(Default)]
pub struct Preprocessor {
    resizer: fir::Resizer,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Preprocessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preprocessor").finish_non_exhaustive()
    }
}

impl Preprocessor {
    /// Letterboxes an RGB image (3 bytes a pixel, rows packed) into `out`, a `[3, H, W]` view of
    /// the batch tensor: planar RGB scaled to 0..1, grey padding.
    pub fn fill<T: InputValue>(
        &mut self,
        rgb: &[u8],
        lb: &Letterbox,
        mut out: ArrayViewMut3<'_, T>,
    ) -> Result<(), InferenceError> {
        let (sw, sh) = lb.source;
        let (iw, ih) = lb.input;
        if out.shape() != [3, ih as usize, iw as usize] {
            return Err(InferenceError::Shape(format!(
                "input slot is {:?}, the letterbox needs [3, {ih}, {iw}]",
                out.shape()
            )));
        }
        if rgb.len() != sw as usize * sh as usize * 3 {
            return Err(InferenceError::Shape(format!(
                "image of {sw}x{sh} needs {} bytes, got {}",
                sw as usize * sh as usize * 3,
                rgb.len()
            )));
        }
        let (w, h) = lb.scaled;
        let scaled: &[u8] = if (w, h) == (sw, sh) {
            rgb
        } else {
            // Typed to RGB: the untyped `resize` compiles its SIMD kernels for every pixel type.
            let src = fir::images::TypedImageRef::<fir::pixels::U8x3>::from_buffer(sw, sh, rgb)
                .map_err(|e| InferenceError::Shape(e.to_string()))?;
            self.scratch.resize(w as usize * h as usize * 3, 0);
            let mut dst = fir::images::TypedImage::<fir::pixels::U8x3>::from_buffer(w, h, &mut self.scratch)
                .map_err(|e| InferenceError::Shape(e.to_string()))?;
            let options = fir::ResizeOptions::new()
                .resize_alg(fir::ResizeAlg::Interpolation(fir::FilterType::Bilinear));
            self.resizer
                .resize_typed(&src, &mut dst, &options)
                .map_err(|e| InferenceError::Shape(e.to_string()))?;
            &self.scratch
        };
        let (left, top) = (lb.left as usize, lb.top as usize);
        let (iw, plane_len) = (iw as usize, iw as usize * ih as usize);
        let (w_px, bottom) = (w as usize, top + h as usize);
        let tensor = out
            .as_slice_mut()
            .ok_or_else(|| InferenceError::Shape("the input slot must be contiguous".into()))?;
        // Grey only where the image does not go: every value is written once.
        let scale = T::table();
        let pad = scale[PAD_VALUE as usize];
        for plane in tensor.chunks_exact_mut(plane_len) {
            plane[..top * iw].fill(pad);
            plane[bottom * iw..].fill(pad);
            for row in plane[top * iw..bottom * iw].chunks_exact_mut(iw) {
                row[..left].fill(pad);
                row[left + w_px..].fill(pad);
            }
        }
        let (r, gb) = tensor.split_at_mut(plane_len);
        let (g, b) = gb.split_at_mut(plane_len);
        // One pass over each source row, the three planes written side by side; values from the
        // element type's table.
        for (y, row) in scaled.chunks_exact(w as usize * 3).enumerate() {
            let at = (top + y) * iw + left;
            let (r, g, b) = (
                &mut r[at..at + w as usize],
                &mut g[at..at + w as usize],
                &mut b[at..at + w as usize],
            );
            for (((px, r), g), b) in row.chunks_exact(3).zip(r).zip(g).zip(b) {
                *r = scale[px[0] as usize];
                *g = scale[px[1] as usize];
                *b = scale[px[2] as usize];
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn fits_like_ultralytics() {
        // 1920x1080 into 640x640: 640x360, 140 rows of padding above and below.
        let lb = Letterbox::fit((1920, 1080), (640, 640));
        assert_eq!(lb.scaled, (640, 360));
        assert_eq!((lb.left, lb.top), (0, 140));
        // Odd padding: 1280x721 into 320x320 -> 320x180 (180.25 rounds to 180), 70 above.
        let lb = Letterbox::fit((1280, 721), (320, 320));
        assert_eq!(lb.scaled, (320, 180));
        assert_eq!(lb.top, 70);
        // 100x37 into 64x64: 64x23.68 -> 24 rows; padding 40 -> 20 above.
        let lb = Letterbox::fit((100, 37), (64, 64));
        assert_eq!(lb.scaled, (64, 24));
        assert_eq!(lb.top, 20);
        // An odd total padding puts the extra pixel below: 64-23 = 41 -> 20 above, 21 below.
        let lb = Letterbox::fit((64, 23), (64, 64));
        assert_eq!((lb.scaled, lb.top), ((64, 23), 20));
    }

    #[test]
    fn python_rounding_is_half_to_even() {
        // 2.5 rounds to 2 in Python, 3 in Rust's f64::round.
        assert_eq!(py_round(2.5), 2.0);
        assert_eq!(py_round(3.5), 4.0);
        assert_eq!(py_round(-0.1), 0.0);
    }

    #[test]
    fn rect_inputs_pad_to_the_stride() {
        assert_eq!(Letterbox::rect_input((1920, 1080), 640, 32), (640, 384));
        assert_eq!(Letterbox::rect_input((1280, 720), 320, 32), (320, 192));
        assert_eq!(Letterbox::rect_input((720, 1280), 640, 32), (384, 640));
        assert_eq!(Letterbox::rect_input((640, 640), 640, 32), (640, 640));
    }

    #[test]
    fn boxes_go_back_to_source_pixels() {
        let lb = Letterbox::fit((1920, 1080), (640, 640));
        // The input's top-left corner of the image and its bottom-right.
        assert_eq!(
            lb.to_source([0.0, 140.0, 640.0, 500.0]),
            [0.0, 0.0, 1920.0, 1080.0]
        );
        let [x1, y1, x2, y2] = lb.to_source([100.0, 200.0, 110.0, 210.0]);
        assert!((x1 - 300.0).abs() < 1e-3 && (y1 - 180.0).abs() < 1e-3);
        assert!((x2 - 330.0).abs() < 1e-3 && (y2 - 210.0).abs() < 1e-3);
        // Boxes in the padding are clamped onto the image.
        assert_eq!(
            lb.to_source([-5.0, 0.0, 700.0, 600.0]),
            [0.0, 0.0, 1920.0, 1080.0]
        );
    }

    #[test]
    fn odd_padding_maps_back_with_the_padding_applied() {
        // 544x416 into 320x256: scaled to 320x245, 11 rows of padding split 5 above, 6 below.
        let lb = Letterbox::fit((544, 416), (320, 256));
        assert_eq!((lb.scaled, lb.left, lb.top), ((320, 245), 0, 5));
        // The image's first and last rows come back to 0 and 416 (recomputing the padding from
        // the gain, as Ultralytics did before 8.4, would give 6 and be 1.7 px off).
        let [_, y1, _, y2] = lb.to_source([0.0, 5.0, 320.0, 250.0]);
        assert!(y1.abs() < 1e-4 && (y2 - 416.0).abs() < 1e-3, "{y1} {y2}");
    }

    #[test]
    fn fills_planar_rgb_with_grey_padding() {
        // A 4x2 image: left half red, right half blue, into 8x8.
        let mut rgb = vec![0u8; 4 * 2 * 3];
        for y in 0..2 {
            for x in 0..4 {
                let p = &mut rgb[(y * 4 + x) * 3..][..3];
                p.copy_from_slice(if x < 2 { &[255, 0, 0] } else { &[0, 0, 255] });
            }
        }
        let lb = Letterbox::fit((4, 2), (8, 8));
        assert_eq!((lb.scaled, lb.left, lb.top), ((8, 4), 0, 2));
        let mut tensor = Array3::<f32>::zeros((3, 8, 8));
        Preprocessor::default()
            .fill(&rgb, &lb, tensor.view_mut())
            .unwrap();
        let grey = 114.0 / 255.0;
        assert_eq!(tensor[[0, 0, 0]], grey);
        assert_eq!(tensor[[2, 7, 7]], grey);
        assert_eq!(tensor[[0, 3, 0]], 1.0);
        assert_eq!(tensor[[2, 3, 0]], 0.0);
        assert_eq!(tensor[[2, 4, 7]], 1.0);
        assert_eq!(tensor[[0, 4, 7]], 0.0);
    }

    #[test]
    fn byte_inputs_hold_the_pixels_the_float_input_scales() {
        let rgb: Vec<u8> = (0..7 * 5 * 3).map(|i| (i * 37 % 256) as u8).collect();
        let lb = Letterbox::fit((7, 5), (16, 16));
        let mut pre = Preprocessor::default();
        let mut floats = Array3::<f32>::zeros((3, 16, 16));
        let mut bytes = Array3::<u8>::zeros((3, 16, 16));
        pre.fill(&rgb, &lb, floats.view_mut()).unwrap();
        pre.fill(&rgb, &lb, bytes.view_mut()).unwrap();
        assert_eq!(bytes[[1, 0, 0]], PAD_VALUE);
        assert_eq!(floats, bytes.mapv(|v| f32::from(v) / 255.0));
    }

    #[test]
    fn refuses_mismatched_buffers() {
        let lb = Letterbox::fit((4, 2), (8, 8));
        let mut tensor = Array3::<f32>::zeros((3, 8, 8));
        assert!(
            Preprocessor::default()
                .fill(&[0; 5], &lb, tensor.view_mut())
                .is_err()
        );
        let mut wrong = Array3::<f32>::zeros((3, 8, 9));
        assert!(
            Preprocessor::default()
                .fill(&[0; 24], &lb, wrong.view_mut())
                .is_err()
        );
    }
}
