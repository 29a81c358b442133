//! The batching scheduler: one worker thread owns the detector (ORT's `run` needs `&mut`), and
//! everyone else talks to it through two bounded queues.
//!
//! Batches form Triton-style: the worker takes the oldest waiting image, interactive first, then
//! waits up to `max_wait` for more images of the same size to fill `max_batch` (one input shape
//! per run). Interactive images always go ahead of background ones, so a user's request waits at
//! most for the batch already running. Background submitters block when their queue is full
//! (back-pressure on the indexer); interactive submitters get `QueueFull` at once instead. A
//! requester that gave up (dropped its [`Ticket`]) is skipped if its image has not started.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::band::Detections;
use crate::error::InferenceError;
use crate::model::{Detector, Health, Image, ModelInfo, Priority};

/// Bounds and timing of the scheduler.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Most images in one run (also bounded by the model's static batch).
    pub max_batch: usize,
    /// How long the oldest image waits for a batch to fill, in milliseconds.
    pub max_wait_ms: u64,
    /// Interactive images that may wait; more are refused with `QueueFull`.
    pub interactive_capacity: usize,
    /// Background images that may wait; more block their submitter.
    pub background_capacity: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            max_batch: 8,
            max_wait_ms: 5,
            interactive_capacity: 64,
            background_capacity: 32,
        }
    }
}

/// An RGB image the scheduler can hold on to: any shared buffer of `width * height * 3` bytes.
#[derive(Clone)]
pub struct SharedImage {
    pub pixels: Arc<dyn AsRef<[u8]> + Send + Sync>,
    pub width: u32,
    pub height: u32,
    /// The square input to run it at, as [`Image::input`].
    pub input: Option<u32>,
}

impl std::fmt::Debug for SharedImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedImage({}x{}", self.width, self.height)?;
        match self.input {
            Some(input) => write!(f, " at {input})"),
            None => write!(f, ")"),
        }
    }
}

type Reply = Result<Detections, InferenceError>;

#[derive(Debug)]
struct Job {
    image: SharedImage,
    reply: oneshot::Sender<Reply>,
    enqueued: Instant,
    priority: Priority,
    /// The submitter's span (a request's, the indexer's, a stream's): the model run follows
    /// from it, and the job's outcome is logged in it.
    span: tracing::Span,
}

/// Per-priority counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PriorityMetrics {
    pub submitted: u64,
    pub completed: u64,
    /// Refused because the queue was full (interactive only).
    pub rejected: u64,
    /// Dropped by their requester before they ran.
    pub cancelled: u64,
    /// Time from submission to the start of the run.
    pub wait_ms_total: f64,
    pub wait_ms_max: f64,
}

/// What the scheduler has done.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SchedulerMetrics {
    pub batches: u64,
    pub failed_batches: u64,
    /// `batch_sizes[n]`: how many runs had n images.
    pub batch_sizes: Vec<u64>,
    pub run_ms_total: f64,
    pub run_ms_max: f64,
    pub interactive: PriorityMetrics,
    pub background: PriorityMetrics,
    pub queued_interactive: usize,
    pub queued_background: usize,
}

impl SchedulerMetrics {
    fn of(&mut self, p: Priority) -> &mut PriorityMetrics {
        match p {
            Priority::Interactive => &mut self.interactive,
            Priority::Background => &mut self.background,
        }
    }
}

#[derive(Debug, Default)]
struct Queues {
    interactive: VecDeque<Job>,
    background: VecDeque<Job>,
    closed: bool,
    metrics: SchedulerMetrics,
    /// When a submitter last blocked on a result ([`Ticket::wait`]): it sends nothing more
    /// until then, so images queued before it need not wait for their batch to fill.
    waited_on: Option<Instant>,
}

