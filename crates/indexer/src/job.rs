//! Indexing one video, coarse to fine, in small resumable steps.
//!
//! First, the input size its frames go in at ([`choose_input`]: the model's own, or its larger
//! one where the model finds small animals on five keyframes), then three passes:
//!
//! 1. Keyframes: only keyframes are decoded (a keyframe seek decodes one picture), so a rough
//!    timeline of the whole video exists within seconds. Where keyframes are closer than
//!    `interval` (short GOPs, all-intra video), only as many as keep them `interval` apart. They
//!    are taken coarse to fine: the first, then every 2^k-th, then those halfway between, so
//!    a long video (a day-long recording has tens of thousands) has samples spread over all of
//!    it long before the pass ends.
//! 2. Regular: frames that close every gap the keyframes leave longer than `interval` seconds,
//!    evenly spaced in it, and the last frame (see [`SamplePlan`]). Frames are read exactly; the
//!    source decodes forward or seeks, whichever is cheaper. Where the samples around a
//!    regular frame (the keyframes of its GOP) already disagree, the count changes between them
//!    and refinement would decode that stretch again: every frame of it is decoded now, once,
//!    and bisected on as step 3 does, while it is here.
//! 3. Refine: where two neighbouring samples disagree on the count, the frame halfway between
//!    is inferred, and so on until the gap is at most `refine_gap_frames`: the frame where the
//!    count changes is then known to within that many frames. The frames between the
//!    disagreeing samples are decoded once, in order, and kept (up to `refine_window_mb`, as
//!    the decoder gives them: I420, converted to RGB only for the few that are inferred) while
//!    the bisection runs on them: a bisection that seeks for each of its frames decodes the
//!    frames before them again every time (most of refinement's cost at 720p).
//!
//! In the regular pass, a second source of the video (where the job has one:
//! [`Job::read_ahead`]) works ahead of the job on a thread of its own, so decoding runs on two
//! cores: it decodes and infers the regular frames whose GOP's keyframes agree, and every
//! second GOP whose keyframes disagree whole, for the job to bisect on (see `infer.rs`).
//!
//! Frames go to the scheduler, at background priority, as soon as they are decoded, so the
//! model works on one while the next decodes (a user's request waits for at most one batch);
//! each step commits its samples in one transaction per batch. What a step
//! does next is always computed from what the database holds, so stopping at any point (even
//! `kill -9`) and starting again continues where it stopped, without gaps or duplicates.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pigweight_decode::{
    FileVersion, Frame, FrameSource, MemoryBudget, Mode, Picture, Reservation, Size, Target, Timeline,
};
use pigweight_inference::{Detection, Detections, ModelInfo, Priority, Scheduler, Tracker, TrackerConfig};
use serde::{Deserialize, Serialize};

use crate::error::IndexError;
use crate::infer::{
    Ahead, AheadFrame, AheadPlan, AheadTask, Answer, Inferred, ReadAhead, Thumbnails, WindowMemory, submit,
};
use crate::probe::{InputChoice, choose_input, on_scheduler, probe_frames};
use crate::roots::Location;
use crate::store::{IndexKey, IndexRow, Pass, Sample, Source, Store, StoredDetection, VideoRecord};

/// How videos are indexed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexerConfig {
    /// Longest time in seconds between neighbouring samples once the first two passes are done.
    pub interval: f64,
    /// Frames inferred per step (one scheduler batch).
    pub batch: usize,
    /// Refinement stops when neighbouring samples are at most this many frames apart.
    pub refine_gap_frames: u64,
    /// Decoded frames, in MB, that a step keeps to bisect on (at least one frame), as the
    /// decoder gives them (I420: 1.5 bytes a pixel). The regular pass decodes a GOP whose
    /// keyframes disagree whole and bisects it at once only where it fits. Where the frames
    /// between two disagreeing samples need more, refinement keeps every k-th and bisects on
    /// the rest in a later step. In the server, each step reserves them from the
    /// memory budget for as long as it runs, as far as that leaves room for one more video
    /// source of the largest size; else it keeps one frame at a time.
    pub refine_window_mb: u64,
    /// Regular frames a second source of the video decodes and infers ahead of the job, on a
    /// thread of its own, while the job decodes and bisects the GOPs whose keyframes disagree
    /// (0: none). Answers held ahead are small (boxes and a thumbnail each); the second
    /// source's memory comes out of the budget as any source's, and where there is no room
    /// for it the job reads alone.
    pub read_ahead: usize,
    /// Thumbnail height in pixels (the width follows the aspect ratio).
    pub thumbnail_height: u32,
    /// JPEG quality of thumbnails.
    pub thumbnail_quality: u8,
    /// Videos indexed at once, a batch each in turn (each holds an open decoder); more wait.
    pub active_videos: usize,
    /// Seconds a worker holds a job without renewing it (it renews every third of that while
    /// it works); a worker that dies loses its jobs to the others this long after.
    pub lease_s: f64,
    /// Largest size of the index database in MB (none: as large as the disk allows). Past it,
    /// indexing stops as on a full disk.
    pub max_database_mb: Option<u64>,
}

impl Default for IndexerConfig {
    fn default() -> Self {
        Self {
            interval: 1.0,
            batch: 8,
            refine_gap_frames: 1,
            refine_window_mb: 96,
            read_ahead: 256,
            thumbnail_height: 160,
            thumbnail_quality: 70,
            active_videos: 2,
            lease_s: 30.0,
            max_database_mb: None,
        }
    }
}

impl IndexerConfig {
    pub(crate) fn thumbnails(&self) -> Thumbnails {
        Thumbnails {
            height: self.thumbnail_height,
            quality: self.thumbnail_quality,
        }
    }
}

