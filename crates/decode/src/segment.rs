//! HLS segments of a file: the frames whose pts fall in `[start, end)` as one self-contained
//! MPEG-TS (PAT and PMT first, an IDR frame with its parameter sets first), its timestamps the
//! source's own, so a frame's time in a player is its pts in the file. Either repackaged (the
//! source's H.264, nothing decoded) or decoded and encoded again as H.264.
//!
//! - Remux: `filesrc ! parsebin ! h264parse ! capsfilter(byte-stream, au) ! mpegtsmux ! appsink`.
//!   The seek goes a little before `start`; buffers are dropped, in decode order, until the
//!   keyframe at `start`, and cut at the next keyframe at or after `end` (closed GOPs: every
//!   frame of a GOP shows before the next keyframe).
//! - Transcode: `filesrc ! decodebin ! videoconvert ! videoscale ! capsfilter(I420, size) !
//!   x264enc|nvh264enc ! h264parse ! mpegtsmux ! appsink`, the same seek, decoded frames before
//!   `start` dropped, cut at the first frame at or after `end`; the encoder makes one IDR frame
//!   at the segment's start and no B-frames.
//!
//! Nothing reaches the muxer before the seek: a blocking probe holds the first buffer, the
//! seek's flush discards it. The offset of the pad into the muxer makes the running time equal
//! each buffer's own timestamp, which the muxer writes (plus its constant start offset, the same
//! in every segment).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

use crate::error::{DecodeError, pipeline_err};
use crate::pipeline::{self, POLL, Pipeline};
use crate::timeline::Timeline;

/// How a rendition's video is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rendition {
    /// The source's own H.264, repackaged: nothing decoded or encoded.
    Remux,
    /// Decoded and encoded again as H.264 of this size, at about `kbps`.
    H264 { width: u32, height: u32, kbps: u32 },
}

/// The H.264 encoder transcoded segments use, chosen once when the server starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoder {
    /// `x264enc`, on the CPU.
    X264,
    /// `nvh264enc`, NVIDIA's hardware encoder (registered only where CUDA works).
    Nvenc,
}

impl Encoder {
    /// NVENC when this machine has it, else x264; `None` when neither is installed.
    pub fn detect() -> Option<Self> {
        pipeline::init().ok()?;
        let usable = |name: &str| gst::ElementFactory::make(name).build().is_ok();
        if usable("nvh264enc") {
            Some(Self::Nvenc)
        } else if usable("x264enc") {
            Some(Self::X264)
        } else {
            None
        }
    }

    pub fn element(self) -> &'static str {
        match self {
            Self::X264 => "x264enc",
            Self::Nvenc => "nvh264enc",
        }
    }

    fn make(self, kbps: u32) -> Result<gst::Element, DecodeError> {
        let encoder = pipeline::make(self.element())?;
        match self {
            Self::X264 => {
                encoder.set_property("bitrate", kbps);
                encoder.set_property_from_str("speed-preset", "veryfast");
                // No B-frames and no look-ahead: pts = dts, and a segment's first frame out first.
                encoder.set_property_from_str("tune", "zerolatency");
                // One IDR frame, at the start: segments are cut at the source's keyframes.
                encoder.set_property("key-int-max", 100_000u32);
            }
            Self::Nvenc => {
                encoder.set_property("bitrate", kbps);
                encoder.set_property("bframes", 0u32);
                encoder.set_property("gop-size", -1i32);
            }
        }
        Ok(encoder)
    }
}

impl Encoder {
    /// An encoder for live viewers: no B-frames, no look-ahead (each frame out as it comes in),
    /// a keyframe at least every `key_every` frames, about `kbps`.
    pub fn live(self, kbps: u32, key_every: u32) -> Result<gst::Element, DecodeError> {
        let encoder = pipeline::make(self.element())?;
        match self {
            Self::X264 => {
                encoder.set_property("bitrate", kbps);
                encoder.set_property_from_str("speed-preset", "superfast");
                encoder.set_property_from_str("tune", "zerolatency");
                encoder.set_property("key-int-max", key_every.max(1));
            }
            Self::Nvenc => {
                encoder.set_property("bitrate", kbps);
                encoder.set_property("bframes", 0u32);
                if encoder.has_property("zerolatency") {
                    encoder.set_property("zerolatency", true);
                }
                encoder.set_property("gop-size", i32::try_from(key_every).unwrap_or(i32::MAX));
            }
        }
        Ok(encoder)
    }
}

/// One segment of a playlist: from the keyframe `first` (at pts `start`) to `end`, the next
/// segment's start or the end of the last frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub first: u64,
    pub start: Duration,
    pub end: Duration,
}

