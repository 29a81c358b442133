//! Encoding packed RGB, and the JPEG quality levels.

use bytes::Bytes;
use serde::Deserialize;

/// Image encodings offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Jpeg,
    Png,
}

impl Format {
    /// The media type of the encoded bytes.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }
}

/// What can go wrong making a picture.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A quality outside 1..=100: the caller's mistake.
    #[error("quality must be 1..=100, not {0}")]
    Quality(u8),
    #[error("no JPEG quality levels are configured")]
    NoLevels,
    #[error("{width}x{height} RGB needs {needed} bytes, the buffer has {got}")]
    Size {
        width: u32,
        height: u32,
        needed: usize,
        got: usize,
    },
    #[error("JPEG encoding failed")]
    Jpeg(#[source] turbojpeg::Error),
    #[error("PNG encoding failed")]
    Png(#[source] image::ImageError),
}

impl RenderError {
    /// Whether the caller asked for something impossible (rather than the encoder failing).
    pub fn is_bad_request(&self) -> bool {
        matches!(self, Self::Quality(_))
    }
}

/// The configured level nearest to `q` (ties go to the higher quality).
pub fn snap_quality(q: u8, levels: &[u8]) -> Result<u8, RenderError> {
    if !(1..=100).contains(&q) {
        return Err(RenderError::Quality(q));
    }
    levels
        .iter()
        .copied()
        .min_by_key(|&l| (l.abs_diff(q), std::cmp::Reverse(l)))
        .ok_or(RenderError::NoLevels)
}

/// `rgb` (`width * height * 3` bytes) as JPEG at `quality` (4:2:0) or as PNG (fast, lossless;
/// `quality` unused).
pub fn encode(
    rgb: &[u8],
    width: u32,
    height: u32,
    format: Format,
    quality: u8,
) -> Result<Bytes, RenderError> {
    let needed = width as usize * height as usize * 3;
    if rgb.len() < needed {
        return Err(RenderError::Size {
            width,
            height,
            needed,
            got: rgb.len(),
        });
    }
    match format {
        Format::Jpeg => {
            let image = turbojpeg::Image {
                pixels: rgb,
                width: width as usize,
                pitch: width as usize * 3,
                height: height as usize,
                format: turbojpeg::PixelFormat::RGB,
            };
            let jpeg = turbojpeg::compress(image, i32::from(quality), turbojpeg::Subsamp::Sub2x2)
                .map_err(RenderError::Jpeg)?;
            Ok(Bytes::copy_from_slice(&jpeg))
        }
        Format::Png => {
            use image::ImageEncoder as _;
            let mut out = Vec::new();
            image::codecs::png::PngEncoder::new_with_quality(
                &mut out,
                image::codecs::png::CompressionType::Fast,
                image::codecs::png::FilterType::Sub,
            )
            .write_image(&rgb[..needed], width, height, image::ExtendedColorType::Rgb8)
            .map_err(RenderError::Png)?;
            Ok(Bytes::from(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualities_snap_to_the_nearest_level() {
        let levels = [90, 70, 50];
        assert_eq!(snap_quality(80, &levels).unwrap(), 90);
        assert_eq!(snap_quality(79, &levels).unwrap(), 70);
        assert_eq!(snap_quality(100, &levels).unwrap(), 90);
        assert_eq!(snap_quality(1, &levels).unwrap(), 50);
        assert!(snap_quality(0, &levels).unwrap_err().is_bad_request());
        assert!(snap_quality(101, &levels).unwrap_err().is_bad_request());
        assert!(matches!(snap_quality(50, &[]), Err(RenderError::NoLevels)));
    }

    #[test]
    fn encodings_decode_back_to_the_picture() {
        let (w, h) = (32u32, 16u32);
        let rgb: Vec<u8> = (0..w * h).flat_map(|i| [(i % 256) as u8, 128, 200]).collect();
        let png = encode(&rgb, w, h, Format::Png, 0).unwrap();
        let back = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(back.as_raw(), &rgb);
        let jpeg = encode(&rgb, w, h, Format::Jpeg, 90).unwrap();
        let back = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert_eq!(back.dimensions(), (w, h));
        assert!(matches!(
            encode(&rgb[..10], w, h, Format::Jpeg, 90),
            Err(RenderError::Size { .. })
        ));
    }
}
