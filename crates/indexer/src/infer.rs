//! Frames to the model at background priority, with their thumbnails made while it works, and
//! a video's regular frames decoded and inferred ahead of its job by a second source, on a
//! thread of its own ([`ReadAhead`]).
//!
//! Why ahead: decoding is most of indexing's work, and a job does it on one thread; while the
//! job decodes a GOP whose keyframes disagree and bisects on it (the model's latency, a frame a
//! round), the other core would sit idle. The regular frames are known from the timeline
//! before any is inferred, so a second decoder can take them in order and leave each one's
//! answer (its boxes and thumbnail: a few kB) for the job to pick up when it gets there.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use pigweight_decode::{Frame, FrameSource, MemoryBudget, Mode, Picture, Reservation, Size, Target};
use pigweight_inference::{Detections, Priority, Scheduler, SharedImage, Ticket};
use pigweight_render::Format;

use crate::error::IndexError;

/// The size and quality of the JPEG thumbnails kept with samples.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Thumbnails {
    /// Height in pixels (the width follows the aspect ratio).
    pub height: u32,
    /// JPEG quality, 1-100.
    pub quality: u8,
}

impl Thumbnails {
    /// A small JPEG of `frame`.
    pub(crate) fn of(self, frame: &Frame) -> Result<Vec<u8>, IndexError> {
        let h = self.height.clamp(8, frame.height.max(8));
        let w =
            ((f64::from(frame.width) * f64::from(h) / f64::from(frame.height.max(1))).round() as u32).max(1);
        let small = frame.resized(w, h)?;
        let jpeg = pigweight_render::encode(&small.data, w, h, Format::Jpeg, self.quality.clamp(1, 100))
            .map_err(|e| IndexError::Thumbnail(e.to_string()))?;
        Ok(jpeg.into())
    }
}

/// The model's answer on a frame: still to come, or already there (read ahead).
pub(crate) enum Answer {
    Waiting(Ticket),
    Ready(Detections),
}

impl Answer {
    pub(crate) fn wait(self) -> Result<Detections, IndexError> {
        match self {
            Self::Waiting(ticket) => Ok(ticket.wait()?),
            Self::Ready(found) => Ok(found),
        }
    }
}

/// Frames sent to the model, with their thumbnails, made while the model works.
pub(crate) struct Inferred {
    pub submitted: Vec<(u64, Answer)>,
    pub thumbs: Vec<(u64, Vec<u8>)>,
}

impl Inferred {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            submitted: Vec::with_capacity(n),
            thumbs: Vec::with_capacity(n),
        }
    }

    /// Submits `frame` and makes its thumbnail while the model works on it.
    pub(crate) fn add(
        &mut self,
        scheduler: &Scheduler,
        thumbnails: Thumbnails,
        input: Option<u32>,
        frame: &Frame,
    ) -> Result<(), IndexError> {
        let ticket = submit(scheduler, frame.data.clone(), frame.width, frame.height, input)?;
        self.submitted.push((frame.index, Answer::Waiting(ticket)));
        self.thumbs.push((frame.index, thumbnails.of(frame)?));
        Ok(())
    }

    /// A frame read ahead: its answer and thumbnail as they came.
    pub(crate) fn add_ready(&mut self, ahead: AheadFrame) {
        self.submitted.push((ahead.frame, Answer::Ready(ahead.found)));
        self.thumbs.push((ahead.frame, ahead.thumb));
    }
}

/// Sends one frame's pixels to the model at background priority, at input size `input`.
pub(crate) fn submit(
    scheduler: &Scheduler,
    pixels: Vec<u8>,
    width: u32,
    height: u32,
    input: Option<u32>,
) -> Result<Ticket, IndexError> {
    let image = SharedImage {
        pixels: Arc::new(pixels),
        width,
        height,
        input,
    };
    Ok(scheduler.submit(image, Priority::Background)?)
}

/// A frame read ahead: what the model found on it, and its thumbnail.
pub(crate) struct AheadFrame {
    pub frame: u64,
    pub found: Detections,
    pub thumb: Vec<u8>,
}

/// A GOP read ahead whole: the frames between two disagreeing samples, `gap`, decoded in
/// order, its regular frame inferred as it passed, and the others kept to bisect on, as
/// the job's regular pass would have (the frames after the regular frame only where it
/// disagrees with the sample that ends the gap).
pub(crate) struct AheadWindow {
    pub gap: (u64, u64),
    pub regular: AheadFrame,
    pub pictures: BTreeMap<u64, Picture>,
    /// The pictures' memory, given back when dropped.
    pub memory: Vec<Reservation>,
}

/// What the thread hands over, in frame order.
pub(crate) enum Ahead {
    Frame(AheadFrame),
    Window(AheadWindow),
}

impl Ahead {
    /// The regular frame it answers for.
    fn frame(&self) -> u64 {
        match self {
            Self::Frame(f) => f.frame,
            Self::Window(w) => w.regular.frame,
        }
    }

    /// The answer on the regular frame alone.
    pub(crate) fn into_frame(self) -> AheadFrame {
        match self {
            Self::Frame(f) => f,
            Self::Window(w) => w.regular,
        }
    }
}