impl Cut {
    pub fn duration(&self) -> Duration {
        self.end.saturating_sub(self.start)
    }
}

/// The segments of a VOD playlist, cut at keyframes: each as long as `target` or just over it
/// (a GOP longer than `target` is one segment), the last one whatever is left.
pub fn cuts(timeline: &Timeline, target: Duration) -> Vec<Cut> {
    let keyframes = timeline.keyframes();
    let end = timeline.start() + timeline.duration();
    let mut cuts: Vec<Cut> = Vec::new();
    for &k in keyframes {
        let Some(pts) = timeline.pts(k) else { continue };
        match cuts.last_mut() {
            Some(last) if pts.saturating_sub(last.start) < target => {}
            Some(last) => {
                last.end = pts;
                cuts.push(Cut {
                    first: k,
                    start: pts,
                    end,
                });
            }
            None => cuts.push(Cut {
                first: k,
                start: pts,
                end,
            }),
        }
    }
    cuts
}

/// How far before a segment's start the seek goes: the demuxer's segment then starts before the
/// first keyframe's decode time (B-frames put it before its pts), whatever the container's
/// offsets between media and stream time.
const SEEK_MARGIN: Duration = Duration::from_secs(1);

/// Where the cutting probe stands.
#[derive(Debug, Default)]
struct Cutting {
    /// Set once the seek to the segment is sent.
    sought: bool,
    /// Set once that seek's flush has passed: buffers before it are not the segment's.
    armed: bool,
    /// The first buffer of the segment went through.
    started: bool,
    /// Every buffer of the segment went through.
    done: bool,
    /// Media time minus stream time of the first segment event (seeks are in stream time);
    /// set once the first buffer waits at the block.
    shift: Option<i64>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The segment `cut` of the file at `path` as MPEG-TS bytes, made as `rendition` says (with
/// `encoder` when it transcodes). Gives up with [`DecodeError::Cancelled`] soon after `cancel`
/// is set, and with a timeout when nothing moves for `stall`.
pub fn segment(
    path: &Path,
    cut: &Cut,
    rendition: Rendition,
    encoder: Encoder,
    cancel: &AtomicBool,
    stall: Duration,
) -> Result<Vec<u8>, DecodeError> {
    pipeline::init()?;
    pipeline::check_file(path)?;
    let p = Pipeline::new(path)?;
    let src = pipeline::make("filesrc")?;
    src.set_property("location", path);
    let mux = pipeline::make("mpegtsmux")?;
    // No preroll: nothing reaches the sink before the seek (see below).
    let sink = gst_app::AppSink::builder()
        .sync(false)
        .enable_last_sample(false)
        .build();
    sink.set_async(false);
    p.pipeline
        .add_many([&src, &mux, sink.upcast_ref()])
        .map_err(pipeline_err)?;
    mux.link(&sink).map_err(pipeline_err)?;
    // The pad whose buffers are cut: the last before the muxer.
    let into_mux = match rendition {
        Rendition::Remux => remux_chain(&p, &src, &mux)?,
        Rendition::H264 { width, height, kbps } => {
            transcode_chain(&p, &src, &mux, (width, height), encoder, kbps)?
        }
    };
    let raw = !matches!(rendition, Rendition::Remux);
    let state = Arc::new(Mutex::new(Cutting::default()));
    let lock = |s: &Mutex<Cutting>| s.lock().unwrap_or_else(std::sync::PoisonError::into_inner).shift;
    // Nothing reaches the muxer before the seek: the first buffer waits here (the sink does not
    // preroll) until the seek is sent; from then on buffers pass, and those before the seek's
    // flush are dropped below. A demuxer still reading its headers (Matroska's, where its
    // index is at the end of the file) defers the seek until it has read them, and reads on
    // only once the buffer is let go.
    let block = {
        let state = Arc::clone(&state);
        into_mux.add_probe(
            gst::PadProbeType::BLOCK_DOWNSTREAM | gst::PadProbeType::BUFFER,
            move |pad, _| {
                let mut s = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                // Once the seek is sent, everything goes on to the cutting probe.
                if s.sought {
                    return gst::PadProbeReturn::Pass;
                }
                if s.shift.is_none() {
                    let segment = pad.sticky_event::<gst::event::Segment>(0);
                    let segment = segment
                        .as_ref()
                        .and_then(|e| e.segment().downcast_ref::<gst::ClockTime>().cloned());
                    let start = segment
                        .as_ref()
                        .and_then(|s| s.start())
                        .map_or(0, |t| t.nseconds() as i64);
                    let time = segment
                        .as_ref()
                        .and_then(|s| s.time())
                        .map_or(0, |t| t.nseconds() as i64);
                    s.shift = Some(start - time);
                }
                gst::PadProbeReturn::Ok
            },
        )
    };
    {
        let state = Arc::clone(&state);
        into_mux.add_probe(gst::PadProbeType::EVENT_FLUSH, move |_, info| {
            if let Some(gst::PadProbeData::Event(event)) = &info.data
                && let gst::EventView::FlushStop(_) = event.view()
            {
                // The only seek of this pipeline; a demuxer that deferred it flushes later.
                let mut s = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                s.armed |= s.sought;
            }
            gst::PadProbeReturn::Ok
        });
    }
    {
        let state = Arc::clone(&state);
        let (start, end) = (nanos(cut.start), nanos(cut.end));
        into_mux.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let Some(buffer) = info.buffer() else {
                return gst::PadProbeReturn::Ok;
            };
            let mut s = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let pts = buffer.pts().map(gst::ClockTime::nseconds);
            let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
            let keep = if !s.armed || s.done {
                false
            } else if !s.started {
                // Raw frames before the start, or coded ones before the start's keyframe.
                let at_start = pts.is_some_and(|t| t >= start) && (raw || keyframe);
                if at_start {
                    s.started = true;
                    // Running time = the buffer's own timestamp.
                    let segment = pad.sticky_event::<gst::event::Segment>(0);
                    if let Some(seg) = segment
                        .as_ref()
                        .and_then(|e| e.segment().downcast_ref::<gst::ClockTime>().cloned())
                    {
                        let start = seg.start().map_or(0, |t| t.nseconds() as i64);
                        let base = seg.base().map_or(0, |t| t.nseconds() as i64);
                        pad.set_offset(start - base);
                    }
                }
                at_start
            } else if pts.is_some_and(|t| t >= end) && (raw || keyframe) {
                s.done = true;
                false
            } else {
                true
            };
            if keep {
                gst::PadProbeReturn::Ok
            } else {
                // Handled, not Drop: gstreamer-rs has already taken the buffer (see source.rs).
                drop(info.data.take());
                gst::PadProbeReturn::Handled
            }
        });
    }

