//! Reading frames from a video file through one GStreamer pipeline that stays open.
//!
//! `filesrc ! decodebin ! [gate] videoconvert ! videoscale ! capsfilter(I420) ! appsink`, then
//! I420 to RGB in Rust ([`crate::convert`]). The pipeline is kept in
//! PLAYING with an unsynchronised sink that holds one frame, so the decoder runs at most a frame
//! or two ahead of the reader.
//!
//! Exactness: the [`Timeline`] gives the pts of frame n, and a FLUSH|ACCURATE seek to exactly
//! that pts makes the demuxer start at the keyframe before it and the decoder drop everything
//! before it. We then check the pts of what arrives, so a decoder that does not clip still gives
//! the right frame.
//!
//! Speed comes from four rules:
//! - Forward instead of seeking: if the target is ahead of where the pipeline is, and decoding
//!   the frames in between costs no more than decoding from the target's keyframe plus the fixed
//!   cost of a seek (`seek_cost_frames`), we keep decoding instead of flushing.
//! - The gate: a pad probe in front of `videoconvert` drops every decoded frame that nobody asked
//!   for, so frames that are decoded only to reach the target are never colour-converted or
//!   scaled. Once the wanted frames are through it lets frames pass, so the sink fills and the
//!   decoder stops.
//! - Frames nothing refers to are not decoded on the way to a target: a probe in front of the
//!   decoder drops non-reference H.264 frames that no caller wants ([`crate::nal`]).
//! - Keyframes-only reads use a TRICKMODE_KEY_UNITS seek, so the frames between keyframes are
//!   not even decoded.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_video::prelude::*;
use serde::Deserialize;

use crate::convert::{I420, Matrix, YuvColour, i420_to_rgb};
use crate::error::{DecodeError, pipeline_err};
use crate::frame::{Frame, Mode, Picture, Read, Size, Stride, Target};
use crate::info::MediaInfo;
use crate::nal::{self, Framing};
use crate::pipeline::{self, Pipeline};
use crate::scan;
use crate::timeline::Timeline;

/// A source of decoded frames: the seam between video decoding and everything above it.
///
/// [`VideoFile`] is the real one; tests of the layers above may use plain arrays.
pub trait FrameSource: Send + std::fmt::Debug {
    /// The facts shared by every source of this file.
    fn probed(&self) -> &Arc<Probed>;
    fn info(&self) -> &MediaInfo {
        &self.probed().info
    }
    fn timeline(&self) -> &Timeline {
        &self.probed().timeline
    }
    /// The size of the frames the file stores (before any scaling).
    fn native_size(&self) -> (u32, u32) {
        (self.info().width, self.info().height)
    }
    /// Whether an error has left this source unusable (a pool closes it rather than lend it
    /// again).
    fn is_broken(&self) -> bool {
        false
    }
    /// The index of the frame this source would deliver next without seeking, if it knows.
    fn position(&self) -> Option<u64> {
        None
    }
    /// One frame, exactly or the keyframe before it, at the given size.
    fn frame(&mut self, target: Target, mode: Mode, size: Size) -> Result<Frame, DecodeError>;
    /// Frame `index`, exactly and at the native size, kept as the decoder gave it (see
    /// [`Picture`]).
    fn picture(&mut self, index: u64) -> Result<Picture, DecodeError> {
        self.frame(Target::Index(index), Mode::Exact, Size::Native)
            .map(Picture::from)
    }
    /// The bytes a [`Self::picture`] holds.
    fn picture_bytes(&self) -> u64 {
        let (width, height) = self.native_size();
        u64::from(width) * u64::from(height) * 3
    }
    /// Frames in order, handed to `each` until it breaks or the range ends.
    fn read(
        &mut self,
        read: Read,
        size: Size,
        each: &mut dyn FnMut(Frame) -> ControlFlow<()>,
    ) -> Result<(), DecodeError>;
}

