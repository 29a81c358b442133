//! Where every frame of a video is in time, and which frames are keyframes.
//!
//! Frame-exactness rests on this table. The n-th frame of a video is the n-th frame in
//! presentation order, so we list the presentation timestamps of all frames once (a demux-only
//! pass, no decoding, see [`crate::scan`]) and sort them. Then "frame n" is "the frame whose pts
//! is `pts[n]`", which a frame-accurate seek can deliver directly, and "the frame shown at t" is
//! the last frame whose pts is at or before t.

use std::time::Duration;

use crate::error::DecodeError;
use crate::frame::{Mode, Read, Stride, Target};

/// Evenly spaced frames of a [`Timeline`]: `count` frames from index `first`, the first
/// `offset_ns` after the video's first frame, `step_ns` apart (within a microsecond).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub first: u64,
    pub offset_ns: u64,
    pub step_ns: u64,
    pub count: u64,
}

/// How far a frame may be from its run's even spacing: a microsecond.
const RUN_SLACK_NS: u64 = 1_000;

/// The presentation times of all frames of one video stream, in presentation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// Presentation timestamps in nanoseconds, strictly increasing.
    pts: Vec<u64>,
    /// Indices (into `pts`) of the keyframes, increasing. Never empty: index 0 is treated as a
    /// keyframe even if the stream did not flag it (decoders start there anyway).
    keyframes: Vec<u64>,
    /// Display time of the last frame; the video ends at `pts.last() + last_duration`.
    last_duration: u64,
}

impl Timeline {
    /// Builds the table from `(pts, is_keyframe)` pairs in any order (decode order is typical).
    /// Duplicated timestamps keep their first entry.
    pub fn from_entries(mut entries: Vec<(u64, bool)>, last_duration: Option<u64>) -> Option<Self> {
        if entries.is_empty() {
            return None;
        }
        entries.sort_by_key(|&(pts, _)| pts);
        entries.dedup_by_key(|&mut (pts, _)| pts);
        let pts: Vec<u64> = entries.iter().map(|&(p, _)| p).collect();
        let mut keyframes: Vec<u64> = entries
            .iter()
            .enumerate()
            .filter(|(_, (_, key))| *key)
            .map(|(i, _)| i as u64)
            .collect();
        if keyframes.first() != Some(&0) {
            keyframes.insert(0, 0);
        }
        let typical = median_delta(&pts).unwrap_or(40_000_000);
        let last_duration = last_duration.filter(|&d| d > 0).unwrap_or(typical);
        Some(Self {
            pts,
            keyframes,
            last_duration,
        })
    }

    /// The frame a request for `target` gets: the frame on screen at a time, or an index
    /// (checked), and for [`Mode::Fast`] the keyframe at or before it.
    pub fn resolve(&self, target: Target, mode: Mode) -> Result<u64, DecodeError> {
        let index = match target {
            Target::Time(t) => self.index_at(t)?,
            Target::Index(i) => {
                self.check_index(i)?;
                i
            }
        };
        Ok(match mode {
            Mode::Exact => index,
            Mode::Fast => self.keyframe_at_or_before(index),
        })
    }

    /// The frames a sequential read delivers, in order: those from the frame on screen at
    /// `read.from` to the one at `read.to` (or the last), every k-th, the one on screen every
    /// Δt seconds, or the keyframes (from the keyframe at or before the start).
    pub fn frames_of(&self, read: &Read) -> Result<Vec<u64>, DecodeError> {
        let first = self.index_at(read.from)?;
        let last = match read.to {
            Some(to) => self.index_at(to.min(self.duration().as_secs_f64()))?,
            None => self.len() - 1,
        };
        if last < first {
            return Ok(Vec::new());
        }
        Ok(match read.stride {
            Stride::Keyframes => {
                let start = self.keyframe_at_or_before(first);
                self.keyframes
                    .iter()
                    .copied()
                    .filter(|&k| k >= start && k <= last)
                    .collect()
            }
            Stride::Frames(k) => (first..=last).step_by(k.max(1) as usize).collect(),
            Stride::Seconds(dt) => {
                if !dt.is_finite() || dt <= 0.0 {
                    return Err(DecodeError::InvalidTime(dt));
                }
                let from = self.time(first).unwrap_or(0.0);
                let to = self.time(last).unwrap_or(0.0);
                let mut indices: Vec<u64> = (0..)
                    .map(|i| from + i as f64 * dt)
                    .take_while(|&t| t <= to + 1e-9)
                    .filter_map(|t| self.index_at(t).ok())
                    .collect();
                indices.dedup();
                indices
            }
        })
    }

