//! The demux-only pass over a file: lists every video frame's pts and keyframe flag without
//! decoding anything, and collects what the container says about the stream.
//!
//! `filesrc ! parsebin`, with a pad probe on the first video pad. It reads the whole
//! file once (about the speed of reading the bytes), which buys an exact frame table for any
//! container with timestamps, including variable frame rates and B-frames. An MP4 or MOV file
//! lists its frames in its `moov` box: there the pass stops after the first frames, once they
//! agree with that list, and the list is the table (a day-long recording opens in well under a
//! second instead of a read of every byte; [`crate::mp4index`]).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

use crate::error::DecodeError;
use crate::mp4index::{self, Mp4Index};
use crate::pipeline::{self, Pipeline};
use crate::timeline::Timeline;

/// What the demux pass learnt about a file.
#[derive(Debug)]
pub(crate) struct Scan {
    pub(crate) timeline: Timeline,
    pub(crate) container: String,
    pub(crate) codec: String,
    pub(crate) reordered: bool,
    /// Whether every frame came with its decode time as well as its presentation time.
    pub(crate) decode_times: bool,
    pub(crate) rotation: u32,
    pub(crate) nominal_fps: Option<f64>,
    /// The duration the container declares (its index, e.g. an mp4's `moov`), if it does.
    pub(crate) declared: Option<Duration>,
    /// The frame size the stream's caps give, before anything is decoded.
    pub(crate) size: Option<(u32, u32)>,
    /// Whether the frame table is the file's own (an MP4's `moov`), checked by its first frames.
    pub(crate) from_index: bool,
}

#[derive(Debug, Default)]
struct Collected {
    container: Option<String>,
    video_caps: Option<gst::Caps>,
    rotation: u32,
    entries: Vec<(u64, bool)>,
    last_duration: Option<u64>,
    missing_pts: u64,
    /// Frames with a presentation time and no decode time (Matroska keeps only the former).
    missing_dts: u64,
}

/// Frames the demux pass reads of a file with its own frame table, to check the table by.
const CHECKED_FRAMES: usize = 240;

/// Scans `path`. Fails if nothing arrives for `stall` (a hung demuxer never hangs the caller).
pub(crate) fn scan(path: &Path, stall: Duration) -> Result<Scan, DecodeError> {
    scan_with(path, stall, true)
}

/// [`scan`], reading every frame unless `own_table` lets an MP4's table stand for them.
fn scan_with(path: &Path, stall: Duration, own_table: bool) -> Result<Scan, DecodeError> {
    pipeline::init()?;
    pipeline::check_file(path)?;
    let index = own_table.then(|| mp4index::read(path)).flatten();

    let p = Pipeline::new(path)?;
    let src = pipeline::make("filesrc")?;
    src.set_property("location", path);
    let parsebin = pipeline::make("parsebin")?;
    p.pipeline
        .add_many([&src, &parsebin])
        .map_err(crate::error::pipeline_err)?;
    gst::Element::link_many([&src, &parsebin]).map_err(crate::error::pipeline_err)?;

    let collected = Arc::new(Mutex::new(Collected::default()));
    {
        let collected = Arc::clone(&collected);
        let pipeline = p.pipeline.downgrade();
        parsebin.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipeline.upgrade() else {
                return;
            };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let is_video = caps
                .structure(0)
                .is_some_and(|s| s.name().starts_with("video/") || s.name() == "image/jpeg");
            let first_video = is_video && {
                let mut c = lock(&collected);
                let first = c.video_caps.is_none();
                if first {
                    c.video_caps = Some(caps.clone());
                }
                first
            };
            // Every pad gets a sink, or the demuxer stops with not-linked.
            let Ok(sink) = gst::ElementFactory::make("fakesink")
                .property("sync", false)
                .property("async", false)
                .build()
            else {
                return;
            };
            if pipeline.add(&sink).is_err() {
                return;
            }
            if first_video {
                let collected = Arc::clone(&collected);
                pad.add_probe(
                    gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
                    move |_, info| {
                        record(&collected, info);
                        gst::PadProbeReturn::Ok
                    },
                );
            }
            if let Some(sinkpad) = sink.static_pad("sink") {
                let _ = pad.link(&sinkpad);
            }
            let _ = sink.sync_state_with_parent();
        });
    }

    p.set_state(gst::State::Playing)?;
    let mut index = index;
    let enough = index.as_ref().map(|_| CHECKED_FRAMES);
    let stopped_early = wait_for_eos(&p, &collected, stall, enough)?;
    // Asked after the data ran out (or the first frames came), so it is what the container
    // says, not what was read.
    let declared = p
        .pipeline
        .query_duration::<gst::ClockTime>()
        .map(|d| Duration::from_nanos(d.nseconds()));
    if stopped_early {
        let agrees = index
            .as_ref()
            .is_some_and(|i| agrees(i, &lock(&collected).entries, declared));
        if !agrees {
            tracing::warn!(path = %path.display(), "the file's own frame table disagrees with its frames; reading them all");
            index = None;
            wait_for_eos(&p, &collected, stall, None)?;
        }
    }

    let mut c = std::mem::take(&mut *lock(&collected));
    // Read to the end (a short file): the table holds if it lists what was read.
    let from_index = index.is_some_and(|index| {
        if stopped_early {
            c.entries = index.entries;
            c.last_duration = index.last_duration;
            true
        } else {
            let holds = same_frames(&index.entries, &c.entries);
            if holds {
                c.entries = index.entries;
            }
            holds
        }
    });
    let Some(caps) = c.video_caps else {
        return Err(DecodeError::NoVideo(path.to_owned()));
    };
    // The demuxer's tag is the more exact name (ISO MP4 rather than QuickTime), except that
    // Matroska's demuxer names WebM, its profile, Matroska too; MPEG-TS and FLV send no tag.
    let container = match (c.container, found_type(&parsebin, &caps)) {
        (_, Some(found)) if found == "WebM" => found,
        (Some(tag), _) => tag,
        (None, found) => found.unwrap_or_else(|| "unknown".into()),
    };
    let codec = describe(caps.clone());
    let size = caps.structure(0).and_then(|s| {
        let w = s.get::<i32>("width").ok()?;
        let h = s.get::<i32>("height").ok()?;
        Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?))
    });
    if c.missing_pts > 0 {
        tracing::warn!(path = %path.display(), frames = c.missing_pts, "frames without timestamps were ignored");
    }
    let reordered = c.entries.windows(2).any(|w| w[1].0 < w[0].0);
    let timeline =
        Timeline::from_entries(c.entries, c.last_duration).ok_or_else(|| DecodeError::Corrupt {
            path: path.to_owned(),
            reason: "the video stream holds no frames with timestamps".into(),
        })?;
    let nominal_fps = caps
        .structure(0)
        .and_then(|s| s.get::<gst::Fraction>("framerate").ok())
        .filter(|f| f.numer() > 0 && f.denom() > 0)
        .map(|f| f.numer() as f64 / f.denom() as f64);
    Ok(Scan {
        timeline,
        container,
        codec,
        reordered,
        decode_times: c.missing_dts == 0,
        rotation: c.rotation,
        nominal_fps,
        declared,
        size,
        from_index,
    })
}

