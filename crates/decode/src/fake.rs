//! A fake video, for tests of the layers above decoding that need no GStreamer pipeline: a
//! small JSON file ([`FakeVideo`]) stands for a video, and [`FakeOpener`] opens it as a
//! [`FrameSource`] whose frames are known exactly.
//!
//! Every pixel of frame n is `[value(n), n % 256, n / 256 % 256]`, where `value(n)` is the last
//! `values` entry at or before n, so a test (or a fake detector reading the first pixel) knows
//! from a frame's bytes which frame it is and what it shows.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::DecodeError;
use crate::frame::{Frame, Mode, Read, Size, Target};
use crate::info::MediaInfo;
use crate::live::{LiveConfig, LiveFrames};
use crate::open::Opener;
use crate::source::{FrameSource, Probed, SourceConfig};
use crate::timeline::Timeline;

/// What a fake video file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeVideo {
    pub width: u32,
    pub height: u32,
    /// Presentation times of the frames in milliseconds, in order (a variable rate is fine).
    pub pts_ms: Vec<u64>,
    /// A keyframe every this many frames.
    pub gop: u64,
    /// `(first frame, value)`: from that frame on, the red value of every pixel.
    pub values: Vec<(u64, u8)>,
}

impl FakeVideo {
    /// `frames` frames at `fps`, a keyframe every `gop`.
    pub fn constant(
        width: u32,
        height: u32,
        fps: u32,
        frames: u64,
        gop: u64,
        values: Vec<(u64, u8)>,
    ) -> Self {
        Self {
            width,
            height,
            pts_ms: (0..frames).map(|i| i * 1000 / u64::from(fps.max(1))).collect(),
            gop,
            values,
        }
    }

    /// Writes it where a video would be.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, serde_json::to_vec(self).map_err(std::io::Error::other)?)
    }

    /// The red value of frame `index`.
    pub fn value(&self, index: u64) -> u8 {
        self.values
            .iter()
            .take_while(|(from, _)| *from <= index)
            .last()
            .map_or(0, |&(_, v)| v)
    }

    fn probed(&self, path: &Path) -> Result<Probed, DecodeError> {
        let entries = self
            .pts_ms
            .iter()
            .enumerate()
            .map(|(i, &ms)| (ms * 1_000_000, (i as u64).is_multiple_of(self.gop.max(1))))
            .collect();
        let timeline =
            Timeline::from_entries(entries, None).ok_or_else(|| DecodeError::NoVideo(path.to_owned()))?;
        let info = MediaInfo {
            container: "fake".into(),
            codec: "fake".into(),
            width: self.width,
            height: self.height,
            rotation: 0,
            duration: timeline.duration().as_secs_f64(),
            fps: timeline.average_fps(),
            nominal_fps: None,
            variable_frame_rate: timeline.is_variable_rate(),
            frame_count: timeline.len(),
            keyframe_count: timeline.keyframes().len() as u64,
            max_gop: timeline.max_gop(),
            reordered: false,
            decode_times: true,
            start_time: timeline.start().as_secs_f64(),
            truncated_from: None,
        };
        Ok(Probed { info, timeline })
    }
}

/// Opens [`FakeVideo`] files; counts what it decoded.
#[derive(Debug, Default)]
pub struct FakeOpener {
    opened: AtomicU64,
    decoded: Arc<AtomicU64>,
}

impl FakeOpener {
    /// Sources opened so far.
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Frames decoded so far, by every source it opened.
    pub fn decoded(&self) -> u64 {
        self.decoded.load(Ordering::Relaxed)
    }
}

impl Opener for FakeOpener {
    fn open(&self, path: &Path, config: &SourceConfig) -> Result<Box<dyn FrameSource>, DecodeError> {
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DecodeError::NotFound(path.to_owned()),
            _ => DecodeError::Io {
                path: path.to_owned(),
                source: Arc::new(e),
            },
        })?;
        if bytes.is_empty() {
            return Err(DecodeError::Empty(path.to_owned()));
        }
        let video: FakeVideo =
            serde_json::from_slice(&bytes).map_err(|_| DecodeError::NotMedia(path.to_owned()))?;
        let pixels = u64::from(video.width) * u64::from(video.height);
        if pixels > config.max_frame_pixels {
            return Err(DecodeError::FrameTooLarge {
                path: path.to_owned(),
                width: video.width,
                height: video.height,
                pixels,
                max_pixels: config.max_frame_pixels,
            });
        }
        let probed = Arc::new(video.probed(path)?);
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(FakeSource {
            video,
            probed,
            next: Some(0),
            decoded: Arc::clone(&self.decoded),
        }))
    }

    fn reopen(
        &self,
        path: &Path,
        _probed: &Arc<Probed>,
        config: &SourceConfig,
    ) -> Result<Box<dyn FrameSource>, DecodeError> {
        self.open(path, config)
    }

    /// A fake video file played in a loop at `config.fps`; a URL is a camera that cannot be
    /// reached.
    fn open_live(&self, source: &str, config: &LiveConfig) -> Result<Box<dyn LiveFrames>, DecodeError> {
        if source.contains("://") {
            return Err(DecodeError::Pipeline(format!(
                "{source}: no camera answers (fake)"
            )));
        }
        let file = self.open(Path::new(source), &SourceConfig::default())?;
        let frames = file.info().frame_count;
        Ok(Box::new(FakeLive {
            file,
            frames,
            next: 0,
            period: Duration::from_secs_f64(1.0 / f64::from(config.fps.max(1))),
            due: std::time::Instant::now(),
        }))
    }
}