    p.set_state(gst::State::Paused)?;
    // Ready to seek once the first buffer waits at the block.
    let waiting = Instant::now();
    let shift = loop {
        if let Some(shift) = lock(&state) {
            break shift;
        }
        if cancel.load(Ordering::Relaxed) {
            return Err(DecodeError::Cancelled);
        }
        if let Some(msg) = p.pop(POLL, &[gst::MessageType::Error, gst::MessageType::Eos]) {
            return Err(match msg.view() {
                gst::MessageView::Error(err) => p.map_error(err),
                _ => DecodeError::Corrupt {
                    path: path.to_owned(),
                    reason: "the stream ended before its first frame".into(),
                },
            });
        }
        if waiting.elapsed() > pipeline::LOST_ERROR_GRACE {
            p.check_lost_error()?;
        }
        if waiting.elapsed() > stall {
            return Err(DecodeError::Timeout(stall));
        }
    };
    // A little early, from the keyframe before: frames before the start are dropped above.
    let position = (nanos(cut.start.saturating_sub(SEEK_MARGIN)) as i64 - shift).max(0) as u64;
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .sought = true;
    p.pipeline
        .seek_simple(gst::SeekFlags::FLUSH, gst::ClockTime::from_nseconds(position))
        .map_err(|_| {
            p.take_error()
                .unwrap_or_else(|| DecodeError::Pipeline("the seek to a segment's start was refused".into()))
        })?;
    if let Some(block) = block {
        into_mux.remove_probe(block);
    }
    p.set_state(gst::State::Playing)?;

    let mut out = Vec::new();
    let mut moved = Instant::now();
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(DecodeError::Cancelled);
        }
        if let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_nseconds(nanos(POLL))) {
            if let Some(buffer) = sample.buffer() {
                let map = buffer.map_readable().map_err(pipeline_err)?;
                out.extend_from_slice(&map);
            }
            moved = Instant::now();
            continue;
        }
        if sink.is_eos() {
            break;
        }
        if let Some(e) = p.take_error() {
            return Err(e);
        }
        let done = state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .done;
        if done {
            // The rest of the file is not needed: end the stream, so the muxer flushes.
            p.pipeline.send_event(gst::event::Eos::new());
        }
        if moved.elapsed() > stall {
            return Err(DecodeError::Timeout(stall));
        }
    }
    let started = state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .started;
    if !started {
        return Err(DecodeError::Corrupt {
            path: path.to_owned(),
            reason: format!("no frame of the segment at {:.3} s came", cut.start.as_secs_f64()),
        });
    }
    Ok(out)
}

