//! H.264 encoding of rendered frames through GStreamer.
//!
//! `appsrc` (RGBA) → `videoconvert` → I420 → `x264enc` → `h264parse` → mp4/matroska muxer →
//! `filesink`. Frames are pushed from the caller's thread while GStreamer converts and encodes on
//! its own threads, so rendering and encoding overlap; `appsrc` blocks once a few frames are
//! queued, which bounds memory. The pipeline reaches `Null` on every exit through a drop guard.
//!
//! x264 output depends on its thread count, so the count is always set explicitly. With one
//! thread (the default) the H.264 stream is byte-identical between runs; with two, fed from
//! `appsrc` as here, the frames after the first keyframe interval differed from run to run (a
//! `videotestsrc` or file source at two threads did not show it). The containers are never
//! identical: both muxers stamp the wall-clock time into their headers and matroska adds random
//! UIDs.

use std::path::Path;

use gst::prelude::*;

use serde::{Deserialize, Serialize};

use crate::SynthError;

/// Container format of the output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    /// MP4 (`mp4mux`, index at the front for streaming).
    #[default]
    Mp4,
    /// Matroska (`matroskamux`).
    Mkv,
}

/// x264 speed/quality trade-off (`speed-preset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // The names are x264's own.
pub enum SpeedPreset {
    Ultrafast,
    Superfast,
    #[default]
    Veryfast,
    Faster,
    Fast,
    Medium,
    Slow,
    Slower,
    Veryslow,
}

impl SpeedPreset {
    /// The name x264enc knows the preset by.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ultrafast => "ultrafast",
            Self::Superfast => "superfast",
            Self::Veryfast => "veryfast",
            Self::Faster => "faster",
            Self::Fast => "fast",
            Self::Medium => "medium",
            Self::Slow => "slow",
            Self::Slower => "slower",
            Self::Veryslow => "veryslow",
        }
    }
}

/// How long to wait for the pipeline to drain after the last frame.
const EOS_TIMEOUT_S: u64 = 120;

/// What the encoder needs to know.
#[derive(Debug, Clone)]
pub(crate) struct EncoderSettings {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) fps_num: u32,
    pub(crate) fps_den: u32,
    pub(crate) container: Container,
    pub(crate) gop: u32,
    pub(crate) bframes: u32,
    pub(crate) speed_preset: SpeedPreset,
    pub(crate) quality: u32,
    pub(crate) threads: u32,
}

/// Sets the pipeline to `Null` when dropped, whatever happened before.
struct NullOnDrop(gst::Pipeline);

impl Drop for NullOnDrop {
    fn drop(&mut self) {
        if let Err(e) = self.0.set_state(gst::State::Null) {
            tracing::debug!("could not stop encoding pipeline: {e}");
        }
    }
}

/// A running encoding pipeline.
pub(crate) struct Encoder {
    pipeline: NullOnDrop,
    src: gst_app::AppSrc,
    bus: gst::Bus,
    fps_num: u64,
    fps_den: u64,
    frame_bytes: usize,
    next: u64,
}

fn encode_err(context: &str, e: impl std::fmt::Display) -> SynthError {
    SynthError::Encode(format!("{context}: {e}"))
}

fn make(factory: &str) -> Result<gst::Element, SynthError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|e| encode_err(&format!("creating {factory} (is the plugin installed?)"), e))
}

impl Encoder {
    /// Builds the pipeline writing to `path` and starts it.
    pub(crate) fn start(settings: &EncoderSettings, path: &Path) -> Result<Self, SynthError> {
        gst::init().map_err(|e| encode_err("initialising GStreamer", e))?;
        let location = path.to_str().ok_or_else(|| {
            SynthError::InvalidConfig(format!("output path {} is not UTF-8", path.display()))
        })?;

        let info =
            gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgba, settings.width, settings.height)
                .fps(gst::Fraction::new(
                    settings.fps_num as i32,
                    settings.fps_den as i32,
                ))
                .build()
                .map_err(|e| encode_err("describing RGBA frames", e))?;
        let caps = info.to_caps().map_err(|e| encode_err("building RGBA caps", e))?;
        let frame_bytes = settings.width as usize * settings.height as usize * 4;
        let src = gst_app::AppSrc::builder()
            .caps(&caps)
            .format(gst::Format::Time)
            .is_live(false)
            .block(true)
            .max_bytes(4 * frame_bytes as u64)
            .build();