/// A fake file played in a loop, paced like a live source.
struct FakeLive {
    file: Box<dyn FrameSource>,
    frames: u64,
    next: u64,
    period: Duration,
    due: std::time::Instant,
}

impl LiveFrames for FakeLive {
    fn next_frame(&mut self) -> Result<Frame, DecodeError> {
        std::thread::sleep(self.due.saturating_duration_since(std::time::Instant::now()));
        self.due += self.period;
        let mut frame = self.file.frame(
            Target::Index(self.next % self.frames.max(1)),
            Mode::Exact,
            Size::Native,
        )?;
        frame.index = self.next;
        self.next += 1;
        Ok(frame)
    }
}

#[derive(Debug)]
struct FakeSource {
    video: FakeVideo,
    probed: Arc<Probed>,
    next: Option<u64>,
    decoded: Arc<AtomicU64>,
}

impl FakeSource {
    fn make(&mut self, index: u64, size: Size) -> Result<Frame, DecodeError> {
        let tl = &self.probed.timeline;
        let (width, height) = size.resolve((self.video.width, self.video.height))?;
        let pixel = [
            self.video.value(index),
            (index % 256) as u8,
            (index / 256 % 256) as u8,
        ];
        self.decoded.fetch_add(1, Ordering::Relaxed);
        self.next = Some(index + 1);
        Ok(Frame {
            index,
            pts: tl.pts(index).unwrap_or(Duration::ZERO),
            keyframe: tl.is_keyframe(index),
            width,
            height,
            data: pixel.repeat(width as usize * height as usize),
        })
    }
}

impl FrameSource for FakeSource {
    fn probed(&self) -> &Arc<Probed> {
        &self.probed
    }

    fn position(&self) -> Option<u64> {
        self.next
    }

    fn frame(&mut self, target: Target, mode: Mode, size: Size) -> Result<Frame, DecodeError> {
        let index = self.probed.timeline.resolve(target, mode)?;
        self.make(index, size)
    }

    fn read(
        &mut self,
        read: Read,
        size: Size,
        each: &mut dyn FnMut(Frame) -> ControlFlow<()>,
    ) -> Result<(), DecodeError> {
        for index in self.probed.timeline.frames_of(&read)? {
            let frame = self.make(index, size)?;
            if each(frame).is_break() {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Stride;

    #[test]
    fn a_fake_video_has_the_frames_it_describes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pen.mp4");
        FakeVideo::constant(8, 6, 25, 100, 25, vec![(0, 2), (40, 3)])
            .write(&path)
            .unwrap();
        let opener = FakeOpener::default();
        let mut source = opener.open(&path, &SourceConfig::default()).unwrap();
        assert_eq!(source.info().frame_count, 100);
        assert_eq!(source.info().duration, 4.0);
        let f = source
            .frame(Target::Time(1.7), Mode::Exact, Size::Native)
            .unwrap();
        assert_eq!(
            (f.index, f.width, f.height, f.data[..3].to_vec()),
            (42, 8, 6, vec![3, 42, 0])
        );
        let k = source.frame(Target::Index(42), Mode::Fast, Size::Native).unwrap();
        assert_eq!((k.index, k.data[0]), (25, 2));
        let mut keys = Vec::new();
        source
            .read(Read::every(Stride::Keyframes), Size::Native, &mut |f| {
                keys.push(f.index);
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(keys, [0, 25, 50, 75]);
        std::fs::write(&path, b"not json").unwrap();
        assert!(matches!(
            opener.open(&path, &SourceConfig::default()),
            Err(DecodeError::NotMedia(_))
        ));
    }
}