#[derive(Debug)]
struct Shared {
    config: SchedulerConfig,
    max_batch: usize,
    queues: Mutex<Queues>,
    /// Signalled when work arrives or the scheduler closes.
    work: Condvar,
    /// Signalled when background room frees up.
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Stops and joins the worker when the last [`Scheduler`] handle goes.
#[derive(Debug)]
struct Worker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_all();
        self.shared.room.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A handle to the worker that runs one detector; cheap to clone.
#[derive(Debug, Clone)]
pub struct Scheduler {
    shared: Arc<Shared>,
    info: Arc<ModelInfo>,
    health: Health,
    _worker: Arc<Worker>,
}

/// The result of one submitted image: `.wait()` from a thread, `.await` from a task.
#[derive(Debug)]
pub struct Ticket {
    reply: oneshot::Receiver<Reply>,
    shared: Arc<Shared>,
}

impl Ticket {
    /// Blocks until the result is there. Not for async tasks: await the ticket instead.
    ///
    /// A thread that blocks sends nothing more meanwhile, so what is queued up to now runs
    /// without waiting `max_wait_ms` for a batch to fill: an indexer bisecting one frame at a
    /// time would otherwise wait that long for every frame. (A task awaiting its ticket leaves
    /// the wait be: other requests may still join its batch.)
    pub fn wait(self) -> Reply {
        self.shared.lock().waited_on = Some(Instant::now());
        self.shared.work.notify_one();
        self.reply.blocking_recv().unwrap_or(Err(InferenceError::Stopped))
    }
}

impl Future for Ticket {
    type Output = Reply;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        Pin::new(&mut self.reply)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(InferenceError::Stopped)))
    }
}

impl Scheduler {
    /// Starts the worker thread that owns `detector`.
    pub fn start(detector: Box<dyn Detector>, config: SchedulerConfig) -> Result<Self, InferenceError> {
        let info = Arc::new(detector.info().clone());
        let health = detector.health();
        let max_batch = config.max_batch.clamp(1, info.max_batch.unwrap_or(usize::MAX));
        let shared = Arc::new(Shared {
            max_batch,
            config,
            queues: Mutex::new(Queues {
                metrics: SchedulerMetrics {
                    batch_sizes: vec![0; max_batch + 1],
                    ..SchedulerMetrics::default()
                },
                ..Queues::default()
            }),
            work: Condvar::new(),
            room: Condvar::new(),
        });
        let thread = std::thread::Builder::new()
            .name("inference".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || run(&shared, detector)
            })
            .map_err(|e| InferenceError::Run(format!("cannot start the inference thread: {e}")))?;
        Ok(Self {
            _worker: Arc::new(Worker {
                shared: Arc::clone(&shared),
                thread: Some(thread),
            }),
            shared,
            info,
            health,
        })
    }

    /// The model this scheduler runs.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Whether the detector's backend can run now (a remote server may be away), and why not.
    pub fn ready(&self) -> Result<(), String> {
        self.health.ready()
    }

    /// Queues one image. Interactive: refused with `QueueFull` when the queue is full.
    /// Background: blocks until there is room (call it from a blocking thread).
    pub fn submit(&self, image: SharedImage, priority: Priority) -> Result<Ticket, InferenceError> {
        // A backend that is away fails at once rather than after a wait in the queue.
        self.health.ready().map_err(InferenceError::Unavailable)?;
        let expected = image.width as usize * image.height as usize * 3;
        if (*image.pixels).as_ref().len() != expected {
            return Err(InferenceError::Shape(format!(
                "a {}x{} image needs {expected} bytes",
                image.width, image.height
            )));
        }
        let (tx, rx) = oneshot::channel();
        let job = Job {
            image,
            reply: tx,
            enqueued: Instant::now(),
            priority,
            span: tracing::Span::current(),
        };
        let mut q = self.shared.lock();
        loop {
            if q.closed {
                return Err(InferenceError::Stopped);
            }
            match priority {
                Priority::Interactive if q.interactive.len() >= self.shared.config.interactive_capacity => {
                    q.metrics.interactive.rejected += 1;
                    return Err(InferenceError::QueueFull);
                }
                Priority::Interactive => {
                    q.interactive.push_back(job);
                    break;
                }
                Priority::Background if q.background.len() >= self.shared.config.background_capacity => {
                    q = self.shared.room.wait(q).unwrap_or_else(PoisonError::into_inner);
                }
                Priority::Background => {
                    q.background.push_back(job);
                    break;
                }
            }
        }
        q.metrics.of(priority).submitted += 1;
        drop(q);
        self.shared.work.notify_one();
        Ok(Ticket {
            reply: rx,
            shared: Arc::clone(&self.shared),
        })
    }

    /// Submits and waits; for blocking callers.
    pub fn detect_blocking(&self, image: SharedImage, priority: Priority) -> Reply {
        self.submit(image, priority)?.wait()
    }

    pub fn metrics(&self) -> SchedulerMetrics {
        let q = self.shared.lock();
        SchedulerMetrics {
            queued_interactive: q.interactive.len(),
            queued_background: q.background.len(),
            ..q.metrics.clone()
        }
    }
}