impl IndexKey {
    /// The key of an index made with `model` (under the thresholds in effect) at `interval`.
    pub fn new(model: &ModelInfo, interval: f64) -> Self {
        let mut params = model.result_params();
        params.insert("interval".into(), interval.into());
        Self {
            model_hash: model.hash.clone(),
            params: serde_json::Value::Object(params).to_string(),
            interval,
        }
    }
}

/// Whether `seconds` can be an index's interval: a finite time above 0.
pub fn is_interval(seconds: f64) -> bool {
    seconds.is_finite() && seconds > 0.0
}

/// Files up to this size are fingerprinted whole; larger ones by [`SAMPLED_CHUNKS`] chunks.
const WHOLE_UP_TO: u64 = 1 << 30;
/// Chunks of [`CHUNK`] bytes, evenly spread from the start to the end, that fingerprint a file
/// over [`WHOLE_UP_TO`].
const SAMPLED_CHUNKS: u64 = 64;
const CHUNK: usize = 1 << 20;

/// BLAKE3, hex: the identity of a video's content. Of the file's bytes up to 1 GiB; beyond, of
/// its length and 64 chunks of 1 MiB spread over it, from its start to its end (a day-long
/// recording is tens of GB: reading it all would keep its index waiting for minutes, and two
/// recordings that agree on their length and on all 64 chunks are the same recording).
pub fn fingerprint(path: &Path) -> Result<String, IndexError> {
    let io = |source| IndexError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    if len <= WHOLE_UP_TO {
        loop {
            let n = file.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
    } else {
        use std::io::{Seek as _, SeekFrom};
        hasher.update(b"sampled");
        hasher.update(&len.to_le_bytes());
        let last = len - CHUNK as u64;
        for i in 0..SAMPLED_CHUNKS {
            file.seek(SeekFrom::Start(last * i / (SAMPLED_CHUNKS - 1)))
                .map_err(io)?;
            file.read_exact(&mut buf).map_err(io)?;
            hasher.update(&buf);
        }
    }
    Ok(hasher.finalize().to_hex().to_string())
}

impl VideoRecord {
    /// The record of the file at `path` (named `location` in the database), open as
    /// `source`: its fingerprint and what the source knows of it. The file is fingerprinted
    /// only when `store` has not seen this location with this size and modification time, so
    /// restarts do not re-read every video.
    pub fn of(
        path: &Path,
        location: &Location,
        source: &dyn FrameSource,
        store: &mut Store,
    ) -> Result<Self, IndexError> {
        let version = FileVersion::read(path)?;
        let (size, mtime_ns) = (version.len, version.modified_ns as i64);
        let tl = source.timeline();
        let fingerprint = match store.known_fingerprint(location, size, mtime_ns)? {
            Some(known) => known,
            None => fingerprint(path)?,
        };
        Ok(Self {
            fingerprint,
            location: location.clone(),
            size,
            mtime_ns,
            frame_count: tl.len(),
            duration: tl.duration().as_secs_f64(),
        })
    }
}

/// Where a job stands after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub index_id: i64,
    pub pass: Pass,
    /// Samples of the current pass done and planned (refinement plans as it goes).
    pub done: u64,
    pub total: u64,
    /// Samples in the index.
    pub samples: u64,
}

/// The frames the keyframes and regular passes infer. Together they leave no two neighbouring
/// samples more than `interval` seconds apart (plus at most one frame: a sample is the frame on
/// screen at its time), with as few decoded pictures as that allows: a keyframe costs one
/// picture, any other frame the pictures it depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamplePlan {
    /// The first keyframe, then from each chosen keyframe the furthest one within `interval`
    /// (or, when there is none, the next one).
    pub keyframes: Vec<u64>,
    /// In each gap between chosen keyframes, and from the last to the end, that is longer than
    /// `interval`: the fewest frames, evenly spaced in time, that close it; and the last frame.
    pub regular: Vec<u64>,
    /// `keyframes` in the order they are inferred: coarse to fine (see [`coarse_first`]).
    pub keyframe_order: Vec<u64>,
}

/// `frames` in the order that halves the longest gap first: the first, then every 2^k-th
/// (the largest power of two under their number), then those halfway between, and so on; each
/// level in frame order.
pub(crate) fn coarse_first(frames: &[u64]) -> Vec<u64> {
    let mut order: Vec<(u32, usize)> = (0..frames.len())
        .map(|i| {
            (
                if i == 0 {
                    0
                } else {
                    u64::BITS - (i as u64).trailing_zeros()
                },
                i,
            )
        })
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, i)| frames[i]).collect()
}

impl SamplePlan {
    pub fn new(tl: &Timeline, interval: f64) -> Self {
        /// Slack for float times that are equal in principle.
        const EPSILON: f64 = 1e-9;
        let time = |frame: u64| tl.time(frame).unwrap_or(0.0);
        let all = tl.keyframes();
        let mut keyframes: Vec<u64> = all.first().copied().into_iter().collect();
        for (i, &k) in all.iter().enumerate().skip(1) {
            // Skip k while the keyframe after it is still within reach of the last one kept.
            let reach = keyframes.last().map_or(0.0, |&kept| time(kept)) + interval;
            if all.get(i + 1).is_none_or(|&after| time(after) > reach + EPSILON) {
                keyframes.push(k);
            }
        }
        let last = tl.len().saturating_sub(1);
        let mut regular = Vec::new();
        let ends = keyframes.iter().copied().chain(std::iter::once(last));
        for (a, b) in keyframes.iter().copied().zip(ends.skip(1)) {
            let (ta, tb) = (time(a), time(b));
            // The fewest equal parts no longer than `interval`; never more than the gap has
            // frames (a tiny interval must not mean billions of parts).
            let parts = ((tb - ta) / interval - EPSILON)
                .ceil()
                .clamp(1.0, (b - a).max(1) as f64) as u64;
            regular.extend((1..parts).filter_map(|k| {
                let frame = tl.index_at(ta + (tb - ta) * k as f64 / parts as f64).ok()?;
                (frame > a && frame < b).then_some(frame)
            }));
        }
        if keyframes.last() != Some(&last) {
            regular.push(last);
        }
        regular.dedup();
        let keyframe_order = coarse_first(&keyframes);
        Self {
            keyframes,
            regular,
            keyframe_order,
        }
    }
}