/// A regular frame to read ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AheadTask {
    /// Alone: its GOP's samples agree.
    Frame(u64),
    /// With its GOP, the only regular frame between the disagreeing samples at `gap`;
    /// `after` is the count of the sample that ends it. Only where memory for the GOP is free
    /// when the thread gets there; else the job reads it.
    Window { frame: u64, gap: (u64, u64), after: u32 },
}

impl AheadTask {
    fn frame(&self) -> u64 {
        match *self {
            Self::Frame(frame) | Self::Window { frame, .. } => frame,
        }
    }
}

/// What a [`ReadAhead`] works with.
pub(crate) struct AheadPlan {
    /// Its own source of the video, and the memory reserved for it (given back when the
    /// thread ends).
    pub source: Box<dyn FrameSource>,
    pub memory: Option<Reservation>,
    /// In frame order.
    pub tasks: Vec<AheadTask>,
    pub input: Option<u32>,
    pub thumbnails: Thumbnails,
    /// Answers it may hold before the job takes them; it waits past that.
    pub ahead: usize,
    /// Frames it keeps at the model at once.
    pub in_flight: usize,
    /// The memory of the GOPs read ahead.
    pub windows: WindowMemory,
}

/// The memory of the GOPs read ahead: each at most `most` bytes; two at a time held ahead of
/// the job (it takes one while the thread decodes the next, and the GOPs one step of the job
/// bisects at once take at most `most` together, so the thread never waits on a job waiting
/// for it); and, in a server, out of its budget as far as that leaves `keep_free` bytes.
pub(crate) struct WindowMemory {
    pub most: u64,
    pub ahead: Arc<MemoryBudget>,
    pub budget: Option<(Arc<MemoryBudget>, u64)>,
}

impl WindowMemory {
    pub(crate) fn new(most: u64, budget: Option<(Arc<MemoryBudget>, u64)>) -> Self {
        Self {
            most,
            ahead: MemoryBudget::new(most.saturating_mul(2)),
            budget,
        }
    }

    /// Memory for a GOP of `bytes`: waits while two are held ahead, until `stop`; `None` where
    /// it is larger than `most`, the budget has no room now, or `stop` was set.
    fn reserve(&self, bytes: u64, stop: &AtomicBool) -> Option<Vec<Reservation>> {
        if bytes > self.most {
            return None;
        }
        let shared = match &self.budget {
            None => None,
            Some((budget, keep_free)) => {
                let spare = budget
                    .limit()
                    .saturating_sub(budget.used())
                    .saturating_sub(*keep_free);
                Some((bytes <= spare).then(|| budget.try_reserve(bytes)).flatten()?)
            }
        };
        loop {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            if let Ok(ahead) = self.ahead.reserve(bytes, std::time::Duration::from_millis(50)) {
                return Some([Some(ahead), shared].into_iter().flatten().collect());
            }
        }
    }
}

/// Regular frames decoded and inferred in order by a second source on a thread of its own
/// (GOPs whose samples disagree decoded whole and kept, where memory allows); the job takes
/// them ([`Self::take`]) as it reaches them. Dropped, the thread stops at its next frame and
/// is waited for (at most a GOP's decoding or a model run), so its source and memory are back
/// when the drop returns.
pub(crate) struct ReadAhead {
    /// The regular frames of its tasks, ascending: the job waits only for those.
    frames: Vec<u64>,
    answers: Receiver<Ahead>,
    /// What was received past the frame asked for, kept for the next ask.
    next: Option<Ahead>,
    stop: Arc<AtomicBool>,
    /// Declared after `answers`, so dropped after it: a thread waiting to hand something over
    /// is woken by the closed channel before it is joined.
    _thread: Joined,
}

/// A thread joined when dropped.
struct Joined(Option<std::thread::JoinHandle<()>>);

impl Drop for Joined {
    fn drop(&mut self) {
        if let Some(thread) = self.0.take()
            && thread.join().is_err()
        {
            tracing::warn!("the thread reading ahead panicked");
        }
    }
}

