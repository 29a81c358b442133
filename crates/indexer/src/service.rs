//! The background indexer: one worker thread that takes videos from a queue and steps their
//! jobs in turn, so several videos share the model fairly and each gets a rough timeline early.
//!
//! Each step is one scheduler batch at background priority, so a user's request waits for at
//! most one batch. Views for queries are rebuilt from the job's samples as they grow and handed
//! out as `Arc`s, so readers never touch the database or wait for the worker. A database error
//! (disk full, read-only folder) stops the worker with one logged error; everything committed
//! stays, and the next start resumes from it.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use pigweight_decode::{Decoder, FileVersion, MemoryBudget, Opener, Reservation, SourceConfig};
use pigweight_inference::Scheduler;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::error::IndexError;
use crate::job::{IndexerConfig, Job, Progress};
use crate::query::IndexView;
use crate::sprites;
use crate::store::{Database, IndexKey, Pass, Store, VideoRecord};

/// Views are rebuilt at most this often per video while it is indexed.
const VIEW_REFRESH: Duration = Duration::from_millis(500);
/// Seconds per cell of the series pyramid.
const SERIES_RESOLUTION: f64 = 0.25;

/// What the indexer says about one video.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The file (kept out of what is serialised: clients never see server paths).
    #[serde(skip)]
    pub path: PathBuf,
    pub state: IndexState,
    /// The current pass's progress, 0..=100.
    pub percent: f64,
    pub samples: u64,
    /// Seconds to the end of the current pass at the recent rate, when it can be told.
    pub eta_s: Option<f64>,
    /// The video's duration (of its readable part), once the indexer has probed it or found
    /// it in the database.
    pub duration_s: Option<f64>,
    /// Set when the file's data ends before the duration its container declares: that
    /// duration. The readable part (`duration_s`) is what is indexed.
    pub truncated_from_s: Option<f64>,
}

impl Status {
    /// Where a video stands before anything is known of it.
    fn queued(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            state: IndexState::Queued,
            percent: 0.0,
            samples: 0,
            eta_s: None,
            duration_s: None,
            truncated_from_s: None,
        }
    }
}

/// Where a video is in indexing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum IndexState {
    Queued,
    Indexing { pass: Pass },
    Done,
    Failed { reason: String },
}

/// Sent on every step and state change, for live progress displays.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgressEvent {
    pub status: Status,
}

/// How long the worker waits for memory before it puts a video back in the queue.
const MEMORY_WAIT: Duration = Duration::from_secs(5);

struct Queue {
    waiting: VecDeque<PathBuf>,
    /// Videos queued since the worker last looked: it shows what the database already holds
    /// of each at once, before its job runs.
    fresh: Vec<PathBuf>,
    /// Videos taken out of the library, for the worker to drop.
    removed: Vec<PathBuf>,
    stop: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    statuses: DashMap<PathBuf, Status>,
    views: DashMap<PathBuf, Arc<IndexView>>,
    /// Video ids in the database, for thumbnail reads.
    video_ids: DashMap<PathBuf, i64>,
    events: broadcast::Sender<ProgressEvent>,
    failed: AtomicBool,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn forget(&self, path: &Path) {
        self.statuses.remove(path);
        self.views.remove(path);
        self.video_ids.remove(path);
    }

    fn publish(&self, status: Status) {
        self.statuses.insert(status.path.clone(), status.clone());
        // Nobody listening is fine.
        let _ = self.events.send(ProgressEvent { status });
    }
}

/// The background indexer of a data folder's database.
pub struct Indexer {
    shared: Arc<Shared>,
    reader: Mutex<Store>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Indexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indexer")
            .field("videos", &self.shared.statuses.len())
            .finish_non_exhaustive()
    }
}

