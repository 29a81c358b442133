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
    /// The first frame's presentation timestamp, in seconds.
    pub start_time: f64,
}

impl MediaInfo {
    pub(crate) fn new(scan: &Scan, width: u32, height: u32) -> Self {
        let tl = &scan.timeline;
        Self {
            container: scan.container.clone(),
            codec: scan.codec.clone(),
            width,
            height,
            rotation: scan.rotation,
            duration: tl.duration().as_secs_f64(),
            fps: tl.average_fps(),
            nominal_fps: scan.nominal_fps,
            variable_frame_rate: tl.is_variable_rate(),
            frame_count: tl.len(),
            keyframe_count: tl.keyframes().len() as u64,
            max_gop: tl.max_gop(),
            reordered: scan.reordered,
            start_time: tl.start().as_secs_f64(),
        }
    }
}