    /// The table as runs of evenly spaced frames: one run for a constant frame rate, more where
    /// the spacing changes. Each frame's time in its run is within a microsecond of its own.
    pub fn runs(&self) -> Vec<Run> {
        let pts = &self.pts;
        let t0 = pts[0];
        let mut runs = Vec::new();
        let mut i = 0usize;
        while i < pts.len() {
            let offset_ns = pts[i] - t0;
            let Some(&next) = pts.get(i + 1) else {
                runs.push(Run {
                    first: i as u64,
                    offset_ns,
                    step_ns: self.last_duration,
                    count: 1,
                });
                break;
            };
            let step_ns = next - pts[i];
            let mut count = 2u64;
            while let Some(&p) = pts.get(i + count as usize) {
                if (p - t0).abs_diff(offset_ns + step_ns * count) > RUN_SLACK_NS {
                    break;
                }
                count += 1;
            }
            runs.push(Run {
                first: i as u64,
                offset_ns,
                step_ns,
                count,
            });
            i += count as usize;
        }
        runs
    }

    /// Number of frames.
    pub fn len(&self) -> u64 {
        self.pts.len() as u64
    }

    /// Always false: a timeline has at least one frame.
    pub fn is_empty(&self) -> bool {
        self.pts.is_empty()
    }

    /// The pts of the first frame: the video's start time.
    pub fn start(&self) -> Duration {
        Duration::from_nanos(self.pts[0])
    }

    /// Length from the first frame's pts to the end of the last frame.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.end_ns() - self.pts[0])
    }

    fn end_ns(&self) -> u64 {
        self.pts[self.pts.len() - 1] + self.last_duration
    }

    /// The pts of frame `index`, if it exists.
    pub fn pts(&self, index: u64) -> Option<Duration> {
        self.pts.get(index as usize).map(|&p| Duration::from_nanos(p))
    }

    /// Seconds from the start of the video to frame `index`.
    pub fn time(&self, index: u64) -> Option<f64> {
        self.pts
            .get(index as usize)
            .map(|&p| (p - self.pts[0]) as f64 / 1e9)
    }

    /// The frame shown at `t` seconds after the first frame: the last frame whose pts is at or
    /// before it. `t` may equal the duration (the end of the last frame), not exceed it.
    pub fn index_at(&self, t: f64) -> Result<u64, DecodeError> {
        if !t.is_finite() || t < 0.0 {
            return Err(DecodeError::InvalidTime(t));
        }
        let target = self.pts[0].saturating_add((t * 1e9).round() as u64);
        if target > self.end_ns() {
            return Err(self.out_of_range(format!("time {t} s")));
        }
        Ok(self.pts.partition_point(|&p| p <= target).saturating_sub(1) as u64)
    }

    /// The index of the frame with exactly this pts.
    pub fn index_of_pts(&self, pts: u64) -> Option<u64> {
        self.pts.binary_search(&pts).ok().map(|i| i as u64)
    }

    /// Fails unless `index` names a frame.
    pub fn check_index(&self, index: u64) -> Result<(), DecodeError> {
        if index < self.len() {
            Ok(())
        } else {
            Err(self.out_of_range(format!("frame index {index}")))
        }
    }

    fn out_of_range(&self, what: String) -> DecodeError {
        DecodeError::OutOfRange {
            what,
            frames: self.len(),
            duration: self.duration().as_secs_f64(),
        }
    }

    /// Whether frame `index` is a keyframe.
    pub fn is_keyframe(&self, index: u64) -> bool {
        self.keyframes.binary_search(&index).is_ok()
    }

    /// The last keyframe at or before `index`: where decoding must start to reach it.
    pub fn keyframe_at_or_before(&self, index: u64) -> u64 {
        let i = self.keyframes.partition_point(|&k| k <= index);
        self.keyframes[i.saturating_sub(1)]
    }

    /// Bytes the table holds on the heap (8 per frame and per keyframe): a day-long recording
    /// at 25 fps holds about 17 MB.
    pub fn heap_bytes(&self) -> u64 {
        ((self.pts.capacity() + self.keyframes.capacity()) * std::mem::size_of::<u64>()) as u64
    }

    /// Indices of all keyframes, increasing.
    pub fn keyframes(&self) -> &[u64] {
        &self.keyframes
    }

    /// The longest distance between two keyframes, in frames (the end counts as one).
    pub fn max_gop(&self) -> u64 {
        self.keyframes
            .iter()
            .chain(std::iter::once(&self.len()))
            .collect::<Vec<_>>()
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(1)
    }

    /// Frames per second averaged over the whole video.
    pub fn average_fps(&self) -> f64 {
        self.len() as f64 / self.duration().as_secs_f64()
    }

    /// True when the gaps between frames differ by more than rounding: the container's
    /// timestamps have some precision (e.g. 1/12800 s), so allow a little jitter.
    pub fn is_variable_rate(&self) -> bool {
        let Some(median) = median_delta(&self.pts) else {
            return false;
        };
        let tolerance = (median / 20).max(1_000_000);
        self.pts
            .windows(2)
            .any(|w| (w[1] - w[0]).abs_diff(median) > tolerance)
    }
}