impl Indexer {
    /// Opens the database `db` and starts the worker, which opens videos as `decoder` does
    /// (its opener and source tuning) and holds each open one's memory out of the decoder's
    /// budget. Its sources are its own: a sequential read keeps one open for the whole job.
    pub fn start(
        db: &Database,
        scheduler: Arc<Scheduler>,
        key: IndexKey,
        config: IndexerConfig,
        decoder: &Decoder,
    ) -> Result<Self, IndexError> {
        let videos = Videos {
            opener: Arc::clone(decoder.opener()),
            config: decoder.source_config().clone(),
            budget: Arc::clone(decoder.budget()),
        };
        let mut store = Store::connect(db)?;
        if let Some(mb) = config.max_database_mb {
            if matches!(db, Database::Postgres(_)) {
                tracing::warn!("max_database_mb applies to SQLite only: PostgreSQL's space is its own");
            }
            store.limit_size(mb << 20)?;
        }
        let reader = Store::connect(db)?;
        let (events, _) = broadcast::channel(256);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                waiting: VecDeque::new(),
                fresh: Vec::new(),
                removed: Vec::new(),
                stop: false,
            }),
            wake: Condvar::new(),
            statuses: DashMap::new(),
            views: DashMap::new(),
            video_ids: DashMap::new(),
            events,
            failed: AtomicBool::new(false),
        });
        let worker = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("indexer".into())
                .spawn(move || Worker::new(shared, store, scheduler, key, config, videos).run())
                .map_err(|e| IndexError::Database(format!("starting the indexer thread: {e}")))?
        };
        Ok(Self {
            shared,
            reader: Mutex::new(reader),
            worker: Some(worker),
        })
    }

    /// Queues a video (again, after it changed); a video already queued or indexing is left
    /// where it is.
    pub fn add(&self, path: &Path) {
        let mut q = self.shared.queue();
        let busy = self
            .shared
            .statuses
            .get(path)
            .is_some_and(|s| matches!(s.state, IndexState::Queued | IndexState::Indexing { .. }));
        if !busy {
            q.waiting.push_back(path.to_owned());
            q.fresh.push(path.to_owned());
            drop(q);
            self.shared.publish(Status::queued(path));
            self.shared.wake.notify_one();
        }
    }

    /// Forgets a video taken out of the library: it leaves the queue, its job stops, and it has
    /// no status or view any more. What its index holds stays in the database (content
    /// addressed: the same file added again resumes from it).
    pub fn remove(&self, path: &Path) {
        let mut q = self.shared.queue();
        q.waiting.retain(|p| p != path);
        q.removed.push(path.to_owned());
        drop(q);
        self.shared.forget(path);
        self.shared.wake.notify_one();
    }

    /// Every video the indexer has been given, and where it is.
    pub fn statuses(&self) -> HashMap<PathBuf, Status> {
        self.shared
            .statuses
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect()
    }

    pub fn status(&self, path: &Path) -> Option<Status> {
        self.shared.statuses.get(path).map(|s| s.clone())
    }

    /// The latest view of a video's index, for queries.
    pub fn view(&self, path: &Path) -> Option<Arc<IndexView>> {
        self.shared.views.get(path).map(|v| v.clone())
    }

    /// The thumbnail of exactly `frame` (a keyframe or regular sample's frame).
    pub fn thumbnail(&self, path: &Path, frame: u64) -> Result<Option<Vec<u8>>, IndexError> {
        let Some(video_id) = self.shared.video_ids.get(path).map(|v| *v) else {
            return Ok(None);
        };
        self.reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .thumbnail(video_id, frame)
    }

    /// Sprite sheet `sheet` of a video's thumbnails (JPEG), if it has one.
    pub fn sprite_sheet(
        &self,
        path: &Path,
        sheet: usize,
        quality: u8,
    ) -> Result<Option<Vec<u8>>, IndexError> {
        let Some(view) = self.view(path) else {
            return Ok(None);
        };
        let frames = sprites::sprite_frames(&view, sheet);
        let tiles = frames
            .iter()
            .map(|&f| self.thumbnail(path, f))
            .collect::<Result<Option<Vec<_>>, _>>()?;
        match tiles {
            Some(tiles) if !tiles.is_empty() => sprites::compose_sheet(&tiles, quality).map(Some),
            _ => Ok(None),
        }
    }

    /// The WebVTT map of a video's sprite sheets, `sheet_url(k)` naming sheet k; `None` until
    /// it has thumbnails.
    pub fn sprite_vtt(
        &self,
        path: &Path,
        duration: f64,
        sheet_url: &dyn Fn(usize) -> String,
    ) -> Result<Option<String>, IndexError> {
        let Some(view) = self.view(path) else {
            return Ok(None);
        };
        let Some(&(first, _)) = view.thumbnails().first() else {
            return Ok(None);
        };
        let Some(jpeg) = self.thumbnail(path, first)? else {
            return Ok(None);
        };
        let tile = image::load_from_memory(&jpeg)
            .map(|i| (i.width(), i.height()))
            .map_err(|e| IndexError::Thumbnail(e.to_string()))?;
        Ok(Some(sprites::sprite_vtt(&view, tile, duration, sheet_url)))
    }

    /// Progress events of every video.
    pub fn subscribe(&self) -> broadcast::Receiver<ProgressEvent> {
        self.shared.events.subscribe()
    }

    /// Whether the worker stopped on a database error (see the log).
    pub fn has_failed(&self) -> bool {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// Stops after the current step (whose batch is committed) and waits for the worker.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.queue().stop = true;
        self.shared.wake.notify_all();
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            tracing::error!("the indexer thread panicked");
        }
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Active {
    path: PathBuf,
    job: Job,
    /// What its open source holds of the memory budget, given back when the job ends.
    _memory: Reservation,
    /// Seconds (readable), and the container's claim when it is longer.
    duration_s: f64,
    truncated_from_s: Option<f64>,
    last_view: Instant,
    /// (when, done) at the start of the current pass, for the ETA.
    pass_started: (Instant, u64, Pass),
}

