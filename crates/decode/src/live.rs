//! Live sources: a camera URL (RTSP or HTTP, opened by `uridecodebin`) or, for tests and demos,
//! a file played in a loop at its real rate.
//!
//! `uridecodebin ! videoconvert ! videorate ! capsfilter(I420, fps) ! appsink`: `videorate`
//! brings any camera's rate to the one asked for, and the sink keeps only the newest frame
//! (`max-buffers=1`, `drop=true`), so a slow reader gets the latest picture, never a backlog,
//! and never slows the camera's pipeline. A file is paced by the sink's clock (`sync=true`) and
//! sought back to its start at the end; a camera runs unsynchronised (it is live already).
//!
//! Errors, end of stream (a camera that hangs up) and stalls all end `next` with an error: the
//! caller reopens with backoff (`next_frame`). Frames count from 0 per opened source and carry the time since
//! it opened.

use std::path::Path;
use std::time::{Duration, Instant};

use gst::prelude::*;
use serde::Deserialize;

use crate::error::{DecodeError, pipeline_err};
use crate::frame::Frame;
use crate::pipeline::{self, Pipeline};
use crate::source::rgb_of;

/// How a live source is opened and paced.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    /// Frames per second delivered, whatever the source's own rate (15).
    pub fps: u32,
    /// RTSP: the jitter buffer's latency in milliseconds (200).
    pub rtsp_latency_ms: u32,
    /// RTSP: interleave over TCP instead of UDP (true: survives NAT and firewalls).
    pub rtsp_tcp: bool,
    /// Seconds without a frame after which the source counts as stalled (10).
    pub stall_timeout_s: u64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            fps: 15,
            rtsp_latency_ms: 200,
            rtsp_tcp: true,
            stall_timeout_s: 10,
        }
    }
}

/// One opened live source.
#[derive(Debug)]
pub struct LiveSource {
    parts: Pipeline,
    sink: gst_app::AppSink,
    looped: bool,
    opened: Instant,
    next_index: u64,
    stall: Duration,
}

/// Whether `source` names a URL rather than a file.
fn is_url(source: &str) -> bool {
    source.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+')
    })
}

impl LiveSource {
    /// Opens `source`: a URL (`rtsp://`, `http://`, ...) or the path of a video file, which is
    /// played in a loop at its real rate. Returns once the first frame is ready.
    pub fn open(source: &str, config: &LiveConfig) -> Result<Self, DecodeError> {
        pipeline::init()?;
        let looped = !is_url(source);
        let uri = if looped {
            let path = Path::new(source);
            pipeline::check_file(path)?;
            let absolute = std::fs::canonicalize(path).map_err(|e| DecodeError::Io {
                path: path.to_owned(),
                source: e.into(),
            })?;
            gst::glib::filename_to_uri(&absolute, None)
                .map_err(pipeline_err)?
                .to_string()
        } else {
            source.to_owned()
        };
        let parts = Pipeline::new(Path::new(source))?;
        let decode = pipeline::make("uridecodebin")?;
        decode.set_property("uri", &uri);
        let (latency, tcp) = (config.rtsp_latency_ms, config.rtsp_tcp);
        decode.connect("source-setup", false, move |args| {
            if let Some(src) = args.get(1).and_then(|v| v.get::<gst::Element>().ok())
                && src.has_property("latency")
                && src.has_property("protocols")
            {
                src.set_property("latency", latency);
                if tcp {
                    src.set_property_from_str("protocols", "tcp");
                }
            }
            None
        });
        let convert = pipeline::make("videoconvert")?;
        let rate = pipeline::make("videorate")?;
        let caps = gst_video::VideoCapsBuilder::new()
            .format(gst_video::VideoFormat::I420)
            .framerate(gst::Fraction::new(config.fps.max(1) as i32, 1))
            .build();
        let filter = pipeline::make("capsfilter")?;
        filter.set_property("caps", &caps);
        let sink = gst_app::AppSink::builder()
            .max_buffers(1)
            .drop(true)
            .sync(looped)
            .build();
        let bin = &parts.pipeline;
        bin.add_many([&decode, &convert, &rate, &filter, sink.upcast_ref()])
            .map_err(pipeline_err)?;
        gst::Element::link_many([&convert, &rate, &filter, sink.upcast_ref()]).map_err(pipeline_err)?;
        pipeline::link_video_pads(&decode, &convert);
        let stall = Duration::from_secs(config.stall_timeout_s.max(1));
        parts.set_state(gst::State::Playing)?;
        parts.wait_preroll(stall)?;
        Ok(Self {
            parts,
            sink,
            looped,
            opened: Instant::now(),
            next_index: 0,
            stall,
        })
    }

    /// The next frame: the newest the source has produced. Fails when the source reports an
    /// error, ends (a file loops instead), or stalls.
    pub fn next_frame(&mut self) -> Result<Frame, DecodeError> {
        let deadline = Instant::now() + self.stall;
        loop {
            if let Some(sample) = self.sink.try_pull_sample(gst::ClockTime::from_mseconds(50)) {
                let rgb = rgb_of(&sample)?;
                let index = self.next_index;
                self.next_index += 1;
                return Ok(Frame {
                    index,
                    pts: self.opened.elapsed(),
                    keyframe: false,
                    width: rgb.width,
                    height: rgb.height,
                    data: rgb.data,
                });
            }
            if let Some(err) = self.parts.take_error() {
                return Err(err);
            }
            if self.sink.is_eos() {
                if !self.looped {
                    return Err(DecodeError::Corrupt {
                        path: Path::new("live source").to_owned(),
                        reason: "the stream ended".into(),
                    });
                }
                self.parts
                    .pipeline
                    .seek_simple(
                        gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
                        gst::ClockTime::ZERO,
                    )
                    .map_err(pipeline_err)?;
            }
            if Instant::now() > deadline {
                return Err(DecodeError::Timeout(self.stall));
            }
        }
    }
}

/// A live source's frames, newest first: a camera, or a file played in a loop.
pub trait LiveFrames: Send {
    /// The next frame; an error when the source fails, ends or stalls.
    fn next_frame(&mut self) -> Result<Frame, DecodeError>;
}

impl LiveFrames for LiveSource {
    fn next_frame(&mut self) -> Result<Frame, DecodeError> {
        LiveSource::next_frame(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_files_are_told_apart() {
        for url in [
            "rtsp://cam/1",
            "http://cam/mjpeg",
            "rtsps://user:pw@cam:322/s",
            "file:///v.mp4",
        ] {
            assert!(is_url(url), "{url}");
        }
        for file in [
            "pen.mp4",
            "/data/videos/pen.mp4",
            "weird://name/../x.mp4".trim_start_matches("weird"),
        ] {
            assert!(!is_url(file), "{file}");
        }
    }
}