/// GStreamer's human name for a format ("H.264 (High Profile)", "Matroska").
fn describe(mut caps: gst::Caps) -> String {
    // The description needs fixed caps; parsers may leave ranges in optional fields.
    caps.fixate();
    gst_pbutils::pb_utils_get_codec_description(&caps).to_string()
}

/// The container as the type finder saw it (MPEG-TS's and FLV's demuxers send no container
/// tag; Matroska's tags WebM as Matroska); none for a bare stream of the video codec.
fn found_type(parsebin: &gst::Element, video: &gst::Caps) -> Option<String> {
    let typefind = parsebin.downcast_ref::<gst::Bin>()?.by_name("typefind")?;
    let caps = typefind.property::<Option<gst::Caps>>("caps")?;
    let name = |c: &gst::Caps| c.structure(0).map(|s| s.name().to_string());
    (name(&caps)? != name(video)?).then(|| describe(caps))
}

fn lock(c: &Mutex<Collected>) -> std::sync::MutexGuard<'_, Collected> {
    // A panic while holding this lock leaves plain data behind; keep going with it.
    c.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn record(collected: &Mutex<Collected>, info: &gst::PadProbeInfo) {
    match &info.data {
        Some(gst::PadProbeData::Buffer(buf)) => {
            let mut c = lock(collected);
            // AVI knows only decode times: its demuxer stamps the presentation time of
            // keyframes alone. Without reordering (the codecs AVI carries: MPEG-4 Part 2,
            // MJPEG, H.264 without B-frames) the decode time is the presentation time.
            match buf.pts().or(buf.dts()) {
                Some(pts) => {
                    let key = !buf.flags().contains(gst::BufferFlags::DELTA_UNIT);
                    c.entries.push((pts.nseconds(), key));
                    c.missing_dts += u64::from(buf.dts().is_none());
                    if let Some(d) = buf.duration() {
                        c.last_duration = Some(d.nseconds());
                    }
                }
                // Codec headers in the stream (Theora's three) are no frames.
                None if buf.flags().contains(gst::BufferFlags::HEADER) => {}
                None => c.missing_pts += 1,
            }
        }
        Some(gst::PadProbeData::Event(ev)) => {
            if let gst::EventView::Tag(tag) = ev.view() {
                let tags = tag.tag();
                let mut c = lock(collected);
                if let Some(orientation) = tags.get::<gst::tags::ImageOrientation>() {
                    c.rotation = parse_rotation(orientation.get());
                }
                if let Some(container) = tags.get::<gst::tags::ContainerFormat>() {
                    c.container = Some(container.get().to_owned());
                }
            }
        }
        _ => {}
    }
}

/// `image-orientation` values are like `rotate-90` or `flip-rotate-270`.
fn parse_rotation(tag: &str) -> u32 {
    tag.rsplit('-')
        .next()
        .and_then(|deg| deg.parse().ok())
        .filter(|deg| [90, 180, 270].contains(deg))
        .unwrap_or(0)
}