/// The indexing of one video for one model: call [`Job::step`] until it reports `Done`.
pub struct Job {
    source: Box<dyn FrameSource>,
    index: IndexRow,
    config: IndexerConfig,
    /// Everything the index holds, by frame.
    samples: BTreeMap<u64, Sample>,
    /// The frames of the first two passes, computed once from the timeline.
    plan: SamplePlan,
    /// The memory budget refinement windows are reserved from, and the bytes they leave free.
    memory: Option<(Arc<MemoryBudget>, u64)>,
    /// The regular frames read ahead ([`IndexerConfig::read_ahead`]).
    ahead: Reading,
    /// Keyframes at the model, stored by the next step (which decodes its own meanwhile).
    in_flight: Option<Inferred>,
}

/// Reading ahead: a second source waiting for the regular pass, then its thread.
enum Reading {
    None,
    Ready(Box<dyn FrameSource>, Option<Reservation>),
    Running(ReadAhead),
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("index", &self.index)
            .field("samples", &self.samples.len())
            .finish_non_exhaustive()
    }
}

impl Job {
    /// Opens the index of `video` (made if new) and loads what it already holds.
    pub fn open(
        store: &mut Store,
        video: &VideoRecord,
        source: Box<dyn FrameSource>,
        key: &IndexKey,
        config: IndexerConfig,
    ) -> Result<Self, IndexError> {
        let video_id = store.video(video)?;
        let index = store.index(video_id, key)?;
        let samples = store
            .samples(index.id)?
            .into_iter()
            .map(|s| (s.frame, s))
            .collect();
        let interval = if is_interval(config.interval) {
            config.interval
        } else {
            1.0
        };
        let plan = SamplePlan::new(source.timeline(), interval);
        Ok(Self {
            source,
            index,
            config,
            samples,
            plan,
            memory: None,
            ahead: Reading::None,
            in_flight: None,
        })
    }

    /// Reserves refinement windows from `budget`, each only as far as it leaves `keep_free`
    /// bytes free (room for a video source of the largest size).
    pub fn with_memory(mut self, budget: Arc<MemoryBudget>, keep_free: u64) -> Self {
        self.memory = Some((budget, keep_free));
        self
    }

    /// Gives the job a second source of the video, to read the regular frames ahead with
    /// ([`IndexerConfig::read_ahead`]), and the memory reserved for it; both go back when the
    /// regular pass ends (at once where it has ended, or where reading ahead is off).
    pub fn read_ahead(&mut self, source: Box<dyn FrameSource>, memory: Option<Reservation>) {
        if self.config.read_ahead > 0 && matches!(self.index.pass, Pass::Keyframes | Pass::Regular) {
            self.ahead = Reading::Ready(source, memory);
        }
    }

    pub fn index(&self) -> &IndexRow {
        &self.index
    }

    /// The input size the video's frames go in at (`None`: the model's own), once chosen
    /// ([`choose_input`], on the first step; kept with the index).
    pub fn input(&self) -> Option<u32> {
        self.index.input.flatten()
    }

    /// Reads the index's pass and samples again from the database: after an error that may
    /// have left a step half known (the connection broke at its commit), or another worker's.
    pub fn reload(&mut self, store: &mut Store, key: &IndexKey) -> Result<(), IndexError> {
        self.in_flight = None;
        self.index = store.index(self.index.video_id, key)?;
        self.samples = store
            .samples(self.index.id)?
            .into_iter()
            .map(|s| (s.frame, s))
            .collect();
        Ok(())
    }

