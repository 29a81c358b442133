//! YUV 4:2:0 to packed RGB, in Rust (SIMD, the `yuv` crate) rather than GStreamer's
//! `videoconvert`, which runs single-threaded in the streaming thread and took 3.8 ms of the
//! 5.5 ms per 1080p frame of a sequential read (bench/RESULTS.md).

use crate::error::DecodeError;

/// The YUV-to-RGB matrix of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Matrix {
    /// SD video and JPEG.
    Bt601,
    /// HD video.
    #[default]
    Bt709,
    Bt2020,
}

/// How a stream's YUV samples map to RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct YuvColour {
    pub matrix: Matrix,
    /// 0..255 samples (JPEG) instead of 16..235 (video).
    pub full_range: bool,
}

/// One I420 picture: three planes, each with its own stride in bytes.
#[derive(Debug, Clone, Copy)]
pub struct I420<'a> {
    pub y: &'a [u8],
    pub y_stride: usize,
    pub u: &'a [u8],
    pub u_stride: usize,
    pub v: &'a [u8],
    pub v_stride: usize,
    pub width: u32,
    pub height: u32,
}

/// Converts to RGB, 3 bytes a pixel, rows packed.
pub fn i420_to_rgb(img: &I420<'_>, colour: YuvColour) -> Result<Vec<u8>, DecodeError> {
    let planar = yuv::YuvPlanarImage {
        y_plane: img.y,
        y_stride: img.y_stride as u32,
        u_plane: img.u,
        u_stride: img.u_stride as u32,
        v_plane: img.v,
        v_stride: img.v_stride as u32,
        width: img.width,
        height: img.height,
    };
    let row = img.width as usize * 3;
    let mut rgb = vec![0u8; row * img.height as usize];
    let range = if colour.full_range {
        yuv::YuvRange::Full
    } else {
        yuv::YuvRange::Limited
    };
    let matrix = match colour.matrix {
        Matrix::Bt601 => yuv::YuvStandardMatrix::Bt601,
        Matrix::Bt709 => yuv::YuvStandardMatrix::Bt709,
        Matrix::Bt2020 => yuv::YuvStandardMatrix::Bt2020,
    };
    yuv::yuv420_to_rgb(&planar, &mut rgb, row as u32, range, matrix)
        .map_err(|e| DecodeError::Pipeline(format!("YUV to RGB conversion failed: {e:?}")))?;
    Ok(rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(y: u8, u: u8, v: u8, colour: YuvColour) -> [u8; 3] {
        let (w, h) = (4usize, 2usize);
        let (ys, us, vs) = (vec![y; w * h], vec![u; 2], vec![v; 2]);
        let img = I420 {
            y: &ys,
            y_stride: w,
            u: &us,
            u_stride: 2,
            v: &vs,
            v_stride: 2,
            width: w as u32,
            height: h as u32,
        };
        let rgb = i420_to_rgb(&img, colour).unwrap();
        assert_eq!(rgb.len(), w * h * 3);
        assert!(
            rgb.chunks(3).all(|p| p == &rgb[..3]),
            "a solid picture stays solid"
        );
        [rgb[0], rgb[1], rgb[2]]
    }

    fn near(a: [u8; 3], b: [u8; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 2)
    }

    #[test]
    fn limited_range_black_white_and_red() {
        let bt709 = YuvColour::default();
        assert!(near(solid(16, 128, 128, bt709), [0, 0, 0]));
        assert!(near(solid(235, 128, 128, bt709), [255, 255, 255]));
        // BT.709 red: Y 63, Cb 102, Cr 240.
        assert!(
            near(solid(63, 102, 240, bt709), [255, 0, 0]),
            "{:?}",
            solid(63, 102, 240, bt709)
        );
        // BT.601 red: Y 81, Cb 90, Cr 240.
        let bt601 = YuvColour {
            matrix: Matrix::Bt601,
            full_range: false,
        };
        assert!(
            near(solid(81, 90, 240, bt601), [255, 0, 0]),
            "{:?}",
            solid(81, 90, 240, bt601)
        );
    }

    #[test]
    fn full_range_grey() {
        let jpeg = YuvColour {
            matrix: Matrix::Bt601,
            full_range: true,
        };
        assert!(near(solid(0, 128, 128, jpeg), [0, 0, 0]));
        assert!(near(solid(255, 128, 128, jpeg), [255, 255, 255]));
        assert!(near(solid(128, 128, 128, jpeg), [128, 128, 128]));
    }

    #[test]
    fn strides_with_padding_and_odd_sizes() {
        // 3x3 picture with padded rows: chroma is 2x2.
        let y = [16u8, 16, 16, 0, 235, 235, 235, 0, 16, 16, 16, 0];
        let (u, v) = ([128u8, 128, 0, 128, 128, 0], [128u8, 128, 0, 128, 128, 0]);
        let img = I420 {
            y: &y,
            y_stride: 4,
            u: &u,
            u_stride: 3,
            v: &v,
            v_stride: 3,
            width: 3,
            height: 3,
        };
        let rgb = i420_to_rgb(&img, YuvColour::default()).unwrap();
        assert_eq!(rgb.len(), 27);
        assert!(near([rgb[9], rgb[10], rgb[11]], [255, 255, 255]));
        assert!(near([rgb[24], rgb[25], rgb[26]], [0, 0, 0]));
    }
}
