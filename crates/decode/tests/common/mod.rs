//! Test inputs made here, through GStreamer: videos whose every frame shows its own index as a
//! block code, so a frame read back can say which one it is; and an independent plain
//! sequential decode to compare against.

// Test support: a failure here should stop the test on the spot.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::Path;

use gst::prelude::*;

pub const CODE_BITS: u32 = 12;
const BLOCK: usize = 16;

/// How to encode a test video.
#[derive(Debug, Clone)]
pub struct Spec {
    pub width: usize,
    pub height: usize,
    pub frames: u64,
    pub fps: i32,
    /// Encoder elements after `videoconvert`, e.g. "x264enc key-int-max=50 bframes=2".
    pub encoder: String,
    /// Muxer, e.g. "mp4mux", "matroskamux".
    pub muxer: String,
    /// Added to every timestamp.
    pub offset_ns: u64,
}

impl Spec {
    pub fn h264(gop: u32, bframes: u32) -> Self {
        Self {
            width: 320,
            height: 240,
            frames: 300,
            fps: 25,
            encoder: format!(
                "x264enc speed-preset=veryfast key-int-max={gop} bframes={bframes} b-adapt=false threads=1 ! h264parse"
            ),
            muxer: "mp4mux".into(),
            offset_ns: 0,
        }
    }
}

/// Draws frame `index`: a textured gradient that moves (so the encoder predicts across frames)
/// and the index as white/black blocks along the top-left.
pub fn draw(index: u64, width: usize, height: usize) -> Vec<u8> {
    let mut rgb = vec![0u8; width * height * 3];
    let shift = index as usize * 3;
    for y in 0..height {
        for x in 0..width {
            let xs = x + shift;
            let noise = ((xs.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) >> 7) as u8 & 31;
            let p = &mut rgb[(y * width + x) * 3..][..3];
            p[0] = ((xs * 255 / (width * 2)) as u8).wrapping_add(noise);
            p[1] = ((y * 200 / height) as u8).wrapping_add(noise / 2);
            p[2] = 90u8.wrapping_add((index % 50) as u8);
        }
    }
    for bit in 0..CODE_BITS as usize {
        let on = index >> bit & 1 == 1;
        let (bx, by) = (bit * BLOCK, 0);
        for y in by..by + BLOCK {
            for x in bx..bx + BLOCK {
                let p = &mut rgb[(y * width + x) * 3..][..3];
                p.fill(if on { 255 } else { 0 });
            }
        }
    }
    rgb
}

/// Reads the index back from the block code of a frame of any size.
pub fn read_code(rgb: &[u8], width: usize, height: usize, orig_width: usize, orig_height: usize) -> u64 {
    let sx = width as f64 / orig_width as f64;
    let sy = height as f64 / orig_height as f64;
    (0..CODE_BITS as usize)
        .map(|bit| {
            let x = ((bit * BLOCK + BLOCK / 2) as f64 * sx) as usize;
            let y = ((BLOCK / 2) as f64 * sy) as usize;
            let p = &rgb[(y * width + x) * 3..][..3];
            let lum = (p[0] as u32 + p[1] as u32 + p[2] as u32) / 3;
            u64::from(lum > 128) << bit
        })
        .sum()
}

fn run_to_eos(pipeline: &gst::Pipeline) {
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("pipeline error: {} {:?}", e.error(), e.debug()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

/// Encodes a coded test video.
pub fn make_video(path: &Path, spec: &Spec) {
    gst::init().unwrap();
    let desc = format!(
        "appsrc name=src format=time ! videoconvert ! video/x-raw,format=I420 ! {} ! {} ! filesink location={}",
        spec.encoder,
        spec.muxer,
        path.display()
    );
    let pipeline = gst::parse::launch(&desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let info =
        gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, spec.width as u32, spec.height as u32)
            .fps(gst::Fraction::new(spec.fps, 1))
            .build()
            .unwrap();
    src.set_caps(Some(&info.to_caps().unwrap()));
    pipeline.set_state(gst::State::Playing).unwrap();
    let frame_ns = 1_000_000_000 / spec.fps as u64;
    for i in 0..spec.frames {
        let data = draw(i, spec.width, spec.height);
        // VideoInfo strides are 4-aligned; our widths are multiples of 4.
        let mut buf = gst::Buffer::from_mut_slice(data);
        {
            let b = buf.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_nseconds(spec.offset_ns + i * frame_ns));
            b.set_duration(gst::ClockTime::from_nseconds(frame_ns));
        }
        src.push_buffer(buf).unwrap();
    }
    src.end_of_stream().unwrap();
    run_to_eos(&pipeline);
}

/// Runs an arbitrary gst-launch description to EOS (for audio-only files and the like).
pub fn launch(desc: &str) {
    gst::init().unwrap();
    let pipeline = gst::parse::launch(desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    run_to_eos(&pipeline);
}

/// One frame of the reference decode.
#[derive(Debug, Clone)]
pub struct RefFrame {
    pub pts: u64,
    pub hash: u64,
}

/// A plain sequential decode, independent of the crate's pipeline:
/// `filesrc ! decodebin ! videoconvert ! I420 appsink`, every frame in order, converted to RGB
/// with the crate's own conversion (the property under test is which frame comes back).
pub fn reference_decode(path: &Path) -> Vec<RefFrame> {
    gst::init().unwrap();
    let desc = format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink sync=false",
        path.display()
    );
    let pipeline = gst::parse::launch(&desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let buffer = sample.buffer().unwrap();
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).unwrap();
        let st = info.stride();
        let picture = pigweight_decode::I420 {
            y: frame.plane_data(0).unwrap(),
            y_stride: st[0] as usize,
            u: frame.plane_data(1).unwrap(),
            u_stride: st[1] as usize,
            v: frame.plane_data(2).unwrap(),
            v_stride: st[2] as usize,
            width: info.width(),
            height: info.height(),
        };
        let c = info.colorimetry();
        let colour = pigweight_decode::YuvColour {
            matrix: match c.matrix() {
                gst_video::VideoColorMatrix::Bt601 => pigweight_decode::Matrix::Bt601,
                gst_video::VideoColorMatrix::Bt2020 => pigweight_decode::Matrix::Bt2020,
                gst_video::VideoColorMatrix::Bt709 => pigweight_decode::Matrix::Bt709,
                _ if info.height() > 576 => pigweight_decode::Matrix::Bt709,
                _ => pigweight_decode::Matrix::Bt601,
            },
            full_range: c.range() == gst_video::VideoColorRange::Range0_255,
        };
        let rgb = pigweight_decode::i420_to_rgb(&picture, colour).unwrap();
        frames.push(RefFrame {
            pts: buffer.pts().unwrap().nseconds(),
            hash: hash(&rgb),
        });
    }
    pipeline.set_state(gst::State::Null).unwrap();
    frames
}

pub fn hash(data: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}