/// Tuning of one open video.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    /// What a flushing seek costs, counted in decoded frames. Reaching a frame ahead by decoding
    /// forward is preferred while it costs no more than seeking.
    pub seek_cost_frames: u64,
    /// Longest wait for the pipeline to make progress before giving up, in milliseconds.
    pub timeout_ms: u64,
    /// Decoder threads (libav decoders); 0 lets the decoder choose (one per core).
    pub decoder_threads: u32,
    /// Threads for colour conversion and scaling.
    pub convert_threads: u32,
    /// Leave undecoded the non-reference H.264 frames that are decoded only to reach a later
    /// frame (one in three with x264's defaults). Off: decode every frame, as a plain player does.
    pub skip_non_reference: bool,
    /// Largest frame, in pixels, that is decoded; a video of larger frames is refused as a bad
    /// file before any decoder is opened (the default takes 4K UHD and DCI 4K, 4096x2304).
    pub max_frame_pixels: u64,
}

impl SourceConfig {
    /// Refuses frames larger than [`Self::max_frame_pixels`].
    fn check_size(&self, path: &Path, (width, height): (u32, u32)) -> Result<(), DecodeError> {
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_frame_pixels {
            return Err(DecodeError::FrameTooLarge {
                path: path.to_owned(),
                width,
                height,
                pixels,
                max_pixels: self.max_frame_pixels,
            });
        }
        Ok(())
    }
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            seek_cost_frames: 3,
            timeout_ms: 10_000,
            decoder_threads: 0,
            convert_threads: 1,
            skip_non_reference: true,
            max_frame_pixels: 4096 * 2304,
        }
    }
}

impl SourceConfig {
    fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// What is known about a file once it has been opened: shared by every source of that file.
#[derive(Debug)]
pub struct Probed {
    pub info: MediaInfo,
    pub timeline: Timeline,
}

/// Tells the video's facts: container, codec, size, duration, frame rate, exact frame count.
///
/// Reads the whole file once without decoding it, then decodes its first frame, so a file that
/// this returns `Ok` for can be read.
pub fn probe(path: &Path) -> Result<MediaInfo, DecodeError> {
    VideoFile::open(path, &SourceConfig::default()).map(|v| v.info().clone())
}

/// Which decoded frames pass into conversion (see the module docs).
#[derive(Debug, Default)]
struct Gate {
    plan: Mutex<Option<Plan>>,
    /// Frames never decoded: nothing refers to them and nobody asked for them.
    skipped: AtomicU64,
}

#[derive(Debug)]
struct Plan {
    wanted: Arc<[u64]>,
    next: usize,
}

impl Gate {
    fn set(&self, wanted: Option<Arc<[u64]>>) {
        *self.lock() = wanted.map(|wanted| Plan { wanted, next: 0 });
    }