/// Whether the file's table agrees with the first frames read, in decode order (see
/// [`same_frames`]), and with the duration the container declares (to within two frames).
fn agrees(index: &Mp4Index, read: &[(u64, bool)], declared: Option<Duration>) -> bool {
    let prefix = read.len() >= CHECKED_FRAMES
        && index
            .entries
            .get(..read.len())
            .is_some_and(|table| same_frames(table, read));
    let (Some(first), Some(last)) = (
        index.entries.iter().map(|e| e.0).min(),
        index.entries.iter().map(|e| e.0).max(),
    ) else {
        return false;
    };
    let frame = index.last_duration.unwrap_or(0);
    let span = last + frame - first;
    prefix && declared.is_none_or(|d| (d.as_nanos() as u64).abs_diff(span) <= 2 * frame.max(1_000_000))
}

/// Whether a file's table lists the frames `read` (in decode order): the same timestamps, and
/// every sync sample of the table a keyframe as read. The parser may flag more keyframes than
/// the container's sync samples (H.264's parser flags every I-frame, x264 writes scene cuts
/// as I-frames that are not sync samples): the table's are the ones its demuxer seeks to.
fn same_frames(table: &[(u64, bool)], read: &[(u64, bool)]) -> bool {
    table.len() == read.len()
        && table
            .iter()
            .zip(read)
            .all(|(&(pts, sync), &(read_pts, key))| pts == read_pts && (key || !sync))
}

/// Waits for the end of the file, or until `enough` frames were read (then true).
fn wait_for_eos(
    p: &Pipeline,
    collected: &Mutex<Collected>,
    stall: Duration,
    enough: Option<usize>,
) -> Result<bool, DecodeError> {
    let mut seen = 0;
    let mut last_progress = Instant::now();
    loop {
        let msg = p.pop(pipeline::POLL, &[gst::MessageType::Eos, gst::MessageType::Error]);
        match msg.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => return Ok(false),
            Some(gst::MessageView::Error(err)) => return Err(p.map_error(err)),
            _ => {}
        }
        let now = lock(collected).entries.len();
        if enough.is_some_and(|n| now >= n) {
            return Ok(true);
        }
        if now != seen {
            seen = now;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > stall {
            return Err(DecodeError::Timeout(stall));
        } else if seen == 0 && last_progress.elapsed() > pipeline::LOST_ERROR_GRACE {
            p.check_lost_error()?;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Files from `gst-launch-1.0`: B-frames in MP4 and QuickTime, H.265 with open GOPs, a
    /// variable frame rate; the file's own table is taken, and it is the table every frame
    /// read gives.
    #[test]
    fn an_mp4s_own_frame_table_is_the_one_its_frames_give() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "b3.mp4",
                "videotestsrc num-buffers=400 ! video/x-raw,width=160,height=120,framerate=25/1 ! x264enc bframes=3 key-int-max=30 ! mp4mux",
            ),
            (
                "b2.mov",
                "videotestsrc num-buffers=300 ! video/x-raw,width=160,height=120,framerate=30000/1001 ! x264enc bframes=2 key-int-max=50 ! qtmux",
            ),
            (
                "open.mp4",
                "videotestsrc num-buffers=300 ! video/x-raw,width=160,height=128,framerate=25/1 ! x265enc option-string=open-gop=1:bframes=4 key-int-max=40 ! h265parse ! mp4mux",
            ),
            // Long enough that the pass stops after the first frames and takes the table.
            (
                "long.mp4",
                "videotestsrc num-buffers=20000 pattern=ball ! video/x-raw,width=64,height=48,framerate=25/1 ! x264enc speed-preset=ultrafast bframes=2 key-int-max=50 ! mp4mux",
            ),
            (
                "vfr.mp4",
                "videotestsrc num-buffers=300 ! video/x-raw,width=160,height=120,framerate=25/1 ! videorate drop-only=true max-rate=17 ! x264enc key-int-max=20 ! mp4mux",
            ),
        ];
        for (name, pipeline) in cases {
            let path = dir.path().join(name);
            let status = std::process::Command::new("gst-launch-1.0")
                .arg("-q")
                .args(format!("{pipeline} ! filesink location={}", path.display()).split(' '))
                .status()
                .unwrap();
            assert!(status.success(), "{name}");
            let own = scan_with(&path, Duration::from_secs(10), true).unwrap();
            let every = scan_with(&path, Duration::from_secs(10), false).unwrap();
            assert!(own.from_index && !every.from_index, "{name}");
            assert_eq!(own.timeline, every.timeline, "{name}");
            assert_eq!(
                (own.codec, own.size, own.reordered),
                (every.codec, every.size, every.reordered),
                "{name}"
            );
        }
    }

    #[test]
    fn rotation_tags() {
        assert_eq!(parse_rotation("rotate-0"), 0);
        assert_eq!(parse_rotation("rotate-90"), 90);
        assert_eq!(parse_rotation("flip-rotate-270"), 270);
        assert_eq!(parse_rotation("nonsense"), 0);
    }
}