fn median_delta(pts: &[u64]) -> Option<u64> {
    let mut deltas: Vec<u64> = pts.windows(2).map(|w| w[1] - w[0]).collect();
    if deltas.is_empty() {
        return None;
    }
    let mid = deltas.len() / 2;
    Some(*deltas.select_nth_unstable(mid).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS40: u64 = 40_000_000;

    /// 10 frames at 25 fps starting at 1 s, keyframes every 4, given in a B-frame decode order.
    fn sample() -> Timeline {
        let order = [0u64, 3, 1, 2, 4, 7, 5, 6, 8, 9];
        let entries = order
            .iter()
            .map(|&i| (1_000_000_000 + i * MS40, i % 4 == 0))
            .collect();
        Timeline::from_entries(entries, Some(MS40)).unwrap()
    }

    #[test]
    fn runs_cover_every_frame_within_a_microsecond() {
        assert_eq!(
            sample().runs(),
            [Run {
                first: 0,
                offset_ns: 0,
                step_ns: MS40,
                count: 10
            }]
        );
        // NTSC: 1001/30000 s a frame, rounded to whole nanoseconds by the container; then a
        // stretch at half the rate.
        let mut pts: Vec<u64> = (0..3000u64).map(|i| i * 1_001_000_000_000 / 30_000_000).collect();
        let last = *pts.last().unwrap();
        pts.extend((1..=10).map(|k| last + k * 66_733_333));
        let tl = Timeline::from_entries(pts.iter().map(|&p| (p, false)).collect(), None).unwrap();
        let runs = tl.runs();
        assert!(runs.len() < 10, "{runs:?}");
        let mut covered = 0;
        for run in &runs {
            assert_eq!(run.first, covered);
            for k in 0..run.count {
                let at = run.offset_ns + k * run.step_ns;
                assert!(
                    at.abs_diff(pts[(run.first + k) as usize]) <= RUN_SLACK_NS,
                    "{run:?} frame {k}"
                );
            }
            covered += run.count;
        }
        assert_eq!(covered, tl.len());
    }

    #[test]
    fn sorts_into_presentation_order() {
        let tl = sample();
        assert_eq!(tl.len(), 10);
        assert_eq!(tl.start(), Duration::from_secs(1));
        assert_eq!(tl.pts(3), Some(Duration::from_nanos(1_000_000_000 + 3 * MS40)));
        assert_eq!(tl.keyframes(), &[0, 4, 8]);
        assert_eq!(tl.duration(), Duration::from_millis(400));
        assert_eq!(tl.time(5), Some(0.2));
    }

    #[test]
    fn time_maps_to_the_frame_on_screen() {
        let tl = sample();
        assert_eq!(tl.index_at(0.0).unwrap(), 0);
        assert_eq!(tl.index_at(0.039).unwrap(), 0);
        assert_eq!(tl.index_at(0.04).unwrap(), 1);
        assert_eq!(tl.index_at(0.399).unwrap(), 9);
        assert_eq!(tl.index_at(0.4).unwrap(), 9);
        assert!(matches!(tl.index_at(0.41), Err(DecodeError::OutOfRange { .. })));
        assert!(matches!(tl.index_at(-0.1), Err(DecodeError::InvalidTime(_))));
        assert!(matches!(tl.index_at(f64::NAN), Err(DecodeError::InvalidTime(_))));
        assert!(matches!(
            tl.index_at(f64::INFINITY),
            Err(DecodeError::InvalidTime(_))
        ));
    }

    #[test]
    fn keyframe_lookup() {
        let tl = sample();
        assert_eq!(tl.keyframe_at_or_before(0), 0);
        assert_eq!(tl.keyframe_at_or_before(3), 0);
        assert_eq!(tl.keyframe_at_or_before(4), 4);
        assert_eq!(tl.keyframe_at_or_before(9), 8);
        assert!(tl.is_keyframe(8));
        assert!(!tl.is_keyframe(9));
        assert_eq!(tl.max_gop(), 4);
    }

    #[test]
    fn rate_variability() {
        assert!(!sample().is_variable_rate());
        let entries = vec![(0, true), (40, false), (80, false), (200, false)]
            .into_iter()
            .map(|(ms, k)| (ms * 1_000_000, k))
            .collect();
        let vfr = Timeline::from_entries(entries, None).unwrap();
        assert!(vfr.is_variable_rate());
        // An unflagged first frame is still where decoding starts.
        assert_eq!(vfr.keyframes(), &[0]);
        assert!((sample().average_fps() - 25.0).abs() < 1e-9);
    }
}