    /// The samples so far, in frame order.
    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.samples.values()
    }

    /// Does one batch of work and says where the job stands. A job at `Done` or `Failed` does
    /// nothing more.
    pub fn step(&mut self, store: &mut Store, scheduler: &Scheduler) -> Result<Progress, IndexError> {
        if self.index.input.is_none() && !matches!(self.index.pass, Pass::Done | Pass::Failed) {
            self.choose_and_keep_input(store, scheduler)?;
        }
        loop {
            if self.index.pass == Pass::Regular {
                self.start_reading_ahead(scheduler);
            } else if self.index.pass != Pass::Keyframes {
                // The regular frames are all in: the second source and its memory go back.
                self.ahead = Reading::None;
            }
            let worked = match self.index.pass {
                Pass::Done | Pass::Failed => return Ok(self.progress(0, 0)),
                Pass::Keyframes => self.sample(store, scheduler, Source::Keyframe)?,
                Pass::Regular => self.sample(store, scheduler, Source::Regular)?,
                Pass::Refine => self.refine(store, scheduler)?,
            };
            if let Some(progress) = worked {
                return Ok(progress);
            }
            let next = match self.index.pass {
                Pass::Keyframes => Pass::Regular,
                Pass::Regular => Pass::Refine,
                _ => Pass::Done,
            };
            if next == Pass::Done {
                assign_tracks(self.samples.values_mut());
                let samples: Vec<&Sample> = self.samples.values().collect();
                store.finish_with_tracks(self.index.id, &samples)?;
            } else {
                store.set_pass(self.index.id, next, None)?;
            }
            tracing::info!(index = self.index.id, pass = ?next, samples = self.samples.len(), "indexing pass");
            self.index.pass = next;
        }
    }

    /// Starts reading ahead, where the job has a second source, in the regular pass: the
    /// regular frames left, those whose samples around agree alone, and those alone between
    /// samples that disagree with the GOP around them (decoded whole, to bisect on), where
    /// memory allows when the thread gets there; the job reads the rest. Not during the
    /// keyframes pass, whose model runs would wait behind the second source's (the rough
    /// timeline comes first).
    fn start_reading_ahead(&mut self, scheduler: &Scheduler) {
        // Only a source waiting: a running thread is left as it is.
        if !matches!(self.ahead, Reading::Ready(..)) {
            return;
        }
        let Reading::Ready(source, memory) = std::mem::replace(&mut self.ahead, Reading::None) else {
            return;
        };
        // GOPs to decode whole go to the thread and the job in turn: the job bisects them all,
        // so the thread, with every lone frame, would otherwise have the more to do.
        let mut turn = false;
        let tasks: Vec<AheadTask> = self
            .missing(&self.plan.regular)
            .into_iter()
            .filter_map(|frame| match self.disagreeing_around(frame) {
                None => Some(AheadTask::Frame(frame)),
                Some(gap) => {
                    let planned = self.plan.regular.partition_point(|&f| f < gap.1)
                        - self.plan.regular.partition_point(|&f| f <= gap.0);
                    let after = self.samples.get(&gap.1)?.count;
                    turn = !turn;
                    (planned == 1 && !turn).then_some(AheadTask::Window { frame, gap, after })
                }
            })
            .collect();
        if tasks.is_empty() {
            return;
        }
        let plan = AheadPlan {
            source,
            memory,
            tasks,
            input: self.input(),
            thumbnails: self.config.thumbnails(),
            ahead: self.config.read_ahead,
            in_flight: self.config.batch.max(1),
            windows: WindowMemory::new(self.config.refine_window_mb << 20, self.memory.clone()),
        };
        if let Some(running) = ReadAhead::start(plan, scheduler.clone()) {
            self.ahead = Reading::Running(running);
        }
    }

    /// What was read ahead for regular frame `frame` (waiting for it while the second source
    /// has yet to reach it).
    fn read_ahead_of(&mut self, frame: u64) -> Option<Ahead> {
        match &mut self.ahead {
            Reading::Running(ahead) => ahead.take(frame),
            _ => None,
        }
    }

    /// Chooses the input the video's frames go in at ([`choose_input`]) and keeps it with the
    /// index. Where it is the model's own, the model's answers on the probed keyframes are the
    /// keyframes pass's: those the pass plans are stored as its samples, not inferred again.
    fn choose_and_keep_input(&mut self, store: &mut Store, scheduler: &Scheduler) -> Result<(), IndexError> {
        let source = &mut self.source;
        let InputChoice { input, probed } = choose_input(
            scheduler.info(),
            probe_frames(source.timeline()),
            |i| {
                Ok::<_, IndexError>(Arc::new(source.frame(
                    Target::Index(i),
                    Mode::Fast,
                    Size::Native,
                )?))
            },
            |frames| Ok(on_scheduler(scheduler, Priority::Background)(frames)?),
        )?;
        store.set_input(self.index.id, input)?;
        tracing::info!(index = self.index.id, input = ?input, "indexing at input size");
        self.index.input = Some(input);
        if input.is_some() || self.index.pass != Pass::Keyframes {
            return Ok(());
        }
        let planned: Vec<(Arc<Frame>, Detections)> = probed
            .into_iter()
            .filter(|(f, _)| {
                self.plan.keyframes.binary_search(&f.index).is_ok() && !self.samples.contains_key(&f.index)
            })
            .collect();
        let thumbs = planned
            .iter()
            .map(|(f, _)| Ok((f.index, self.config.thumbnails().of(f)?)))
            .collect::<Result<Vec<_>, IndexError>>()?;
        store.put_thumbnails(self.index.video_id, &thumbs)?;
        let samples = planned
            .iter()
            .map(|(f, found)| self.sample_of(f.index, found, Source::Keyframe))
            .collect();
        self.store_samples(store, samples)
    }

    /// One batch of the keyframes or the regular pass; `None` when the pass has nothing left.
    fn sample(
        &mut self,
        store: &mut Store,
        scheduler: &Scheduler,
        source: Source,
    ) -> Result<Option<Progress>, IndexError> {
        let order = match source {
            Source::Keyframe => &self.plan.keyframe_order,
            _ => &self.plan.regular,
        };
        let in_flight = |f: &u64| {
            self.in_flight
                .as_ref()
                .is_some_and(|i| i.submitted.iter().any(|(g, _)| g == f))
        };
        let mut chunk: Vec<u64> = self
            .missing(order)
            .into_iter()
            .filter(|f| !in_flight(f))
            .take(self.config.batch.max(1))
            .collect();
        if chunk.is_empty() {
            let Some(last) = self.in_flight.take() else {
                return Ok(None);
            };
            self.store_inferred(store, last, source)?;
            let (done, total) = self.counted(&self.plan.keyframes);
            return Ok(Some(self.progress(done, total)));
        }
        if source == Source::Regular {
            // Between samples that disagree, refinement will decode every frame anyway: decode
            // them now, once, and bisect on them while they are here.
            let (most, reserved) = self.window();
            let gaps = self.windowed_gaps(&chunk, most);
            if let Some(&(_, last)) = gaps.last() {
                chunk.retain(|&f| f < last);
                self.infer_in_window(store, scheduler, &chunk, &gaps)?;
            } else {
                // No window this step: its memory goes back before the frames are decoded.
                drop(reserved);
                // Up to the first frame that a window would take, in a step of its own.
                let windowed = |f: &u64| !self.windowed_gaps(std::slice::from_ref(f), most).is_empty();
                if let Some(at) = chunk.iter().skip(1).position(windowed) {
                    chunk.truncate(at + 1);
                }
                self.infer(store, scheduler, &chunk, source)?;
            }
        } else {
            // Keyframes: this step's go to the model while the last step's are stored, so the
            // model works on one batch while the next is decoded.
            let inferred = self.submit_frames(scheduler, &chunk, source)?;
            if let Some(before) = self.in_flight.replace(inferred) {
                self.store_inferred(store, before, source)?;
            }
        }
        let planned = match source {
            Source::Keyframe => &self.plan.keyframes,
            _ => &self.plan.regular,
        };
        let (done, total) = self.counted(planned);
        Ok(Some(self.progress(done, total)))
    }

    /// The samples around `frame` (the last before it and the first after it) when they
    /// disagree on the count.
    fn disagreeing_around(&self, frame: u64) -> Option<(u64, u64)> {
        let (&a, before) = self.samples.range(..frame).next_back()?;
        let (&b, after) = self.samples.range(frame + 1..).next()?;
        (before.count != after.count).then_some((a, b))
    }

    /// The gaps between disagreeing samples around the first frames of `chunk`, in order, as
    /// long as every frame inside them fits in a window of `most` frames; none when the first
    /// frame's gap does not disagree or does not fit.
    fn windowed_gaps(&self, chunk: &[u64], most: u64) -> Vec<(u64, u64)> {
        let mut gaps: Vec<(u64, u64)> = Vec::new();
        let mut inside = 0;
        for &frame in chunk {
            let Some((a, b)) = self.disagreeing_around(frame) else {
                break;
            };
            if gaps.last() == Some(&(a, b)) {
                continue;
            }
            if inside + (b - a - 1) > most {
                break;
            }
            inside += b - a - 1;
            gaps.push((a, b));
        }
        gaps
    }

    /// Decodes the frames inside `gaps` once, in order: the planned frames of `chunk` among
    /// them go to the model as they come (regular samples, with thumbnails) and the rest are
    /// kept and bisected on (see [`Self::bisect`]). The frames after a gap's last planned frame
    /// are decoded only where its count disagrees with the sample that ends the gap (they are
    /// not needed to reach anything).
    fn infer_in_window(
        &mut self,
        store: &mut Store,
        scheduler: &Scheduler,
        chunk: &[u64],
        gaps: &[(u64, u64)],
    ) -> Result<(), IndexError> {
        let started = Instant::now();
        let mut kept = BTreeMap::new();
        // The memory of the GOPs read ahead, given back after the bisection.
        let mut held = Vec::new();
        for &(a, b) in gaps {
            let planned: Vec<u64> = chunk.iter().copied().filter(|f| (a + 1..b).contains(f)).collect();
            let Some(&last) = planned.last() else {
                continue;
            };
            let mut inferred = Inferred::with_capacity(planned.len());
            let mut ahead: BTreeMap<u64, AheadFrame> = BTreeMap::new();
            let mut whole_read = false;
            for &r in &planned {
                match self.read_ahead_of(r) {
                    Some(Ahead::Window(whole)) if whole.gap == (a, b) => {
                        // The second source decoded this GOP (it does only those with a
                        // single regular frame): nothing is left to decode here.
                        inferred.add_ready(whole.regular);
                        kept.extend(whole.pictures);
                        held.push(whole.memory);
                        whole_read = true;
                    }
                    Some(other) => {
                        ahead.insert(r, other.into_frame());
                    }
                    None => {}
                }
            }
            if whole_read {
                self.store_inferred(store, inferred, Source::Regular)?;
                continue;
            }
            for i in a + 1..=last {
                let picture = self.source.picture(i)?;
                if planned.contains(&i) {
                    // Decoded all the same: the frames after it depend on it.
                    match ahead.remove(&i) {
                        Some(ahead) => inferred.add_ready(ahead),
                        None => inferred.add(
                            scheduler,
                            self.config.thumbnails(),
                            self.input(),
                            &picture.into_frame()?,
                        )?,
                    }
                } else {
                    kept.insert(i, picture);
                }
            }
            self.store_inferred(store, inferred, Source::Regular)?;
            if self
                .disagreeing_around(last + 1)
                .is_some_and(|(from, _)| from == last)
            {
                for i in last + 1..b {
                    kept.insert(i, self.source.picture(i)?);
                }
            }
        }
        let decoded = kept.len();
        let decode_ms = started.elapsed().as_millis() as u64;
        let rounds = self.bisect(store, scheduler, &mut kept)?;
        drop(held);
        tracing::debug!(
            index = self.index.id,
            gaps = gaps.len(),
            decoded,
            decode_ms,
            rounds,
            ms = started.elapsed().as_millis() as u64,
            "bisected a window of the regular pass"
        );
        Ok(())
    }

    /// One refinement step: the frames between the first disagreeing samples (as many as
    /// `refine_window_mb` keeps) are decoded once, then bisected on, every disagreement at once
    /// in each round, until none of them has a kept frame left inside. `None` when no
    /// neighbouring samples disagree more than `refine_gap_frames` apart.
    fn refine(&mut self, store: &mut Store, scheduler: &Scheduler) -> Result<Option<Progress>, IndexError> {
        let gaps = self.disagreements(..);
        if gaps.is_empty() {
            return Ok(None);
        }
        let started = Instant::now();
        let (most, _reserved) = self.window();
        let mut kept = self.decode(&refine_window(&gaps, most, self.config.batch.max(1)))?;
        // Never empty: every gap has a frame inside (its samples are more than a frame apart)
        // and the window keeps at least one.
        if kept.is_empty() {
            return Ok(None);
        }
        let decoded = kept.len();
        let decode_ms = started.elapsed().as_millis() as u64;
        let rounds = self.bisect(store, scheduler, &mut kept)?;
        tracing::debug!(
            index = self.index.id,
            decoded,
            decode_ms,
            rounds,
            ms = started.elapsed().as_millis() as u64,
            "refined a window"
        );
        let refined = self
            .samples
            .values()
            .filter(|s| s.source == Source::Refine)
            .count() as u64;
        let left = self.disagreements(..).len() as u64;
        Ok(Some(self.progress(refined, refined + left)))
    }

    /// How many pictures a window may keep ([`IndexerConfig::refine_window_mb`], at least one),
    /// and the memory reserved for them, given back when dropped. One picture is what decoding
    /// a frame holds anyway (a source's share of the budget counts it); the rest is reserved
    /// while the step runs, or not kept.
    fn window(&self) -> (u64, Option<Reservation>) {
        let wanted = self.config.refine_window_mb << 20;
        let (bytes, reserved) = match &self.memory {
            None => (wanted, None),
            Some((budget, keep_free)) => {
                let spare = budget
                    .limit()
                    .saturating_sub(budget.used())
                    .saturating_sub(*keep_free);
                match budget.reserve(wanted.min(spare), Duration::ZERO) {
                    Ok(reserved) => (reserved.bytes(), Some(reserved)),
                    Err(_) => (0, None),
                }
            }
        };
        ((bytes / self.source.picture_bytes().max(1)).max(1), reserved)
    }

    /// Decodes `frames` (ascending) and keeps them as pictures.
    fn decode(&mut self, frames: &[u64]) -> Result<BTreeMap<u64, Picture>, IndexError> {
        let mut kept = BTreeMap::new();
        for &i in frames {
            kept.insert(i, self.source.picture(i)?);
        }
        Ok(kept)
    }

    /// Bisects every disagreement between the samples around the `kept` pictures on them, all
    /// disagreements at once in each round (the kept frame nearest the middle of each), until
    /// none has a kept frame left inside; returns the rounds. Bisection stays between the
    /// samples around the kept frames.
    fn bisect(
        &mut self,
        store: &mut Store,
        scheduler: &Scheduler,
        kept: &mut BTreeMap<u64, Picture>,
    ) -> Result<u32, IndexError> {
        let (Some(&first), Some(&last)) = (kept.keys().next(), kept.keys().next_back()) else {
            return Ok(0);
        };
        let from = self.samples.range(..first).next_back().map_or(0, |(&i, _)| i);
        let to = self.samples.range(last..).next().map_or(u64::MAX, |(&i, _)| i);
        let mut rounds = 0;
        loop {
            let round: Vec<Picture> = self
                .disagreements(from..=to)
                .into_iter()
                .filter_map(|(a, b)| {
                    let middle = a + (b - a) / 2;
                    let after = kept.range(middle..b).next().map(|(&i, _)| i);
                    let before = kept.range(a + 1..middle).next_back().map(|(&i, _)| i);
                    let nearest = match (before, after) {
                        (Some(x), Some(y)) => Some(if middle - x < y - middle { x } else { y }),
                        (x, y) => x.or(y),
                    }?;
                    kept.remove(&nearest)
                })
                .collect();
            if round.is_empty() {
                return Ok(rounds);
            }
            rounds += 1;
            let submitted = round
                .into_iter()
                .map(|picture| {
                    let frame = picture.into_frame()?;
                    let ticket = submit(scheduler, frame.data, frame.width, frame.height, self.input())?;
                    Ok((frame.index, Answer::Waiting(ticket)))
                })
                .collect::<Result<Vec<_>, IndexError>>()?;
            self.collect(store, submitted, Source::Refine)?;
        }
    }

    /// Marks the index failed (the video cannot be decoded); it is tried again only when the
    /// file changes, which makes a new index.
    pub fn fail(&mut self, store: &mut Store, reason: &str) -> Result<(), IndexError> {
        store.set_pass(self.index.id, Pass::Failed, Some(reason))?;
        self.index.pass = Pass::Failed;
        self.index.error = Some(reason.to_owned());
        Ok(())
    }

    fn progress(&self, done: u64, total: u64) -> Progress {
        Progress {
            index_id: self.index.id,
            pass: self.index.pass,
            done,
            total,
            samples: self.samples.len() as u64,
        }
    }

    fn missing(&self, frames: &[u64]) -> Vec<u64> {
        frames
            .iter()
            .copied()
            .filter(|f| !self.samples.contains_key(f))
            .collect()
    }

    fn counted(&self, frames: &[u64]) -> (u64, u64) {
        let done = frames.iter().filter(|f| self.samples.contains_key(f)).count();
        (done as u64, frames.len() as u64)
    }

    /// Neighbouring samples among those at `frames` whose counts differ and that are more than
    /// `refine_gap_frames` apart, as (earlier frame, later frame).
    fn disagreements(&self, frames: impl RangeBounds<u64> + Clone) -> Vec<(u64, u64)> {
        let gap = self.config.refine_gap_frames.max(1);
        self.samples
            .range(frames.clone())
            .map(|(_, s)| s)
            .zip(self.samples.range(frames).map(|(_, s)| s).skip(1))
            .filter(|(a, b)| a.count != b.count && b.frame - a.frame > gap)
            .map(|(a, b)| (a.frame, b.frame))
            .collect()
    }

    /// Decodes `frames` (in ascending order), infers them and stores them as one step, with
    /// their thumbnails. Each frame goes to the scheduler as soon as it is decoded and its
    /// thumbnail is made while the model works on it.
    fn infer(
        &mut self,
        store: &mut Store,
        scheduler: &Scheduler,
        frames: &[u64],
        source: Source,
    ) -> Result<(), IndexError> {
        let inferred = self.submit_frames(scheduler, frames, source)?;
        self.store_inferred(store, inferred, source)
    }

    /// Decodes `frames` in their order and sends each to the model as soon as it is
    /// decoded, making its thumbnail while the model works on it (or takes what was read
    /// ahead).
    fn submit_frames(
        &mut self,
        scheduler: &Scheduler,
        frames: &[u64],
        source: Source,
    ) -> Result<Inferred, IndexError> {
        let mode = if source == Source::Keyframe {
            Mode::Fast
        } else {
            Mode::Exact
        };
        let mut inferred = Inferred::with_capacity(frames.len());
        for &i in frames {
            if source == Source::Regular
                && let Some(ahead) = self.read_ahead_of(i)
            {
                // A GOP read ahead whole, where the job reads it alone after all (its samples
                // changed, or no window fits now): its regular frame's answer is what counts.
                inferred.add_ready(ahead.into_frame());
                continue;
            }
            let frame = self.source.frame(Target::Index(i), mode, Size::Native)?;
            inferred.add(scheduler, self.config.thumbnails(), self.input(), &frame)?;
        }
        Ok(inferred)
    }

    /// Stores frames inferred with their thumbnails: the thumbnails first, so a sample never
    /// exists without its thumbnail.
    fn store_inferred(
        &mut self,
        store: &mut Store,
        inferred: Inferred,
        source: Source,
    ) -> Result<(), IndexError> {
        store.put_thumbnails(self.index.video_id, &inferred.thumbs)?;
        self.collect(store, inferred.submitted, source)
    }

    /// Waits for the model's answers on frames already submitted and stores them as samples,
    /// in one transaction.
    fn collect(
        &mut self,
        store: &mut Store,
        submitted: Vec<(u64, Answer)>,
        source: Source,
    ) -> Result<(), IndexError> {
        let mut samples = Vec::with_capacity(submitted.len());
        for (frame, answer) in submitted {
            samples.push(self.sample_of(frame, &answer.wait()?, source));
        }
        self.store_samples(store, samples)
    }

    /// The sample of what the model found on `frame`.
    fn sample_of(&self, frame: u64, found: &Detections, source: Source) -> Sample {
        Sample {
            frame,
            time: self.source.timeline().time(frame).unwrap_or(0.0),
            count: found.count(),
            band: found.band,
            source,
            detections: found
                .boxes
                .iter()
                .map(|d| StoredDetection {
                    bbox: d.bbox,
                    score: d.score,
                    class: d.class,
                    track: None,
                })
                .collect(),
        }
    }

    /// Stores new samples in one transaction.
    fn store_samples(&mut self, store: &mut Store, samples: Vec<Sample>) -> Result<(), IndexError> {
        store.insert_samples(self.index.id, &samples)?;
        self.samples.extend(samples.into_iter().map(|s| (s.frame, s)));
        Ok(())
    }
}