impl ReadAhead {
    /// Starts the thread; `None` where it cannot be (the job then reads alone).
    pub(crate) fn start(plan: AheadPlan, scheduler: Scheduler) -> Option<Self> {
        let (sender, answers) = sync_channel(plan.ahead.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let span = tracing::Span::current();
        let frames = plan.tasks.iter().map(AheadTask::frame).collect();
        let thread = std::thread::Builder::new()
            .name("index-ahead".into())
            .spawn(move || {
                let _span = span.enter();
                let tasks = plan.tasks.len();
                match read_ahead(plan, &scheduler, &sender, &stopped) {
                    Ok((frames, windows)) => tracing::debug!(frames, windows, tasks, "read ahead"),
                    // Not an error of the job: it decodes what is left itself and meets
                    // whatever stopped this, where it is handled once.
                    Err(e) => tracing::debug!(error = %e, "reading ahead stopped; the job reads the rest"),
                }
            })
            .inspect_err(|e| tracing::warn!(error = %e, "no thread to read ahead; the job reads alone"))
            .ok()?;
        Some(Self {
            frames,
            answers,
            next: None,
            stop,
            _thread: Joined(Some(thread)),
        })
    }

    /// What was read ahead for regular frame `frame`, waiting for it while the thread has yet
    /// to reach it; `None` at once for a frame that is not the thread's, and when the thread
    /// passed it (no memory for its GOP), ended or stopped: the job then reads the frame
    /// itself. Whatever was read for frames before it is dropped.
    pub(crate) fn take(&mut self, frame: u64) -> Option<Ahead> {
        if self.frames.binary_search(&frame).is_err() {
            return None;
        }
        loop {
            let got = match self.next.take() {
                Some(got) => got,
                None => self.answers.recv().ok()?,
            };
            match got.frame().cmp(&frame) {
                std::cmp::Ordering::Less => continue,
                std::cmp::Ordering::Equal => return Some(got),
                std::cmp::Ordering::Greater => {
                    self.next = Some(got);
                    return None;
                }
            }
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The thread's work: returns the frames and GOPs it handed over.
fn read_ahead(
    mut plan: AheadPlan,
    scheduler: &Scheduler,
    sender: &SyncSender<Ahead>,
    stop: &AtomicBool,
) -> Result<(usize, usize), IndexError> {
    let _memory = plan.memory.take();
    let in_flight = plan.in_flight.max(1);
    let mut pending: VecDeque<(u64, Ticket, Vec<u8>)> = VecDeque::with_capacity(in_flight + 1);
    let (mut frames, mut windows) = (0, 0);
    // Hands the oldest answers over until `keep` are left at the model; false when the job is
    // gone.
    let hand_over = |pending: &mut VecDeque<(u64, Ticket, Vec<u8>)>,
                     keep: usize,
                     frames: &mut usize|
     -> Result<bool, IndexError> {
        while pending.len() > keep {
            let Some((frame, ticket, thumb)) = pending.pop_front() else {
                break;
            };
            let found = ticket.wait()?;
            if sender
                .send(Ahead::Frame(AheadFrame { frame, found, thumb }))
                .is_err()
            {
                return Ok(false);
            }
            *frames += 1;
        }
        Ok(true)
    };
    let mut failed = None;
    let tasks = std::mem::take(&mut plan.tasks);
    for &task in &tasks {
        if stop.load(Ordering::Relaxed) {
            return Ok((frames, windows));
        }
        match task {
            AheadTask::Frame(i) => {
                match read_one(&mut plan, scheduler, i) {
                    Ok(read) => pending.push_back(read),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
                if !hand_over(&mut pending, in_flight, &mut frames)? {
                    return Ok((frames, windows));
                }
            }
            AheadTask::Window { frame, gap, after } => {
                let bytes = (gap.1 - gap.0 - 1).saturating_mul(plan.source.picture_bytes());
                let Some(memory) = plan.windows.reserve(bytes, stop) else {
                    // No room (or stopped): the job decodes this GOP itself.
                    continue;
                };
                // In frame order: what is at the model goes first.
                if !hand_over(&mut pending, 0, &mut frames)? {
                    return Ok((frames, windows));
                }
                match read_window(&mut plan, scheduler, frame, gap, after, memory) {
                    Ok(window) => {
                        if sender.send(Ahead::Window(window)).is_err() {
                            return Ok((frames, windows));
                        }
                        windows += 1;
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
        }
    }
    // What is at the model is handed over even where a frame failed: its runs are not lost.
    hand_over(&mut pending, 0, &mut frames)?;
    failed.map_or(Ok((frames, windows)), Err)
}

/// Decodes frame `i` and sends it to the model; makes its thumbnail meanwhile.
fn read_one(
    plan: &mut AheadPlan,
    scheduler: &Scheduler,
    i: u64,
) -> Result<(u64, Ticket, Vec<u8>), IndexError> {
    let frame = plan.source.frame(Target::Index(i), Mode::Exact, Size::Native)?;
    let ticket = submit(
        scheduler,
        frame.data.clone(),
        frame.width,
        frame.height,
        plan.input,
    )?;
    Ok((i, ticket, plan.thumbnails.of(&frame)?))
}

/// Decodes the GOP between the samples at `gap` up to its regular frame `regular`, which goes
/// to the model, keeping the others; on past it only where the model's count there is not
/// `after` (the sample that ends the gap).
fn read_window(
    plan: &mut AheadPlan,
    scheduler: &Scheduler,
    regular: u64,
    gap: (u64, u64),
    after: u32,
    memory: Vec<Reservation>,
) -> Result<AheadWindow, IndexError> {
    let mut pictures = BTreeMap::new();
    for i in gap.0 + 1..regular {
        pictures.insert(i, plan.source.picture(i)?);
    }
    let (_, ticket, thumb) = read_one(plan, scheduler, regular)?;
    let found = ticket.wait()?;
    if found.count() != after {
        for i in regular + 1..gap.1 {
            pictures.insert(i, plan.source.picture(i)?);
        }
    }
    Ok(AheadWindow {
        gap,
        regular: AheadFrame {
            frame: regular,
            found,
            thumb,
        },
        pictures,
        memory,
    })
}