/// How the worker opens videos: as the API's decoder does, out of its memory budget.
struct Videos {
    opener: Arc<dyn Opener>,
    config: SourceConfig,
    budget: Arc<MemoryBudget>,
}

struct Worker {
    shared: Arc<Shared>,
    store: Store,
    scheduler: Arc<Scheduler>,
    key: IndexKey,
    config: IndexerConfig,
    videos: Videos,
    active: Vec<Active>,
    /// While the model's backend is away: how long the last wait for it was.
    backoff: Option<Duration>,
}

/// Waits for a model backend that is away: the first, then doubling up to the most.
const BACKEND_WAIT_FIRST: Duration = Duration::from_millis(250);
const BACKEND_WAIT_MOST: Duration = Duration::from_secs(5);

impl Worker {
    fn new(
        shared: Arc<Shared>,
        store: Store,
        scheduler: Arc<Scheduler>,
        key: IndexKey,
        config: IndexerConfig,
        videos: Videos,
    ) -> Self {
        Self {
            shared,
            store,
            scheduler,
            key,
            config,
            videos,
            active: Vec::new(),
            backoff: None,
        }
    }

    fn run(mut self) {
        let _span = tracing::info_span!("indexer").entered();
        loop {
            // Drop removed videos, take new work while there is room; sleep when there is
            // nothing at all.
            let next = {
                let mut q = self.shared.queue();
                while !q.stop && q.waiting.is_empty() && q.removed.is_empty() && self.active.is_empty() {
                    q = self.shared.wake.wait(q).unwrap_or_else(PoisonError::into_inner);
                }
                if q.stop {
                    return;
                }
                let fresh: Vec<PathBuf> = std::mem::take(&mut q.fresh)
                    .into_iter()
                    .filter(|p| q.waiting.contains(p))
                    .collect();
                drop(q);
                for path in fresh {
                    if let Err(e) = self.preload(&path) {
                        return self.stop_on(&e);
                    }
                }
                let mut q = self.shared.queue();
                for path in std::mem::take(&mut q.removed) {
                    if let Some(i) = self.active.iter().position(|a| a.path == path) {
                        self.active.remove(i);
                        // A step may have published after `remove` cleared it; a video queued
                        // again since keeps its fresh status.
                        if !q.waiting.contains(&path) {
                            self.shared.forget(&path);
                        }
                    }
                }
                if self.active.len() < self.config.active_videos.max(1) {
                    q.waiting.pop_front()
                } else {
                    None
                }
            };
            if let Some(path) = next
                && let Err(e) = self.open(&path)
            {
                return self.stop_on(&e);
            }
            // One step of each active job in turn.
            let mut i = 0;
            while i < self.active.len() {
                match self.step(i) {
                    Ok(true) => i += 1,
                    Ok(false) => {
                        self.active.remove(i);
                    }
                    Err(e) => return self.stop_on(&e),
                }
            }
        }
    }