/// The frames a refinement step decodes for the disagreements `gaps` (neighbouring samples,
/// in frame order): every frame between the first ones, up to `pairs` of them and `most`
/// frames in all. When even the first has more frames between its samples than `most`, frames
/// evenly spaced between them (every k-th, at most `most`, the middle one first to go): bisecting
/// on those narrows the change to k frames, and a later step finishes it.
fn refine_window(gaps: &[(u64, u64)], most: u64, pairs: usize) -> Vec<u64> {
    let mut frames = Vec::new();
    for &(a, b) in gaps.iter().take(pairs) {
        let inside = b - a - 1;
        if inside <= most - frames.len() as u64 {
            frames.extend(a + 1..b);
        } else {
            if frames.is_empty() {
                let stride = (b - a).div_ceil(most + 1);
                frames.extend((1..=most).map(|k| a + k * stride).take_while(|&f| f < b));
            }
            break;
        }
    }
    frames
}

/// Gives every detection of `samples` (in frame order) the id of the animal it belongs to,
/// following them with the inference crate's tracker. Samples are at most an interval apart
/// (denser where the count changes), close enough for the tracker's overlap matching; every
/// stored detection passed the counting threshold, so each may start a track.
pub(crate) fn assign_tracks<'a>(samples: impl Iterator<Item = &'a mut Sample>) {
    let mut tracker = Tracker::new(TrackerConfig {
        high_score: 0.0,
        low_score: 0.0,
        ..TrackerConfig::default()
    });
    for sample in samples {
        let found: Vec<Detection> = sample
            .detections
            .iter()
            .map(|d| Detection {
                bbox: d.bbox,
                score: d.score,
                class: d.class,
            })
            .collect();
        let tracks = tracker.update(sample.frame, &found);
        for d in &mut sample.detections {
            d.track = tracks
                .iter()
                .find(|t| {
                    t.last_seen == sample.frame && t.missed == 0 && t.bbox == d.bbox && t.class == d.class
                })
                .map(|t| t.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timelines::timeline;

    #[test]
    fn an_index_key_keeps_the_text_databases_already_hold() {
        use pigweight_inference::Detector as _;
        let detector = pigweight_inference::fake::FakeDetector::new("model", 8);
        let model = detector.info();
        let t = &model.thresholds;
        // The text before the model's parameters were computed in one place (the inference
        // crate): an existing index must keep matching.
        let before = serde_json::json!({
            "confidence": t.confidence,
            "iou": t.iou,
            "max_detections": t.max_detections,
            "classes": model.counted_classes,
            "interval": 2.5,
        });
        assert_eq!(IndexKey::new(model, 2.5).params, before.to_string());
    }

    #[test]
    fn keyframes_two_seconds_apart_get_one_frame_between_them() {
        let plan = SamplePlan::new(&timeline(250, 50), 1.0);
        assert_eq!(plan.keyframes, [0, 50, 100, 150, 200]);
        // 200 -> 249 is 1.96 s: one frame halfway (8.98 s shows frame 224), then the last.
        assert_eq!(plan.regular, [25, 75, 125, 175, 224, 249]);
    }

    #[test]
    fn large_files_are_fingerprinted_by_chunks_spread_over_them() {
        use std::io::{Seek as _, SeekFrom, Write as _};
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small.mp4");
        std::fs::write(&small, b"a small video").unwrap();
        assert_eq!(
            fingerprint(&small).unwrap(),
            blake3::hash(b"a small video").to_hex().to_string()
        );
        // Sparse files of 1.5 GiB: nothing is written but the bytes changed below.
        let big = |name: &str, at: u64| {
            let path = dir.path().join(name);
            let mut file = std::fs::File::create(&path).unwrap();
            file.set_len(3 << 29).unwrap();
            file.seek(SeekFrom::Start(at)).unwrap();
            file.write_all(b"x").unwrap();
            fingerprint(&path).unwrap()
        };
        let last = (3u64 << 29) - CHUNK as u64;
        // A byte in the first, a middle and the last chunk each makes another fingerprint.
        let first = big("a.mp4", 10);
        let middle = big("b.mp4", last * 31 / 63 + 5);
        let end = big("c.mp4", (3 << 29) - 1);
        assert!(first != middle && middle != end && first != end);
        assert_eq!(big("d.mp4", 10), first);
    }

    #[test]
    fn a_refinement_window_holds_whole_gaps_or_every_kth_frame_of_the_first() {
        let gaps = [(10, 20), (30, 35), (50, 60)];
        // Room for all: every frame strictly between each pair's samples.
        let all: Vec<u64> = (11..20).chain(31..35).chain(51..60).collect();
        assert_eq!(refine_window(&gaps, 100, 8), all);
        // The pairs a step may take.
        assert_eq!(
            refine_window(&gaps, 100, 2),
            (11..20).chain(31..35).collect::<Vec<_>>()
        );
        // A gap that does not fit whole stops the window before it.
        assert_eq!(refine_window(&gaps, 12, 8), (11..20).collect::<Vec<_>>());
        // The first gap does not fit: every k-th frame, evenly, never more than allowed; one
        // frame is the middle one (plain bisection).
        assert_eq!(refine_window(&gaps, 4, 8), vec![12, 14, 16, 18]);
        assert_eq!(refine_window(&gaps, 3, 8), vec![13, 16, 19]);
        assert_eq!(refine_window(&gaps, 1, 8), vec![15]);
        assert_eq!(refine_window(&[(0, 2)], 1, 8), vec![1]);
        assert_eq!(refine_window(&[(0, 25)], 1, 8), vec![13]);
    }

    #[test]
    fn keyframes_are_inferred_coarse_to_fine() {
        let plan = SamplePlan::new(&timeline(250, 50), 1.0);
        assert_eq!(plan.keyframe_order, [0, 200, 100, 50, 150]);
        // Each level halves the gaps of the one before; every frame once.
        let frames: Vec<u64> = (0..13).map(|i| i * 10).collect();
        assert_eq!(
            coarse_first(&frames),
            [0, 80, 40, 120, 20, 60, 100, 10, 30, 50, 70, 90, 110]
        );
        assert!(coarse_first(&[]).is_empty());
    }

    #[test]
    fn close_keyframes_are_thinned_to_the_interval() {
        // All-intra: every frame is a keyframe; one a second is enough, and the last.
        let plan = SamplePlan::new(&timeline(100, 1), 1.0);
        assert_eq!(plan.keyframes, [0, 25, 50, 75, 99]);
        assert!(plan.regular.is_empty());
        // Keyframes 0.48 s apart: every second one keeps the gaps under a second.
        let plan = SamplePlan::new(&timeline(100, 12), 1.0);
        assert_eq!(plan.keyframes, [0, 24, 48, 72, 96]);
        assert_eq!(plan.regular, [99]);
    }

    #[test]
    fn long_gops_are_split_evenly() {
        // 10 s between keyframes, 2.5 s interval: four parts.
        let plan = SamplePlan::new(&timeline(500, 250), 2.5);
        assert_eq!(plan.keyframes, [0, 250]);
        assert_eq!(plan.regular, [62, 125, 187, 312, 374, 436, 499]);
    }

    #[test]
    fn no_gap_exceeds_the_interval_by_more_than_a_frame() {
        for (frames, gop, interval) in [
            (1000, 50, 1.0),
            (1000, 7, 0.5),
            (733, 250, 1.0),
            (61, 13, 0.3),
            (1, 1, 1.0),
        ] {
            let tl = timeline(frames, gop);
            let plan = SamplePlan::new(&tl, interval);
            let mut all: Vec<u64> = plan.keyframes.iter().chain(&plan.regular).copied().collect();
            all.sort_unstable();
            let len = all.len();
            all.dedup();
            assert_eq!(all.len(), len, "a frame planned twice: {plan:?}");
            assert_eq!((all[0], all[len - 1]), (0, frames - 1));
            for pair in all.windows(2) {
                let gap = tl.time(pair[1]).unwrap() - tl.time(pair[0]).unwrap();
                assert!(
                    gap <= interval + 0.04 + 1e-9,
                    "{pair:?} is {gap} s apart ({frames}, {gop}, {interval})"
                );
            }
        }
    }
}