        let convert = make("videoconvert")?;
        // Force 4:2:0: given RGBA, x264 would otherwise pick 4:4:4, which browsers cannot play.
        let i420 = gst::ElementFactory::make("capsfilter")
            .property(
                "caps",
                gst::Caps::builder("video/x-raw").field("format", "I420").build(),
            )
            .build()
            .map_err(|e| encode_err("creating capsfilter", e))?;
        let encoder = gst::ElementFactory::make("x264enc")
            .property("key-int-max", settings.gop)
            .property("bframes", settings.bframes)
            .property_from_str("speed-preset", settings.speed_preset.as_str())
            .property_from_str("pass", "qual")
            .property("quantizer", settings.quality)
            .property("threads", settings.threads)
            .build()
            .map_err(|e| encode_err("creating x264enc (is gst-plugins-ugly installed?)", e))?;
        let parse = make("h264parse")?;
        let mux = match settings.container {
            Container::Mp4 => gst::ElementFactory::make("mp4mux")
                // Index first, so players can start before the whole file has arrived.
                .property("faststart", true)
                .build()
                .map_err(|e| encode_err("creating mp4mux", e))?,
            Container::Mkv => make("matroskamux")?,
        };
        let sink = gst::ElementFactory::make("filesink")
            .property("location", location)
            .build()
            .map_err(|e| encode_err("creating filesink", e))?;

        let pipeline = NullOnDrop(gst::Pipeline::new());
        let elements = [
            src.upcast_ref::<gst::Element>(),
            &convert,
            &i420,
            &encoder,
            &parse,
            &mux,
            &sink,
        ];
        pipeline
            .0
            .add_many(elements)
            .map_err(|e| encode_err("assembling pipeline", e))?;
        gst::Element::link_many(elements).map_err(|e| encode_err("linking pipeline", e))?;
        let bus = pipeline
            .0
            .bus()
            .ok_or_else(|| SynthError::Encode("pipeline has no bus".into()))?;
        let encoder = Self {
            pipeline,
            src,
            bus,
            fps_num: u64::from(settings.fps_num),
            fps_den: u64::from(settings.fps_den),
            frame_bytes,
            next: 0,
        };
        if let Err(e) = encoder.pipeline.0.set_state(gst::State::Playing) {
            return Err(encoder
                .bus_error()
                .unwrap_or_else(|| encode_err("starting pipeline", e)));
        }
        Ok(encoder)
    }

    /// Presentation time of frame `i` in nanoseconds, exact for any frame rate.
    fn pts(&self, i: u64) -> u64 {
        (u128::from(i) * u128::from(self.fps_den) * 1_000_000_000 / u128::from(self.fps_num)) as u64
    }

    /// Queues one tightly packed RGBA frame; blocks while the encoder is behind.
    pub(crate) fn push(&mut self, rgba: Vec<u8>) -> Result<(), SynthError> {
        if rgba.len() != self.frame_bytes {
            return Err(SynthError::Encode(format!(
                "frame {} has {} bytes, expected {}",
                self.next,
                rgba.len(),
                self.frame_bytes
            )));
        }
        if let Some(e) = self.poll_error() {
            return Err(e);
        }
        let (pts, end) = (self.pts(self.next), self.pts(self.next + 1));
        let mut buffer = gst::Buffer::from_mut_slice(rgba);
        {
            let buffer = buffer.make_mut();
            buffer.set_pts(gst::ClockTime::from_nseconds(pts));
            buffer.set_duration(gst::ClockTime::from_nseconds(end - pts));
        }
        if let Err(flow) = self.src.push_buffer(buffer) {
            return Err(self.wait_error().unwrap_or_else(|| {
                encode_err(&format!("pushing frame {}", self.next), format!("{flow:?}"))
            }));
        }
        self.next += 1;
        Ok(())
    }

    /// Ends the stream and waits until the file is complete.
    pub(crate) fn finish(self) -> Result<(), SynthError> {
        if let Err(flow) = self.src.end_of_stream() {
            return Err(self
                .wait_error()
                .unwrap_or_else(|| encode_err("ending stream", format!("{flow:?}"))));
        }
        let msg = self.bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(EOS_TIMEOUT_S),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        match msg.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => Ok(()),
            Some(gst::MessageView::Error(err)) => Err(describe(err)),
            _ => Err(SynthError::Encode(format!(
                "pipeline did not finish within {EOS_TIMEOUT_S} s"
            ))),
        }
    }

    /// An error already posted on the bus, if any.
    fn poll_error(&self) -> Option<SynthError> {
        let msg = self.bus.pop_filtered(&[gst::MessageType::Error])?;
        match msg.view() {
            gst::MessageView::Error(err) => Some(describe(err)),
            _ => None,
        }
    }

    /// After a failed push, the bus usually carries the reason shortly.
    fn wait_error(&self) -> Option<SynthError> {
        let msg = self
            .bus
            .timed_pop_filtered(gst::ClockTime::from_seconds(2), &[gst::MessageType::Error])?;
        match msg.view() {
            gst::MessageView::Error(err) => Some(describe(err)),
            _ => None,
        }
    }

    fn bus_error(&self) -> Option<SynthError> {
        self.wait_error()
    }
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

fn describe(err: &gst::message::Error) -> SynthError {
    let source = err
        .src()
        .map(|s| s.path_string().to_string())
        .unwrap_or_else(|| "pipeline".into());
    match err.debug() {
        Some(debug) => SynthError::Encode(format!("{source}: {} ({debug})", err.error())),
        None => SynthError::Encode(format!("{source}: {}", err.error())),
    }
}
