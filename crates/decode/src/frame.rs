use std::time::Duration;

use fast_image_resize as fir;
use serde::Serialize;

use crate::convert::{I420, YuvColour, i420_to_rgb};
use crate::error::DecodeError;

/// One decoded picture, RGB with 3 bytes per pixel and rows packed without padding.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    /// Position in presentation order, from 0.
    pub index: u64,
    /// The frame's real presentation timestamp, as the container gives it.
    pub pts: Duration,
    /// Whether decoding can start at this frame.
    pub keyframe: bool,
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes, row after row.
    pub data: Vec<u8>,
}

/// The pixels, so a shared frame can be lent as an image without a copy.
impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("index", &self.index)
            .field("pts", &self.pts)
            .field("keyframe", &self.keyframe)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl Frame {
    /// This frame resized to `width` x `height` (a SIMD convolution resize), keeping its
    /// index, pts and keyframe flag: one decoded frame serves every size a caller wants.
    pub fn resized(&self, width: u32, height: u32) -> Result<Frame, DecodeError> {
        let invalid = || DecodeError::InvalidSize { width, height };
        Size::Exact { width, height }.resolve((self.width, self.height))?;
        // Typed to RGB: the untyped `resize` compiles its SIMD kernels for every pixel type.
        let src =
            fir::images::TypedImageRef::<fir::pixels::U8x3>::from_buffer(self.width, self.height, &self.data)
                .map_err(|_| invalid())?;
        let mut data = vec![0; width as usize * height as usize * 3];
        let mut dst = fir::images::TypedImage::<fir::pixels::U8x3>::from_buffer(width, height, &mut data)
            .map_err(|_| invalid())?;
        fir::Resizer::new()
            .resize_typed(&src, &mut dst, &fir::ResizeOptions::new())
            .map_err(|_| invalid())?;
        Ok(Frame {
            width,
            height,
            data,
            ..*self
        })
    }
}

/// A decoded frame kept as the decoder gave it (I420, half the bytes of RGB) and converted to
/// RGB only when asked: for callers that keep many frames and look at few of them (the
/// indexer's refinement window). Sources without an I420 form hold RGB.
#[derive(Clone, PartialEq, Eq)]
pub struct Picture {
    pub index: u64,
    pub pts: Duration,
    pub keyframe: bool,
    pub width: u32,
    pub height: u32,
    pixels: Pixels,
}

#[derive(Clone, PartialEq, Eq)]
enum Pixels {
    Rgb(Vec<u8>),
    /// The Y plane, then U and V, each `(width + 1) / 2` by `(height + 1) / 2`, rows packed.
    I420 {
        planes: Vec<u8>,
        colour: YuvColour,
    },
}

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Picture")
            .field("index", &self.index)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("i420", &matches!(self.pixels, Pixels::I420 { .. }))
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl Picture {
    /// The bytes an I420 picture of `width` x `height` holds.
    pub fn i420_bytes(width: u32, height: u32) -> u64 {
        let chroma = u64::from(width.div_ceil(2)) * u64::from(height.div_ceil(2));
        u64::from(width) * u64::from(height) + 2 * chroma
    }

    /// A copy of an I420 picture, its planes packed.
    pub fn from_i420(index: u64, pts: Duration, keyframe: bool, img: &I420<'_>, colour: YuvColour) -> Self {
        let (w, h) = (img.width as usize, img.height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut planes = Vec::with_capacity(Self::i420_bytes(img.width, img.height) as usize);
        for (plane, stride, width, rows) in [
            (img.y, img.y_stride, w, h),
            (img.u, img.u_stride, cw, ch),
            (img.v, img.v_stride, cw, ch),
        ] {
            for row in plane.chunks(stride.max(1)).take(rows) {
                planes.extend_from_slice(&row[..width.min(row.len())]);
            }
        }
        Self {
            index,
            pts,
            keyframe,
            width: img.width,
            height: img.height,
            pixels: Pixels::I420 { planes, colour },
        }
    }

    /// The bytes this picture holds.
    pub fn bytes(&self) -> u64 {
        match &self.pixels {
            Pixels::Rgb(data) => data.len() as u64,
            Pixels::I420 { planes, .. } => planes.len() as u64,
        }
    }

    /// The frame in RGB (converting an I420 picture).
    pub fn into_frame(self) -> Result<Frame, DecodeError> {
        let data = match self.pixels {
            Pixels::Rgb(data) => data,
            Pixels::I420 { planes, colour } => {
                let (w, h) = (self.width as usize, self.height as usize);
                let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
                if planes.len() != w * h + 2 * cw * ch {
                    return Err(DecodeError::Pipeline(format!(
                        "an I420 picture of {w}x{h} holds {} bytes",
                        planes.len()
                    )));
                }
                let (y, chroma) = planes.split_at(w * h);
                let (u, v) = chroma.split_at(cw * ch);
                let img = I420 {
                    y,
                    y_stride: w,
                    u,
                    u_stride: cw,
                    v,
                    v_stride: cw,
                    width: self.width,
                    height: self.height,
                };
                i420_to_rgb(&img, colour)?
            }
        };
        Ok(Frame {
            index: self.index,
            pts: self.pts,
            keyframe: self.keyframe,
            width: self.width,
            height: self.height,
            data,
        })
    }
}

impl From<Frame> for Picture {
    fn from(frame: Frame) -> Self {
        Self {
            index: frame.index,
            pts: frame.pts,
            keyframe: frame.keyframe,
            width: frame.width,
            height: frame.height,
            pixels: Pixels::Rgb(frame.data),
        }
    }
}

/// Which frame to read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Seconds after the first frame; the frame on screen then.
    Time(f64),
    /// Position in presentation order.
    Index(u64),
}