/// The worker: forms batches and runs them until the scheduler closes.
fn run(shared: &Shared, mut detector: Box<dyn Detector>) {
    while let Some(batch) = next_batch(shared) {
        let run_span = tracing::debug_span!("model_run", images = batch.len());
        for job in &batch {
            run_span.follows_from(&job.span);
        }
        let _running = run_span.enter();
        let started = Instant::now();
        let images: Vec<Image<'_>> = batch
            .iter()
            .map(|j| Image {
                rgb: (*j.image.pixels).as_ref(),
                width: j.image.width,
                height: j.image.height,
                input: j.image.input,
            })
            .collect();
        // A batch holding a user's image runs at theirs (a shared backend serves it first).
        let priority = if batch.iter().any(|j| j.priority == Priority::Interactive) {
            Priority::Interactive
        } else {
            Priority::Background
        };
        let result = detector.detect_at(&images, priority);
        let run_ms = started.elapsed().as_secs_f64() * 1e3;
        {
            let mut q = shared.lock();
            let m = &mut q.metrics;
            m.batches += 1;
            m.batch_sizes[batch.len()] += 1;
            m.run_ms_total += run_ms;
            m.run_ms_max = m.run_ms_max.max(run_ms);
            if result.is_err() {
                m.failed_batches += 1;
            }
            for job in &batch {
                let wait = started.duration_since(job.enqueued).as_secs_f64() * 1e3;
                let pm = m.of(job.priority);
                pm.completed += 1;
                pm.wait_ms_total += wait;
                pm.wait_ms_max = pm.wait_ms_max.max(wait);
            }
        }
        match result {
            Ok(per_image) => {
                for (job, dets) in batch.into_iter().zip(per_image) {
                    let wait_ms = started.duration_since(job.enqueued).as_secs_f64() * 1e3;
                    tracing::debug!(parent: &job.span, wait_ms, run_ms, found = dets.count(), "model ran");
                    // The requester may have gone; nothing to do then.
                    let _ = job.reply.send(Ok(dets));
                }
            }
            Err(e) => {
                if e.is_transient() {
                    // The backend's health says it once; every caller gets the error.
                    tracing::debug!(error = %e, images = batch.len(), "inference backend unavailable");
                } else {
                    tracing::error!(error = %e, images = batch.len(), "inference batch failed");
                }
                for job in batch {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Waits for work, then gathers one batch: the oldest interactive image (else the oldest
/// background one), then more of the same size and input, interactive first, until the batch is
/// full, the first image has waited `max_wait`, or a submitter blocked on a result after it was
/// queued. `None` when the scheduler closes.
fn next_batch(shared: &Shared) -> Option<Vec<Job>> {
    let max_wait = Duration::from_millis(shared.config.max_wait_ms);
    let mut q = shared.lock();
    loop {
        drop_cancelled(&mut q);
        if q.closed {
            return None;
        }
        let oldest = q.interactive.front().or(q.background.front()).map(|j| j.enqueued);
        let Some(oldest) = oldest else {
            q = shared.work.wait(q).unwrap_or_else(PoisonError::into_inner);
            continue;
        };
        let deadline = oldest + max_wait;
        let waiting = q.interactive.len() + q.background.len();
        let now = Instant::now();
        let flushed = q.waited_on.is_some_and(|at| oldest <= at);
        if waiting < shared.max_batch && now < deadline && !flushed {
            q = shared
                .work
                .wait_timeout(q, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            continue;
        }
        let batch = take_batch(&mut q, shared.max_batch);
        drop(q);
        shared.room.notify_all();
        return Some(batch);
    }
}

fn drop_cancelled(q: &mut Queues) {
    for priority in [Priority::Interactive, Priority::Background] {
        let queue = match priority {
            Priority::Interactive => &mut q.interactive,
            Priority::Background => &mut q.background,
        };
        let before = queue.len();
        queue.retain(|j| !j.reply.is_closed());
        let dropped = (before - queue.len()) as u64;
        q.metrics.of(priority).cancelled += dropped;
    }
}

fn take_batch(q: &mut Queues, max_batch: usize) -> Vec<Job> {
    let first = q.interactive.pop_front().or_else(|| q.background.pop_front());
    let Some(first) = first else { return Vec::new() };
    let shape = |i: &SharedImage| (i.width, i.height, i.input);
    let size = shape(&first.image);
    let mut batch = vec![first];
    for queue in [&mut q.interactive, &mut q.background] {
        let mut i = 0;
        while i < queue.len() && batch.len() < max_batch {
            if shape(&queue[i].image) == size {
                batch.extend(queue.remove(i));
            } else {
                i += 1;
            }
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postprocess::OutputLayout;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A detector on plain arrays: each image gives one detection whose score is its first
    /// byte / 255, so results can be matched to images. Records every batch it runs.
    struct Fake {
        info: ModelInfo,
        run_time: Duration,
        batches: Arc<Mutex<Vec<Vec<u8>>>>,
        gate: Arc<AtomicBool>,
    }

    impl Detector for Fake {
        fn info(&self) -> &ModelInfo {
            &self.info
        }
        fn detect(&mut self, images: &[Image<'_>]) -> Result<Vec<Detections>, InferenceError> {
            while !self.gate.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.batches
                .lock()
                .unwrap()
                .push(images.iter().map(|i| i.rgb[0]).collect());
            std::thread::sleep(self.run_time);
            Ok(images
                .iter()
                .map(|i| {
                    Detections::exact(vec![crate::Detection {
                        bbox: [0.0, 0.0, i.width as f32, i.height as f32],
                        score: f32::from(i.rgb[0]) / 255.0,
                        class: 0,
                    }])
                })
                .collect())
        }
    }

    struct Setup {
        scheduler: Scheduler,
        batches: Arc<Mutex<Vec<Vec<u8>>>>,
        gate: Arc<AtomicBool>,
    }

    fn setup(max_batch: Option<usize>, run_ms: u64, config: SchedulerConfig, open: bool) -> Setup {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(AtomicBool::new(open));
        let fake = Fake {
            info: ModelInfo {
                hash: "fake".into(),
                path: "fake.onnx".into(),
                names: vec!["pig".into()],
                input_size: (64, 64),
                small_objects: None,
                overrides: serde_json::Map::new(),
                stride: 32,
                dynamic_size: true,
                max_batch,
                layout: OutputLayout::EndToEnd,
                device: "cpu".into(),
                counted_classes: vec![],
                thresholds: crate::Thresholds::default(),
                band: crate::BandRule::default(),
            },
            run_time: Duration::from_millis(run_ms),
            batches: Arc::clone(&batches),
            gate: Arc::clone(&gate),
        };
        Setup {
            scheduler: Scheduler::start(Box::new(fake), config).unwrap(),
            batches,
            gate,
        }
    }

    /// Polls until `cond` holds (the worker has taken what it should), at most 5 s.
    fn wait_until(cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < deadline, "condition not reached in 5 s");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn image(value: u8) -> SharedImage {
        SharedImage {
            pixels: Arc::new(vec![value; 4 * 4 * 3]),
            width: 4,
            height: 4,
            input: None,
        }
    }

    #[test]
    fn every_request_is_answered_once_with_its_own_result_in_batches() {
        let s = setup(None, 2, SchedulerConfig::default(), true);
        std::thread::scope(|scope| {
            for t in 0..4u8 {
                let scheduler = s.scheduler.clone();
                scope.spawn(move || {
                    let tickets: Vec<(u8, Ticket)> = (0..30u8)
                        .map(|i| {
                            let v = t * 30 + i;
                            let p = if i % 2 == 0 {
                                Priority::Interactive
                            } else {
                                Priority::Background
                            };
                            (v, scheduler.submit(image(v), p).unwrap())
                        })
                        .collect();
                    for (v, ticket) in tickets {
                        let dets = ticket.wait().unwrap();
                        assert_eq!(dets.count(), 1);
                        assert_eq!(dets.boxes[0].score, f32::from(v) / 255.0);
                    }
                });
            }
        });
        let m = s.scheduler.metrics();
        assert_eq!(m.interactive.completed + m.background.completed, 120);
        assert_eq!(m.interactive.submitted, 60);
        let ran: usize = s.batches.lock().unwrap().iter().map(Vec::len).sum();
        assert_eq!(ran, 120, "every image ran exactly once");
        let batched: u64 = m.batch_sizes.iter().skip(2).sum();
        assert!(
            batched > 0,
            "under load some batches hold more than one image: {:?}",
            m.batch_sizes
        );
        assert!(m.batch_sizes.len() == 9, "max_batch 8");
    }

    /// A thread blocking on its result has no more to send: what it queued runs at once
    /// instead of waiting out the batching window for others to join.
    #[test]
    fn a_blocking_wait_does_not_sit_out_the_batching_window() {
        let config = SchedulerConfig {
            max_wait_ms: 60_000,
            ..SchedulerConfig::default()
        };
        let s = setup(None, 1, config, true);
        let started = Instant::now();
        let tickets: Vec<Ticket> = (0..3)
            .map(|i| s.scheduler.submit(image(i), Priority::Background).unwrap())
            .collect();
        for t in tickets {
            t.wait().unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "waited out the window"
        );
        // The three queued before the wait went together.
        assert_eq!(*s.batches.lock().unwrap(), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn interactive_goes_before_background() {
        let config = SchedulerConfig {
            max_batch: 4,
            ..SchedulerConfig::default()
        };
        let s = setup(None, 1, config, false);
        // Background work piles up while the worker is held.
        let background: Vec<Ticket> = (0..12)
            .map(|i| s.scheduler.submit(image(i), Priority::Background).unwrap())
            .collect();
        wait_until(|| s.scheduler.metrics().queued_background == 8);
        let interactive = s.scheduler.submit(image(200), Priority::Interactive).unwrap();
        s.gate.store(true, Ordering::SeqCst);
        assert_eq!(interactive.wait().unwrap().boxes[0].score, 200.0 / 255.0);
        for t in background {
            t.wait().unwrap();
        }
        let batches = s.batches.lock().unwrap().clone();
        // The first batch was formed before the interactive image came; the interactive one
        // rides in the next batch at the latest, at its front.
        let pos = batches.iter().position(|b| b.contains(&200)).unwrap();
        assert!(pos <= 1, "{batches:?}");
        assert_eq!(batches[pos][0], 200, "{batches:?}");
        assert!(batches.iter().all(|b| b.len() <= 4));
    }

    #[test]
    fn a_dropped_request_is_skipped_and_nothing_hangs() {
        let s = setup(
            None,
            1,
            SchedulerConfig {
                max_batch: 1,
                ..SchedulerConfig::default()
            },
            false,
        );
        let first = s.scheduler.submit(image(1), Priority::Interactive).unwrap();
        wait_until(|| s.scheduler.metrics().queued_interactive == 0); // the worker holds image 1
        drop(s.scheduler.submit(image(2), Priority::Interactive).unwrap());
        let third = s.scheduler.submit(image(3), Priority::Interactive).unwrap();
        s.gate.store(true, Ordering::SeqCst);
        assert_eq!(first.wait().unwrap().boxes[0].score, 1.0 / 255.0);
        assert_eq!(third.wait().unwrap().boxes[0].score, 3.0 / 255.0);
        let ran = s.batches.lock().unwrap().clone();
        assert_eq!(ran, vec![vec![1], vec![3]]);
        assert_eq!(s.scheduler.metrics().interactive.cancelled, 1);
    }

    #[test]
    fn full_interactive_queue_is_refused_and_background_waits() {
        let config = SchedulerConfig {
            max_batch: 1,
            interactive_capacity: 2,
            background_capacity: 1,
            ..SchedulerConfig::default()
        };
        let s = setup(None, 1, config, false);
        let held = s.scheduler.submit(image(9), Priority::Interactive).unwrap();
        wait_until(|| s.scheduler.metrics().queued_interactive == 0);
        let a = s.scheduler.submit(image(1), Priority::Interactive).unwrap();
        let b = s.scheduler.submit(image(2), Priority::Interactive).unwrap();
        assert!(matches!(
            s.scheduler.submit(image(3), Priority::Interactive),
            Err(InferenceError::QueueFull)
        ));
        assert_eq!(s.scheduler.metrics().interactive.rejected, 1);
        let bg1 = s.scheduler.submit(image(4), Priority::Background).unwrap();
        // The background queue is full now: the next submitter blocks until the worker runs.
        let scheduler = s.scheduler.clone();
        let blocked =
            std::thread::spawn(move || scheduler.submit(image(5), Priority::Background).unwrap().wait());
        std::thread::sleep(Duration::from_millis(30));
        assert!(!blocked.is_finished());
        s.gate.store(true, Ordering::SeqCst);
        for t in [held, a, b, bg1] {
            t.wait().unwrap();
        }
        assert_eq!(blocked.join().unwrap().unwrap().boxes[0].score, 5.0 / 255.0);
    }

    #[test]
    fn a_batch_one_model_runs_batches_of_one() {
        let s = setup(Some(1), 1, SchedulerConfig::default(), false);
        let tickets: Vec<Ticket> = (0..6)
            .map(|i| s.scheduler.submit(image(i), Priority::Background).unwrap())
            .collect();
        s.gate.store(true, Ordering::SeqCst);
        for t in tickets {
            t.wait().unwrap();
        }
        let m = s.scheduler.metrics();
        assert_eq!(m.batch_sizes, vec![0, 6]);
    }

    #[test]
    fn different_sizes_never_share_a_batch() {
        let s = setup(None, 1, SchedulerConfig::default(), false);
        let small = SharedImage {
            pixels: Arc::new(vec![7u8; 2 * 2 * 3]),
            width: 2,
            height: 2,
            input: None,
        };
        let mut tickets = vec![s.scheduler.submit(small.clone(), Priority::Background).unwrap()];
        tickets.push(s.scheduler.submit(image(8), Priority::Background).unwrap());
        tickets.push(s.scheduler.submit(small, Priority::Background).unwrap());
        s.gate.store(true, Ordering::SeqCst);
        for t in tickets {
            t.wait().unwrap();
        }
        let batches = s.batches.lock().unwrap().clone();
        assert_eq!(batches, vec![vec![7, 7], vec![8]]);
    }

    #[test]
    fn different_inputs_never_share_a_batch() {
        let s = setup(None, 1, SchedulerConfig::default(), false);
        let at = |value: u8, input: Option<u32>| SharedImage {
            input,
            ..image(value)
        };
        let mut tickets = Vec::new();
        for (value, input) in [(1, None), (2, Some(96)), (3, None), (4, Some(96)), (5, Some(128))] {
            tickets.push(
                s.scheduler
                    .submit(at(value, input), Priority::Background)
                    .unwrap(),
            );
        }
        s.gate.store(true, Ordering::SeqCst);
        for t in tickets {
            t.wait().unwrap();
        }
        let batches = s.batches.lock().unwrap().clone();
        assert_eq!(batches, vec![vec![1, 3], vec![2, 4], vec![5]]);
    }

    #[test]
    fn wrong_sized_buffers_are_refused() {
        let s = setup(None, 1, SchedulerConfig::default(), true);
        let bad = SharedImage {
            pixels: Arc::new(vec![0u8; 10]),
            width: 4,
            height: 4,
            input: None,
        };
        assert!(matches!(
            s.scheduler.submit(bad, Priority::Interactive),
            Err(InferenceError::Shape(_))
        ));
    }

    #[tokio::test]
    async fn tickets_can_be_awaited() {
        let s = setup(None, 1, SchedulerConfig::default(), true);
        let dets = s
            .scheduler
            .submit(image(42), Priority::Interactive)
            .unwrap()
            .await
            .unwrap();
        assert_eq!(dets.boxes[0].score, 42.0 / 255.0);
    }
}