    /// After a flushing seek to `pts`: frames the gate already let through may have been
    /// flushed with the pipeline, so everything wanted from `pts` on is wanted again.
    fn rewind(&self, pts: u64) {
        if let Some(plan) = self.lock().as_mut() {
            plan.next = plan.wanted.partition_point(|&w| w < pts);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Plan>> {
        self.plan
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a frame with this pts is decoded only to reach a wanted frame after it: a frame
    /// nothing refers to may then stay undecoded.
    fn passes_over(&self, pts: Option<gst::ClockTime>) -> bool {
        let plan = self.lock();
        let (Some(plan), Some(pts)) = (plan.as_ref(), pts) else {
            return false;
        };
        let pts = pts.nseconds();
        plan.wanted.last().is_some_and(|&last| pts < last) && plan.wanted.binary_search(&pts).is_err()
    }

    fn admits(&self, pts: Option<gst::ClockTime>) -> bool {
        let mut plan = self.lock();
        let (Some(plan), Some(pts)) = (plan.as_mut(), pts) else {
            return true;
        };
        let pts = pts.nseconds();
        while plan.next < plan.wanted.len() && plan.wanted[plan.next] < pts {
            plan.next += 1;
        }
        match plan.wanted.get(plan.next) {
            Some(&w) if w == pts => {
                plan.next += 1;
                true
            }
            Some(_) => false,
            // Everything wanted is through: let frames fill the sink so the decoder stops.
            None => true,
        }
    }
}

/// The pipeline of a [`VideoFile`], built and prerolled.
#[derive(Debug)]
struct Parts {
    pipeline: Pipeline,
    sink: gst_app::AppSink,
    capsfilter: gst::Element,
    gate: Arc<Gate>,
    native: (u32, u32),
    /// Media timestamp minus stream time: what to subtract from a pts to seek to it.
    shift: i64,
}

impl Parts {
    fn build(path: &Path, config: &SourceConfig) -> Result<Self, DecodeError> {
        pipeline::init()?;
        let p = Pipeline::new(path)?;
        let src = pipeline::make("filesrc")?;
        src.set_property("location", path);
        let decodebin = pipeline::make("decodebin")?
            .downcast::<gst::Bin>()
            .map_err(|_| DecodeError::Pipeline("decodebin is not a bin".into()))?;
        let convert = pipeline::make("videoconvert")?;
        let scale = pipeline::make("videoscale")?;
        for e in [&convert, &scale] {
            e.set_property("n-threads", config.convert_threads.max(1));
        }
        // An exact size asked for is given exactly: stretch, never pad.
        scale.set_property("add-borders", false);
        let capsfilter = pipeline::make("capsfilter")?;
        capsfilter.set_property("caps", i420_caps(None));
        let sink = gst_app::AppSink::builder()
            .caps(&i420_caps(None))
            .sync(false)
            .max_buffers(1)
            .drop(false)
            .enable_last_sample(false)
            .build();
        p.pipeline
            .add_many([
                &src,
                decodebin.upcast_ref(),
                &convert,
                &scale,
                &capsfilter,
                sink.upcast_ref(),
            ])
            .map_err(pipeline_err)?;
        src.link(&decodebin).map_err(pipeline_err)?;
        gst::Element::link_many([&convert, &scale, &capsfilter, sink.upcast_ref()]).map_err(pipeline_err)?;

        let gate = Arc::new(Gate::default());
        let (decoder_threads, skip) = (config.decoder_threads, config.skip_non_reference);
        let decoder_gate = Arc::clone(&gate);
        decodebin.connect_deep_element_added(move |_, _, element| {
            let Some(factory) = element.factory() else { return };
            if factory.name().starts_with("avdec_") && decoder_threads > 0 {
                element.set_property("max-threads", decoder_threads as i32);
            }
            if skip
                && factory.has_type(gst::ElementFactoryType::DECODER | gst::ElementFactoryType::MEDIA_VIDEO)
            {
                skip_unreferenced(element, Arc::clone(&decoder_gate));
            }
        });
        pipeline::link_video_pads(decodebin.upcast_ref(), &convert);

        if let Some(sinkpad) = convert.static_pad("sink") {
            let gate = Arc::clone(&gate);
            sinkpad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                let pts = info.buffer().and_then(|b| b.pts());
                if gate.admits(pts) {
                    gst::PadProbeReturn::Ok
                } else {
                    // Handled, not Drop: gstreamer-rs has already taken the buffer, and
                    // GStreamer 1.22 would unref the emptied slot again on Drop (a CRITICAL).
                    drop(info.data.take());
                    gst::PadProbeReturn::Handled
                }
            });
        }

        p.set_state(gst::State::Paused)?;
        p.wait_preroll(config.timeout())?;
        let preroll = sink.pull_preroll().map_err(pipeline_err)?;
        let native = preroll
            .caps()
            .and_then(|caps| gst_video::VideoInfo::from_caps(caps).ok())
            .map(|info| (info.width(), info.height()))
            .unwrap_or((0, 0));
        // Seeks are in stream time, buffers carry media timestamps; demuxers may set them apart
        // (an MP4 whose B-frames delay the first pts, a Matroska file that starts at 5 s).
        let shift = preroll
            .segment()
            .and_then(|seg| seg.downcast_ref::<gst::ClockTime>())
            .map(|seg| {
                let start = seg.start().map_or(0, |t| t.nseconds() as i64);
                let time = seg.time().map_or(0, |t| t.nseconds() as i64);
                start - time
            })
            .unwrap_or(0);
        p.set_state(gst::State::Playing)?;

        Ok(Self {
            pipeline: p,
            sink,
            capsfilter,
            gate,
            native,
            shift,
        })
    }
}

/// A video file open for reading, GStreamer underneath.
#[derive(Debug)]
pub struct VideoFile {
    path: PathBuf,
    probed: Arc<Probed>,
    config: SourceConfig,
    parts: Parts,
    size: (u32, u32),
    /// The index of the frame the pipeline delivers next, when it is playing forward normally.
    next: Option<u64>,
    /// Set when an error left the pipeline unusable; the owner should drop this source.
    broken: bool,
}

impl VideoFile {
    /// Opens `path`: scans it, builds the pipeline and decodes the first frame.
    pub fn open(path: &Path, config: &SourceConfig) -> Result<Self, DecodeError> {
        let started = std::time::Instant::now();
        let scan = scan::scan(path, config.timeout())?;
        tracing::debug!(
            path = %path.display(),
            frames = scan.timeline.len(),
            own_table = scan.from_index,
            ms = started.elapsed().as_millis() as u64,
            "frame table read"
        );
        if let Some(size) = scan.size {
            config.check_size(path, size)?;
        }
        let parts = Parts::build(path, config).map_err(|e| name_codec(e, &scan.codec))?;
        let (width, height) = parts.native;
        config.check_size(path, (width, height))?;
        if width == 0 || height == 0 {
            return Err(DecodeError::UnsupportedCodec {
                path: path.to_owned(),
                codec: scan.codec,
            });
        }
        let probed = Arc::new(Probed {
            info: MediaInfo::new(&scan, width, height),
            timeline: scan.timeline,
        });
        Ok(Self::assemble(path, config, probed, parts))
    }

