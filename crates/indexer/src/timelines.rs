//! Timelines for the unit tests of the passes and the input choice.

use pigweight_decode::Timeline;

/// `frames` frames at 25 fps, a keyframe every `gop`.
pub(crate) fn timeline(frames: u64, gop: u64) -> Timeline {
    let frame_ns = 40_000_000;
    let entries = (0..frames).map(|i| (i * frame_ns, i % gop == 0)).collect();
    Timeline::from_entries(entries, Some(frame_ns)).unwrap_or_else(|| unreachable!("frames > 0"))
}