    /// Sleeps while the model's backend is away (a remote inference server restarting), longer
    /// each time; a stop wakes it.
    fn wait_for_backend(&mut self, e: &pigweight_inference::InferenceError) {
        let wait = self
            .backoff
            .map_or(BACKEND_WAIT_FIRST, |last| (last * 2).min(BACKEND_WAIT_MOST));
        if self.backoff.is_none() {
            tracing::warn!(error = %e, "the model's backend is unavailable; indexing waits and resumes");
        }
        self.backoff = Some(wait);
        let q = self.shared.queue();
        if !q.stop {
            drop(self.shared.wake.wait_timeout(q, wait));
        }
    }

    fn stop_on(&self, e: &IndexError) {
        tracing::error!(error = %e, "indexing stopped; what is committed is kept and resumes on the next start");
        self.shared.failed.store(true, Ordering::Relaxed);
    }

    /// Opens a job; a video that cannot be opened is marked failed (not an indexer error). Its
    /// memory comes out of the shared budget first; while the budget is all in use (by the
    /// API's decoders), the video goes back to the end of the queue.
    fn open(&mut self, path: &Path) -> Result<(), IndexError> {
        let largest = pigweight_decode::source_bytes_of_pixels(self.videos.config.max_frame_pixels);
        let mut memory = match self.videos.budget.reserve(largest, MEMORY_WAIT) {
            Ok(memory) => memory,
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "no memory to index now; queued again");
                self.shared.queue().waiting.push_back(path.to_owned());
                return Ok(());
            }
        };
        let opened = self
            .videos
            .opener
            .open(path, &self.videos.config)
            .map_err(IndexError::from)
            .and_then(|source| {
                let (w, h) = source.native_size();
                memory.shrink_to(pigweight_decode::source_bytes(w, h));
                let record = VideoRecord::of(path, &*source, &mut self.store)?;
                let truncated_from_s = source.info().truncated_from;
                if let Some(declared) = truncated_from_s {
                    tracing::warn!(
                        path = %path.display(),
                        readable_s = record.duration,
                        declared_s = declared,
                        "the file ends before its container says; indexing the readable part"
                    );
                }
                let job = Job::open(&mut self.store, &record, source, &self.key, self.config.clone())?;
                Ok((job, record.duration, truncated_from_s))
            });
        let (job, duration_s, truncated_from_s) = match opened {
            Ok(opened) => opened,
            Err(e @ (IndexError::Decode(_) | IndexError::Io { .. })) => {
                tracing::warn!(path = %path.display(), error = %e, "video not indexed");
                self.shared.publish(Status {
                    state: IndexState::Failed {
                        reason: e.to_string(),
                    },
                    ..Status::queued(path)
                });
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.shared
            .video_ids
            .insert(path.to_owned(), job.index().video_id);
        let pass = job.index().pass;
        self.active.push(Active {
            path: path.to_owned(),
            job,
            _memory: memory,
            duration_s,
            truncated_from_s,
            last_view: Instant::now() - VIEW_REFRESH,
            pass_started: (Instant::now(), 0, pass),
        });
        Ok(())
    }

    /// Steps active job `i`; false when it is finished (done or failed).
    fn step(&mut self, i: usize) -> Result<bool, IndexError> {
        let a = &mut self.active[i];
        let progress = match a.job.step(&mut self.store, &self.scheduler) {
            Ok(p) => {
                if self.backoff.take().is_some() {
                    tracing::info!("the model's backend is back; indexing resumed");
                }
                p
            }
            Err(IndexError::Inference(e)) if e.is_transient() => {
                // Nothing of the step was committed; it runs again from what the database holds.
                self.wait_for_backend(&e);
                return Ok(true);
            }
            Err(IndexError::Decode(e)) => {
                let reason = e.to_string();
                tracing::warn!(path = %a.path.display(), reason, "indexing failed");
                a.job.fail(&mut self.store, &reason)?;
                self.shared.publish(Status {
                    state: IndexState::Failed { reason },
                    duration_s: Some(a.duration_s),
                    truncated_from_s: a.truncated_from_s,
                    ..Status::queued(&a.path)
                });
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let finished = matches!(progress.pass, Pass::Done | Pass::Failed);
        if finished || a.last_view.elapsed() >= VIEW_REFRESH {
            let view = IndexView::new(a.job.samples(), SERIES_RESOLUTION);
            self.shared.views.insert(a.path.clone(), Arc::new(view));
            a.last_view = Instant::now();
        }
        if a.pass_started.2 != progress.pass {
            a.pass_started = (Instant::now(), progress.done, progress.pass);
        }
        let status = Status {
            duration_s: Some(a.duration_s),
            truncated_from_s: a.truncated_from_s,
            ..status_of(&a.path, &progress, a.pass_started, a.job.index().error.as_deref())
        };
        self.shared.publish(status);
        Ok(!finished)
    }

    /// Shows what the database already holds of a queued video — its samples as a view, its
    /// duration, a finished or failed state — without opening the file: after a restart, a
    /// part-indexed video answers from its stored samples at once, before its job resumes.
    /// A file the database has not seen at this size and modification time is left queued.
    fn preload(&mut self, path: &Path) -> Result<(), IndexError> {
        let Ok(version) = FileVersion::read(path) else {
            return Ok(());
        };
        let Some(stored) = self
            .store
            .stored(path, version.len, version.modified_ns as i64, &self.key)?
        else {
            return Ok(());
        };
        self.shared.video_ids.insert(path.to_owned(), stored.video_id);
        let done = stored.index.as_ref().is_some_and(|r| r.pass == Pass::Done);
        let state = match &stored.index {
            _ if done => IndexState::Done,
            Some(row) if row.pass == Pass::Failed => IndexState::Failed {
                reason: row.error.clone().unwrap_or_else(|| "failed".into()),
            },
            _ => IndexState::Queued,
        };
        if !stored.samples.is_empty() {
            let view = IndexView::new(stored.samples.iter(), SERIES_RESOLUTION);
            self.shared.views.insert(path.to_owned(), Arc::new(view));
        }
        self.shared.publish(Status {
            state,
            percent: if done { 100.0 } else { 0.0 },
            samples: stored.samples.len() as u64,
            duration_s: Some(stored.duration),
            ..Status::queued(path)
        });
        Ok(())
    }
}

fn status_of(path: &Path, p: &Progress, started: (Instant, u64, Pass), error: Option<&str>) -> Status {
    let state = match p.pass {
        Pass::Done => IndexState::Done,
        Pass::Failed => IndexState::Failed {
            reason: error.unwrap_or("failed").to_owned(),
        },
        pass => IndexState::Indexing { pass },
    };
    let percent = if p.total == 0 {
        100.0
    } else {
        100.0 * p.done as f64 / p.total as f64
    };
    let (since, done_then, _) = started;
    let rate = (p.done.saturating_sub(done_then)) as f64 / since.elapsed().as_secs_f64().max(1e-3);
    let eta_s = (rate > 0.0 && p.total > p.done).then(|| (p.total - p.done) as f64 / rate);
    Status {
        state,
        percent,
        samples: p.samples,
        eta_s,
        ..Status::queued(path)
    }
}