/// How exactly to find it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Exactly the frame asked for.
    #[default]
    Exact,
    /// The nearest keyframe at or before it: much cheaper, for scrubbing while the user drags.
    Fast,
}

/// The size frames come out at. Scaling is done by GStreamer's `videoscale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Size {
    /// The stream's own size.
    #[default]
    Native,
    /// This width; the height follows the aspect ratio (rounded to an even number).
    Width(u32),
    /// Exactly this size.
    Exact { width: u32, height: u32 },
}

impl Size {
    /// The concrete size for a stream of `native` size.
    pub fn resolve(self, native: (u32, u32)) -> Result<(u32, u32), DecodeError> {
        let (w, h) = match self {
            Size::Native => native,
            Size::Width(width) => {
                let height = (u64::from(width) * u64::from(native.1) / u64::from(native.0).max(1)) as u32;
                (width, (height + 1) & !1)
            }
            Size::Exact { width, height } => (width, height),
        };
        const MAX: u32 = 16_384;
        if w == 0 || h == 0 || w > MAX || h > MAX {
            return Err(DecodeError::InvalidSize { width: w, height: h });
        }
        Ok((w, h))
    }
}

/// Which frames a sequential read delivers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stride {
    /// Every k-th frame (k >= 1), counting from the first frame read.
    Frames(u64),
    /// The frame on screen every `Δt` seconds, from the start of the read.
    Seconds(f64),
    /// Keyframes only; the frames between them are not decoded at all.
    Keyframes,
}

/// A sequential read: from `from` to `to` seconds (inclusive, `None` for the end).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Read {
    pub from: f64,
    pub to: Option<f64>,
    pub stride: Stride,
}

impl Read {
    /// Every frame of the video.
    pub fn all() -> Self {
        Self {
            from: 0.0,
            to: None,
            stride: Stride::Frames(1),
        }
    }

    /// The whole video with the given stride.
    pub fn every(stride: Stride) -> Self {
        Self {
            from: 0.0,
            to: None,
            stride,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_resizes_keeping_its_identity() {
        let frame = Frame {
            index: 7,
            pts: Duration::from_millis(280),
            keyframe: false,
            width: 8,
            height: 4,
            data: vec![200; 8 * 4 * 3],
        };
        let half = frame.resized(4, 2).unwrap();
        assert_eq!(
            (half.width, half.height, half.index, half.pts),
            (4, 2, 7, frame.pts)
        );
        assert_eq!(half.data, vec![200; 4 * 2 * 3], "a flat picture stays flat");
        assert!(frame.resized(0, 2).is_err());
    }

    #[test]
    fn sizes_resolve() {
        assert_eq!(Size::Native.resolve((1280, 720)).unwrap(), (1280, 720));
        assert_eq!(Size::Width(640).resolve((1280, 720)).unwrap(), (640, 360));
        assert_eq!(Size::Width(100).resolve((1920, 1080)).unwrap(), (100, 56));
        assert_eq!(
            Size::Exact {
                width: 320,
                height: 320
            }
            .resolve((1280, 720))
            .unwrap(),
            (320, 320)
        );
        assert!(Size::Width(0).resolve((1280, 720)).is_err());
        assert!(
            Size::Exact {
                width: 100_000,
                height: 10
            }
            .resolve((1280, 720))
            .is_err()
        );
    }
}
