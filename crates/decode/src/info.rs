use serde::Serialize;

use crate::scan::Scan;

/// What a video is: the answer of [`crate::probe`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaInfo {
    /// Container format, as GStreamer describes it (e.g. "ISO MP4/M4A", "Matroska").
    pub container: String,
    /// Video codec, as GStreamer describes it (e.g. "H.264 (High Profile)").
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// Clockwise rotation, in degrees, that the file asks players to apply when showing it.
    /// Frames come out as stored (not rotated).
    pub rotation: u32,
    /// Seconds from the first frame to the end of the last.
    pub duration: f64,
    /// Frames per second averaged over the whole video.
    pub fps: f64,
    /// The frame rate the container declares, if any.
    pub nominal_fps: Option<f64>,
    /// Whether the gaps between frames vary.
    pub variable_frame_rate: bool,
    /// Exact: every frame was counted by the demux pass.
    pub frame_count: u64,
    pub keyframe_count: u64,
    /// The longest run of frames from one keyframe to the next.
    pub max_gop: u64,
    /// Whether frames are stored out of presentation order (B-frames).
    pub reordered: bool,
    /// Whether every frame carries its decode time as well as its presentation time (MP4,
    /// MPEG-TS and FLV do; Matroska and WebM keep presentation times only). Reordered frames
    /// repackaged for HLS need both.
    pub decode_times: bool,
    /// The first frame's presentation timestamp, in seconds.
    pub start_time: f64,
    /// Set when the file's data ends before the end its container declares (a copy cut short,
    /// a recording that stopped mid-write): the declared duration, in seconds. Everything
    /// above describes the readable part, which is what is decoded and indexed.
    pub truncated_from: Option<f64>,
}

/// How much longer than what was read a container may say it is before the file counts as
/// cut short: two frames or a quarter second, whichever is more (edit lists and rounding
/// differ by about a frame).
fn truncation_tolerance(fps: f64) -> f64 {
    let frame = if fps > 0.0 { 1.0 / fps } else { 0.0 };
    (2.0 * frame).max(0.25)
}

impl MediaInfo {
    pub(crate) fn new(scan: &Scan, width: u32, height: u32) -> Self {
        let tl = &scan.timeline;
        let duration = tl.duration().as_secs_f64();
        let fps = tl.average_fps();
        let truncated_from = scan
            .declared
            .map(|d| d.as_secs_f64())
            .filter(|&declared| declared > duration + truncation_tolerance(fps));
        Self {
            container: scan.container.clone(),
            codec: scan.codec.clone(),
            width,
            height,
            rotation: scan.rotation,
            duration,
            fps,
            nominal_fps: scan.nominal_fps,
            variable_frame_rate: tl.is_variable_rate(),
            frame_count: tl.len(),
            keyframe_count: tl.keyframes().len() as u64,
            max_gop: tl.max_gop(),
            reordered: scan.reordered,
            decode_times: scan.decode_times,
            start_time: tl.start().as_secs_f64(),
            truncated_from,
        }
    }
}