    /// Opens another source for a file already probed, skipping the scan.
    pub fn reopen(path: &Path, probed: Arc<Probed>, config: &SourceConfig) -> Result<Self, DecodeError> {
        pipeline::check_file(path)?;
        let parts = Parts::build(path, config).map_err(|e| name_codec(e, &probed.info.codec))?;
        Ok(Self::assemble(path, config, probed, parts))
    }

    fn assemble(path: &Path, config: &SourceConfig, probed: Arc<Probed>, parts: Parts) -> Self {
        Self {
            path: path.to_owned(),
            probed,
            config: config.clone(),
            size: parts.native,
            parts,
            next: Some(0),
            broken: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many frames went undecoded because no frame refers to them and nobody asked for them
    /// (non-reference H.264 frames between a seek's keyframe and its target).
    pub fn frames_skipped(&self) -> u64 {
        self.parts.gate.skipped.load(Ordering::Relaxed)
    }

    fn tl(&self) -> &Timeline {
        &self.probed.timeline
    }

    /// Changes the output size; the next frame must come from a flushing seek.
    fn set_size(&mut self, size: Size) -> Result<(), DecodeError> {
        let size = size.resolve(self.parts.native)?;
        if size != self.size {
            self.parts.capsfilter.set_property("caps", i420_caps(Some(size)));
            self.size = size;
            self.next = None;
        }
        Ok(())
    }

    /// A flushing seek. `stop` bounds keyframes-only reads; every other seek clears it.
    fn seek(&mut self, index: u64, flags: gst::SeekFlags, stop: Option<u64>) -> Result<(), DecodeError> {
        let start = self.position_of(index)?;
        let stop = match stop {
            Some(i) => Some(self.position_of(i)?),
            None => None,
        };
        let result = self.parts.pipeline.pipeline.seek(
            1.0,
            flags | gst::SeekFlags::FLUSH,
            gst::SeekType::Set,
            start,
            gst::SeekType::Set,
            stop,
        );
        if result.is_err() {
            self.broken = true;
            return Err(self
                .parts
                .pipeline
                .take_error()
                .unwrap_or_else(|| DecodeError::Pipeline(format!("seek to frame {index} was refused"))));
        }
        self.parts.gate.rewind(self.pts_of(index)?.nseconds());
        self.next = Some(index);
        Ok(())
    }

    /// The seek position (stream time) of frame `index`.
    fn position_of(&self, index: u64) -> Result<gst::ClockTime, DecodeError> {
        let pts = self.pts_of(index)?.nseconds() as i64;
        Ok(gst::ClockTime::from_nseconds(
            (pts - self.parts.shift).max(0) as u64
        ))
    }

    fn pts_of(&self, index: u64) -> Result<gst::ClockTime, DecodeError> {
        self.tl()
            .pts(index)
            .map(|d| gst::ClockTime::from_nseconds(d.as_nanos() as u64))
            .ok_or_else(|| {
                self.tl()
                    .check_index(index)
                    .err()
                    .unwrap_or_else(|| DecodeError::Pipeline("timeline lookup failed".into()))
            })
    }

    /// Puts the pipeline where the next delivered frame is `index` or before it, choosing
    /// between decoding forward and seeking.
    fn approach(&mut self, index: u64) -> Result<(), DecodeError> {
        let keyframe = self.tl().keyframe_at_or_before(index);
        let forward = self.next.is_some_and(|next| {
            next <= index && index - next <= index - keyframe + self.config.seek_cost_frames
        });
        if forward {
            Ok(())
        } else {
            self.seek(index, gst::SeekFlags::ACCURATE, None)
        }
    }

    /// Pulls the next sample from the sink, with the index of its frame; `None` at the end of
    /// the stream.
    fn pull(&mut self) -> Result<Option<(u64, gst::Sample)>, DecodeError> {
        let deadline = Instant::now() + self.config.timeout();
        let sample = loop {
            if let Some(sample) = self.parts.sink.try_pull_sample(gst::ClockTime::from_mseconds(50)) {
                break sample;
            }
            if self.parts.sink.is_eos() {
                self.next = None;
                return Ok(None);
            }
            if let Some(err) = self.parts.pipeline.take_error() {
                self.broken = true;
                return Err(err);
            }
            if Instant::now() > deadline {
                self.broken = true;
                return Err(DecodeError::Timeout(self.config.timeout()));
            }
        };
        let pts = sample.buffer().and_then(|b| b.pts()).map_or(0, |p| p.nseconds());
        let tl = self.tl();
        let index = match tl.index_of_pts(pts) {
            Some(i) => i,
            // Not a pts of the table (a decoder that re-stamps): the frame on screen then.
            None => tl.index_at(pts.saturating_sub(tl.start().as_nanos() as u64) as f64 / 1e9)?,
        };
        if let Some(next) = self.next.as_mut() {
            *next = index + 1;
        }
        Ok(Some((index, sample)))
    }

    /// Frame `index`, pulled as `sample`, in RGB.
    fn to_frame(&self, index: u64, sample: &gst::Sample) -> Result<Frame, DecodeError> {
        let Rgb {
            width,
            height,
            data,
            pts,
        } = rgb_of(sample)?;
        Ok(Frame {
            index,
            pts: Duration::from_nanos(pts),
            keyframe: self.tl().is_keyframe(index),
            width,
            height,
            data,
        })
    }

    /// Pulls until frame `index` arrives, dropping earlier ones.
    fn pull_until(&mut self, index: u64) -> Result<gst::Sample, DecodeError> {
        loop {
            match self.pull()? {
                Some((i, sample)) if i == index => return Ok(sample),
                Some((i, _)) if i < index => continue,
                Some((i, _)) => {
                    // The decoder skipped it (a damaged frame): our position is now unknown.
                    self.next = None;
                    return Err(DecodeError::FrameLost {
                        index,
                        reason: format!("the decoder went from before it to frame {i}"),
                    });
                }
                None => {
                    return Err(DecodeError::FrameLost {
                        index,
                        reason: "the stream ended before it".into(),
                    });
                }
            }
        }
    }

    fn frame_at_index(&mut self, index: u64, size: Size) -> Result<Frame, DecodeError> {
        let sample = self.sample_at_index(index, size)?;
        self.to_frame(index, &sample)
    }

    /// The sample of frame `index`, exactly.
    fn sample_at_index(&mut self, index: u64, size: Size) -> Result<gst::Sample, DecodeError> {
        self.tl().check_index(index)?;
        self.set_size(size)?;
        let pts = self.pts_of(index)?.nseconds();
        self.parts.gate.set(Some(Arc::from([pts])));
        self.reach(index)
    }

    /// Positions the pipeline for frame `index` and pulls it. In an open GOP (HEVC's default
    /// CRA pictures, open-GOP H.264) the frames shown just before a keyframe are decoded after
    /// it and refer to the GOP before: a seek to one of them can land on that following keyframe,
    /// from which they cannot be decoded. Such a frame is read again from the keyframe of its own
    /// GOP, decoding forward.
    fn reach(&mut self, index: u64) -> Result<gst::Sample, DecodeError> {
        self.approach(index)?;
        match self.pull_until(index) {
            Err(DecodeError::FrameLost { .. }) if !self.broken => {
                let keyframe = self.tl().keyframe_at_or_before(index);
                self.seek(keyframe, gst::SeekFlags::ACCURATE, None)?;
                self.pull_until(index)
            }
            result => result,
        }
    }

    /// A keyframe through a keyframes-only seek that stops right after it: the decoder gets
    /// nothing else, so it hands the keyframe over at once instead of waiting for the frames
    /// that follow (B-frame reordering, frame threads).
    ///
    /// The demuxer starts at a keyframe at or before it, one it can seek to (Matroska's cue
    /// points need not be at every keyframe), or at any frame where it has no keyframes-only
    /// mode (Ogg): what comes before the keyframe is passed over. A keyframe of the table that
    /// the demuxer does not know as one (H.264's parser flags every I-frame, a container only
    /// its sync samples, and x264 writes scene cuts as I-frames that are not) never comes: it
    /// is then read exactly, as any frame is.
    fn keyframe(&mut self, index: u64, size: Size) -> Result<Frame, DecodeError> {
        self.set_size(size)?;
        if self.next == Some(index) {
            return self.frame_at_index(index, size);
        }
        self.parts.gate.set(None);
        let stop = (index + 1 < self.tl().len()).then_some(index + 1);
        self.seek(index, trick_flags(), stop)?;
        // A trick mode now: never decode forward from here.
        self.next = None;
        loop {
            match self.pull()? {
                Some((i, sample)) if i == index => return self.to_frame(i, &sample),
                Some((i, _)) if i < index => {}
                other => {
                    tracing::debug!(
                        path = %self.path.display(),
                        keyframe = index,
                        got = ?other.map(|(i, _)| i),
                        "a keyframes-only seek passed over a keyframe; reading it exactly"
                    );
                    return self.frame_at_index(index, size);
                }
            }
        }
    }

    fn read_keyframes(
        &mut self,
        first: u64,
        last: u64,
        each: &mut dyn FnMut(Frame) -> ControlFlow<()>,
    ) -> Result<(), DecodeError> {
        let first = self.tl().keyframe_at_or_before(first);
        self.parts.gate.set(None);
        // The stop is exclusive in GStreamer; stop after the last frame wanted.
        let stop = (last + 1 < self.tl().len()).then_some(last + 1);
        self.seek(first, trick_flags(), stop)?;
        // The pipeline is in a trick mode now: never decode forward from here.
        self.next = None;
        let result = loop {
            match self.pull() {
                Ok(Some((i, _))) if i > last => break Ok(()),
                Ok(Some((i, sample))) if self.tl().is_keyframe(i) => match self.to_frame(i, &sample) {
                    Ok(frame) => {
                        if each(frame).is_break() {
                            break Ok(());
                        }
                    }
                    Err(e) => break Err(e),
                },
                Ok(Some(_)) => continue,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.next = None;
        result
    }
}

impl FrameSource for VideoFile {
    fn probed(&self) -> &Arc<Probed> {
        &self.probed
    }

    fn native_size(&self) -> (u32, u32) {
        self.parts.native
    }

    fn is_broken(&self) -> bool {
        self.broken
    }

    fn position(&self) -> Option<u64> {
        self.next
    }

    fn frame(&mut self, target: Target, mode: Mode, size: Size) -> Result<Frame, DecodeError> {
        let index = self.tl().resolve(target, mode)?;
        match mode {
            Mode::Exact => self.frame_at_index(index, size),
            Mode::Fast => self.keyframe(index, size),
        }
    }

    fn picture(&mut self, index: u64) -> Result<Picture, DecodeError> {
        let sample = self.sample_at_index(index, Size::Native)?;
        picture_of(index, self.tl().is_keyframe(index), &sample)
    }

    fn picture_bytes(&self) -> u64 {
        let (width, height) = self.parts.native;
        Picture::i420_bytes(width, height)
    }

    fn read(
        &mut self,
        read: Read,
        size: Size,
        each: &mut dyn FnMut(Frame) -> ControlFlow<()>,
    ) -> Result<(), DecodeError> {
        let wanted = self.tl().frames_of(&read)?;
        let (Some(&first), Some(&last)) = (wanted.first(), wanted.last()) else {
            return Ok(());
        };
        if read.stride == Stride::Keyframes {
            self.set_size(size)?;
            return self.read_keyframes(first, last, each);
        }
        self.set_size(size)?;
        let pts: Vec<u64> = wanted
            .iter()
            .filter_map(|&i| self.tl().pts(i))
            .map(|d| d.as_nanos() as u64)
            .collect();
        self.parts.gate.set(Some(pts.into()));
        for index in wanted {
            let sample = self.reach(index)?;
            if each(self.to_frame(index, &sample)?).is_break() {
                break;
            }
        }
        Ok(())
    }
}

/// A decoded I420 sample in RGB, with its pts in nanoseconds (0 when it has none).
pub(crate) struct Rgb {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) data: Vec<u8>,
    pub(crate) pts: u64,
}

/// An I420 sample of an appsink as a [`Picture`] of frame `index`, its planes copied.
fn picture_of(index: u64, keyframe: bool, sample: &gst::Sample) -> Result<Picture, DecodeError> {
    with_i420(sample, |picture, colour, pts| {
        Ok(Picture::from_i420(
            index,
            Duration::from_nanos(pts),
            keyframe,
            picture,
            colour,
        ))
    })
}

/// Converts an I420 sample of an appsink to RGB, honouring its strides and colorimetry.
pub(crate) fn rgb_of(sample: &gst::Sample) -> Result<Rgb, DecodeError> {
    with_i420(sample, |picture, colour, pts| {
        Ok(Rgb {
            width: picture.width,
            height: picture.height,
            data: i420_to_rgb(picture, colour)?,
            pts,
        })
    })
}

/// Lends the planes of an I420 sample of an appsink, with its colorimetry and its pts in
/// nanoseconds (0 when it has none), to `f`.
fn with_i420<T>(
    sample: &gst::Sample,
    f: impl FnOnce(&I420<'_>, YuvColour, u64) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let buffer = sample
        .buffer()
        .ok_or_else(|| DecodeError::Pipeline("sample without buffer".into()))?;
    let caps = sample
        .caps()
        .ok_or_else(|| DecodeError::Pipeline("sample without caps".into()))?;
    let info = gst_video::VideoInfo::from_caps(caps).map_err(pipeline_err)?;
    let vframe = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).map_err(pipeline_err)?;
    let plane = |i: u32| vframe.plane_data(i).map_err(pipeline_err);
    let strides = vframe.plane_stride();
    let picture = I420 {
        y: plane(0)?,
        y_stride: strides[0] as usize,
        u: plane(1)?,
        u_stride: strides[1] as usize,
        v: plane(2)?,
        v_stride: strides[2] as usize,
        width: info.width(),
        height: info.height(),
    };
    f(
        &picture,
        colour_of(&info),
        buffer.pts().map_or(0, |p| p.nseconds()),
    )
}

/// Drops, in front of a video decoder, the H.264 frames that are decoded only to reach a later
/// frame and that no frame refers to (see [`nal`]).
fn skip_unreferenced(decoder: &gst::Element, gate: Arc<Gate>) {
    let Some(pad) = decoder.static_pad("sink") else {
        return;
    };
    let framing = Mutex::new(None::<Framing>);
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            let mut framing = framing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(gst::PadProbeData::Event(event)) = &info.data {
                if let gst::EventView::Caps(caps) = event.view() {
                    *framing = Framing::of_caps(caps.caps());
                }
                return gst::PadProbeReturn::Ok;
            }
            let Some(buffer) = info.buffer() else {
                return gst::PadProbeReturn::Ok;
            };
            let skip = framing.is_some_and(|framing| {
                gate.passes_over(buffer.pts())
                    && buffer
                        .map_readable()
                        .is_ok_and(|unit| nal::is_non_reference(&unit, framing))
            });
            if skip {
                gate.skipped.fetch_add(1, Ordering::Relaxed);
                // Handled, not Drop: see the gate's probe.
                drop(info.data.take());
                gst::PadProbeReturn::Handled
            } else {
                gst::PadProbeReturn::Ok
            }
        },
    );
}

/// A seek that makes the demuxer and decoder pass keyframes only.
fn trick_flags() -> gst::SeekFlags {
    gst::SeekFlags::KEY_UNIT
        | gst::SeekFlags::TRICKMODE
        | gst::SeekFlags::TRICKMODE_KEY_UNITS
        | gst::SeekFlags::TRICKMODE_NO_AUDIO
}

/// The stream's matrix and range, as its caps say; what GStreamer assumes when they do not.
fn colour_of(info: &gst_video::VideoInfo) -> YuvColour {
    let c = info.colorimetry();
    let matrix = match c.matrix() {
        gst_video::VideoColorMatrix::Bt601 => Matrix::Bt601,
        gst_video::VideoColorMatrix::Bt709 => Matrix::Bt709,
        gst_video::VideoColorMatrix::Bt2020 => Matrix::Bt2020,
        _ if info.height() > 576 => Matrix::Bt709,
        _ => Matrix::Bt601,
    };
    YuvColour {
        matrix,
        full_range: c.range() == gst_video::VideoColorRange::Range0_255,
    }
}

/// GStreamer's missing-plugin error says a plug-in is missing; ours says for which codec.
fn name_codec(err: DecodeError, codec: &str) -> DecodeError {
    match err {
        DecodeError::UnsupportedCodec { path, .. } => DecodeError::UnsupportedCodec {
            path,
            codec: codec.to_owned(),
        },
        other => other,
    }
}

/// The pipeline delivers I420 (scaled by videoscale when asked); we convert to RGB ourselves.
fn i420_caps(size: Option<(u32, u32)>) -> gst::Caps {
    let builder = gst_video::VideoCapsBuilder::new().format(gst_video::VideoFormat::I420);
    match size {
        Some((w, h)) => builder.width(w as i32).height(h as i32).build(),
        None => builder.build(),
    }
}