/// `src ! parsebin`, its H.264 pad `! h264parse ! capsfilter ! mux`; returns the pad into `mux`.
fn remux_chain(p: &Pipeline, src: &gst::Element, mux: &gst::Element) -> Result<gst::Pad, DecodeError> {
    let parsebin = pipeline::make("parsebin")?;
    let parse = pipeline::make("h264parse")?;
    // Parameter sets before every IDR frame: each segment stands alone.
    parse.set_property("config-interval", -1i32);
    let caps = pipeline::make("capsfilter")?;
    caps.set_property(
        "caps",
        gst::Caps::builder("video/x-h264")
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .build(),
    );
    p.pipeline
        .add_many([&parsebin, &parse, &caps])
        .map_err(pipeline_err)?;
    src.link(&parsebin).map_err(pipeline_err)?;
    gst::Element::link_many([&parse, &caps, mux]).map_err(pipeline_err)?;
    let (parse_weak, bin) = (parse.downgrade(), p.pipeline.downgrade());
    parsebin.connect_pad_added(move |_, pad| {
        let (Some(parse), Some(bin)) = (parse_weak.upgrade(), bin.upgrade()) else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let h264 = caps.structure(0).is_some_and(|s| s.name() == "video/x-h264");
        let Some(sinkpad) = parse.static_pad("sink") else {
            return;
        };
        if h264 && !sinkpad.is_linked() {
            let _ = pad.link(&sinkpad);
            return;
        }
        // Every other stream (audio, a second video) into a fakesink, or the demuxer stops
        // with not-linked.
        if let Ok(sink) = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .property("async", false)
            .build()
            && bin.add(&sink).is_ok()
        {
            let _ = sink.sync_state_with_parent();
            if let Some(sinkpad) = sink.static_pad("sink") {
                let _ = pad.link(&sinkpad);
            }
        }
    });
    caps.static_pad("src")
        .ok_or_else(|| DecodeError::Pipeline("capsfilter has no src pad".into()))
}

/// `src ! decodebin ! videoconvert ! videoscale ! capsfilter ! encoder ! h264parse ! mux`;
/// returns the pad into `mux`.
fn transcode_chain(
    p: &Pipeline,
    src: &gst::Element,
    mux: &gst::Element,
    (width, height): (u32, u32),
    encoder: Encoder,
    kbps: u32,
) -> Result<gst::Pad, DecodeError> {
    let decodebin = pipeline::make("decodebin")?;
    let convert = pipeline::make("videoconvert")?;
    let scale = pipeline::make("videoscale")?;
    scale.set_property("add-borders", false);
    let size = pipeline::make("capsfilter")?;
    size.set_property(
        "caps",
        gst::Caps::builder("video/x-raw")
            .field("format", "I420")
            .field("width", width as i32)
            .field("height", height as i32)
            .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
            .build(),
    );
    let encode = encoder.make(kbps)?;
    let parse = pipeline::make("h264parse")?;
    parse.set_property("config-interval", -1i32);
    p.pipeline
        .add_many([&decodebin, &convert, &scale, &size, &encode, &parse])
        .map_err(pipeline_err)?;
    src.link(&decodebin).map_err(pipeline_err)?;
    gst::Element::link_many([&convert, &scale, &size, &encode, &parse, mux]).map_err(pipeline_err)?;
    pipeline::link_video_pads(&decodebin, &convert);
    // Cut on raw frames, in presentation order, before the encoder.
    size.static_pad("src")
        .ok_or_else(|| DecodeError::Pipeline("capsfilter has no src pad".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_start_at_keyframes_and_last_about_the_target() {
        // 25 fps, a keyframe every 25 frames, 10 s.
        let frame = 40_000_000u64;
        let entries: Vec<(u64, bool)> = (0..250).map(|i| (i * frame, i % 25 == 0)).collect();
        let timeline = Timeline::from_entries(entries, Some(frame)).unwrap();
        let four = cuts(&timeline, Duration::from_secs(4));
        let starts: Vec<u64> = four.iter().map(|c| c.first).collect();
        assert_eq!(starts, [0, 100, 200]);
        assert_eq!(four[0].end, Duration::from_secs(4));
        assert_eq!(four[2].end, Duration::from_secs(10));
        // A GOP longer than the target is one segment of its own.
        let entries: Vec<(u64, bool)> = (0..250).map(|i| (i * frame, i % 150 == 0)).collect();
        let timeline = Timeline::from_entries(entries, Some(frame)).unwrap();
        let long = cuts(&timeline, Duration::from_secs(4));
        assert_eq!(
            long.iter().map(|c| (c.first, c.duration())).collect::<Vec<_>>(),
            [(0, Duration::from_secs(6)), (150, Duration::from_secs(4))]
        );
    }
}
