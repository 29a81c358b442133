//! The background indexer. Videos given to it become jobs in the database (one per video and
//! index key); its thread takes jobs from there under a lease, renewed while it works, and
//! steps them in turn, so several videos share the model fairly and each gets a rough timeline
//! early. On SQLite that thread is the only worker; on PostgreSQL every `serve` with indexing
//! on and every `pigweight worker` takes from the same jobs (`SELECT ... FOR UPDATE SKIP
//! LOCKED`), a worker that dies loses its jobs when their leases run out, and a listener
//! thread (`LISTEN`) wakes idle workers and shows what other processes commit.
//!
//! Each step is one scheduler batch at background priority, so a user's request waits for at
//! most one batch. Views for queries are rebuilt from the job's samples as they grow (or read
//! from the database when another process indexes) and handed out as `Arc`s, so readers never
//! touch the database or wait for the worker. A database that is away (PostgreSQL restarting)
//! is waited out and the work goes on from what is committed; any other database error (disk
//! full, read-only folder) stops the worker with one logged error; everything committed
//! stays, and the next start resumes from it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use pigweight_decode::{Decoder, FileVersion, MemoryBudget, Opener, Reservation, SourceConfig};
use pigweight_inference::Scheduler;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::error::IndexError;
use crate::job::{IndexerConfig, Job, Progress};
use crate::query::IndexView;
use crate::roots::{Location, Roots};
use crate::sprites;
use crate::store::{
    Database, IndexKey, IndexRow, JobLease, JobOutcome, Listener, Notice, Pass, Sample, Store, VideoRecord,
    now_ms,
};

/// Views are rebuilt at most this often per video while it is indexed.
const VIEW_REFRESH: Duration = Duration::from_millis(500);
/// Seconds per cell of the series pyramid.
const SERIES_RESOLUTION: f64 = 0.25;

/// What the indexer says about one video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The input size the video's frames go in at, once its index has chosen it (inner
    /// `None`: the model's own; see [`crate::choose_input`]).
    #[serde(default, deserialize_with = "chosen", skip_serializing_if = "Option::is_none")]
    pub input: Option<Option<u32>>,
    /// The version of the file this status (and the video's view) describes; `None` until a
    /// job has opened the file or the database has shown what it holds of it. A file found at
    /// another version is indexed anew ([`Indexer::add`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<FileVersion>,
}

/// Reads a chosen input that is present, `null` included (the model's own), as chosen: plain
/// `Option<Option<_>>` reads `null` as not there.
fn chosen<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
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
            input: None,
            version: None,
        }
    }
}

/// Where a video is in indexing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// How long the worker waits for memory before it hands a job back.
const MEMORY_WAIT: Duration = Duration::from_secs(5);
/// How often an idle worker looks for jobs nobody told it of (those of a worker that died come
/// back when its lease runs out, untold).
const IDLE_LOOK: Duration = Duration::from_secs(2);
/// How long the listener waits for notices before it looks at its own work (views due, stop).
const LISTEN_TICK: Duration = Duration::from_millis(100);

/// What this process does with indexing work.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its folders: how the database's locations map to its files.
    pub roots: Roots,
    /// Whether it takes indexing jobs; off, it queues its library's videos and shows what the
    /// cluster's workers index.
    pub indexing: bool,
}

impl Default for Node {
    fn default() -> Self {
        Self {
            roots: Roots::default(),
            indexing: true,
        }
    }
}

/// What callers ask of the indexer thread.
struct Control {
    /// Videos added since the thread last looked: it shows what the database holds of each at
    /// once and queues its job.
    fresh: Vec<PathBuf>,
    /// Videos taken out of the library, for the thread to drop.
    removed: Vec<PathBuf>,
    /// Another process queued jobs.
    told_of_jobs: bool,
    stop: bool,
}

struct Shared {
    control: Mutex<Control>,
    wake: Condvar,
    statuses: DashMap<PathBuf, Status>,
    views: DashMap<PathBuf, Arc<IndexView>>,
    /// Video ids in the database, for thumbnail reads.
    video_ids: DashMap<PathBuf, i64>,
    events: broadcast::Sender<ProgressEvent>,
    failed: AtomicBool,
    roots: Roots,
    /// This process's name on the jobs it holds and the progress it tells.
    owner: String,
    lag: Lag,
    /// Videos other processes queued that this one has not seen (see `Indexer::discoveries`).
    discoveries: broadcast::Sender<PathBuf>,
}

impl Shared {
    fn control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopping(&self) -> bool {
        self.control().stop
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

    fn show<'a>(&self, path: &Path, samples: impl IntoIterator<Item = &'a Sample>) {
        let view = IndexView::new(samples, SERIES_RESOLUTION);
        self.views.insert(path.to_owned(), Arc::new(view));
    }
}

/// What a worker tells the cluster after a step (a `NOTIFY` on PostgreSQL).
#[derive(Debug, Serialize, Deserialize)]
struct Told {
    owner: String,
    root: String,
    path: String,
    video_id: i64,
    index_id: i64,
    status: Status,
    /// When the step was committed: milliseconds since the Unix epoch (the machines' clocks
    /// are taken to agree, as NTP keeps them).
    committed_ms: i64,
}

/// How long other processes' commits took to show here: from the commit to the view read
/// again from the database.
#[derive(Debug, Default)]
struct Lag {
    shown: std::sync::atomic::AtomicU64,
    sum_ms: std::sync::atomic::AtomicU64,
    max_ms: std::sync::atomic::AtomicU64,
}

/// What [`Indexer::follow_lag`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FollowLag {
    /// Commits of other processes shown (several may arrive in one reading).
    pub shown: u64,
    pub sum_ms: u64,
    pub max_ms: u64,
}

/// A name for this process that no other shares: host, process id and start time.
fn owner_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{host}/{}/{started:x}", std::process::id())
}

/// The background indexer of a data folder's database.
pub struct Indexer {
    shared: Arc<Shared>,
    database: Database,
    reader: Mutex<Store>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Indexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indexer")
            .field("videos", &self.shared.statuses.len())
            .finish_non_exhaustive()
    }
}

impl Indexer {
    /// Opens the database `db` and starts the indexer thread, which queues the videos it is
    /// given as jobs in the database and, when `node.indexing`, takes jobs from there (its
    /// own and, on PostgreSQL, those of the whole cluster) and steps them. It opens videos as
    /// `decoder` does (its opener and source tuning) and holds each open one's memory out of
    /// the decoder's budget; its sources are its own. On PostgreSQL a listener thread shows
    /// what other processes index, as they commit it.
    pub fn start(
        db: &Database,
        scheduler: Arc<Scheduler>,
        key: IndexKey,
        config: IndexerConfig,
        decoder: &Decoder,
        node: Node,
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
            control: Mutex::new(Control {
                fresh: Vec::new(),
                removed: Vec::new(),
                told_of_jobs: false,
                stop: false,
            }),
            wake: Condvar::new(),
            statuses: DashMap::new(),
            views: DashMap::new(),
            video_ids: DashMap::new(),
            events,
            failed: AtomicBool::new(false),
            roots: node.roots,
            owner: owner_name(),
            lag: Lag::default(),
            discoveries: broadcast::channel(256).0,
        });
        let spawn = |name: &str, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(body)
                .map_err(|e| IndexError::Database(format!("starting the {name} thread: {e}")))
        };
        let mut threads = Vec::new();
        if matches!(db, Database::Postgres(_)) {
            let follower = Follower {
                shared: shared.clone(),
                store: Store::connect(db)?,
                db: db.clone(),
                key: key.clone(),
                refreshed: HashMap::new(),
                due: HashMap::new(),
            };
            threads.push(spawn("index-listener", Box::new(move || follower.run()))?);
        }
        let worker = Worker::new(
            shared.clone(),
            store,
            scheduler,
            key,
            config,
            videos,
            node.indexing,
        );
        threads.push(spawn("indexer", Box::new(move || worker.run()))?);
        Ok(Self {
            shared,
            database: db.clone(),
            reader: Mutex::new(reader),
            threads,
        })
    }

    /// The database it indexes into.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// This process's folders.
    pub fn roots(&self) -> &Roots {
        &self.shared.roots
    }

    /// This process's name in the database: on the jobs and leases it holds.
    pub fn owner(&self) -> &str {
        &self.shared.owner
    }

    /// Queues a video (again, after it changed); a video already queued or indexing is left
    /// where it is, unless its file is not the version its job opened (or its status shows):
    /// then what is shown of the old file (status, view, thumbnails) goes at once, its job stops
    /// (on whichever worker holds it), and the file as it is now is queued.
    pub fn add(&self, path: &Path) {
        let (busy, replaced) = match self.shared.statuses.get(path) {
            None => (false, false),
            Some(s) => (
                matches!(s.state, IndexState::Queued | IndexState::Indexing { .. }),
                s.version
                    .is_some_and(|shown| FileVersion::read(path).ok() != Some(shown)),
            ),
        };
        if replaced {
            tracing::info!(path = %path.display(), "the file changed; indexing it anew");
            self.remove(path);
        }
        if !busy || replaced {
            self.shared.control().fresh.push(path.to_owned());
            self.shared.publish(Status::queued(path));
            self.shared.wake.notify_all();
        }
    }

    /// Forgets a video taken out of the library: its job leaves the queue (and stops, on
    /// whichever worker holds it), and it has no status or view any more. What its index
    /// holds stays in the database (content addressed: the same file added again resumes from
    /// it).
    pub fn remove(&self, path: &Path) {
        let mut c = self.shared.control();
        c.fresh.retain(|p| p != path);
        c.removed.push(path.to_owned());
        drop(c);
        self.shared.forget(path);
        self.shared.wake.notify_all();
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

    /// The views held (one per video with an index) and their bytes.
    pub fn views_figures(&self) -> (u64, u64) {
        let bytes = self.shared.views.iter().map(|v| v.heap_bytes()).sum();
        (self.shared.views.len() as u64, bytes)
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

    /// Files other processes of the cluster queued for indexing that this one's library has
    /// not listed (uploaded through another instance, or seen first by another's watcher),
    /// as this process's paths: for the library to list, which then adds them here.
    pub fn discoveries(&self) -> broadcast::Receiver<PathBuf> {
        self.shared.discoveries.subscribe()
    }

    /// How quickly what other processes commit shows here (PostgreSQL; nothing on SQLite).
    pub fn follow_lag(&self) -> FollowLag {
        let lag = &self.shared.lag;
        FollowLag {
            shown: lag.shown.load(Ordering::Relaxed),
            sum_ms: lag.sum_ms.load(Ordering::Relaxed),
            max_ms: lag.max_ms.load(Ordering::Relaxed),
        }
    }

    /// Whether the worker stopped on a database error (see the log).
    pub fn has_failed(&self) -> bool {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// Stops after the current step (whose batch is committed), hands back the jobs it
    /// holds, and waits for its threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.control().stop = true;
        self.shared.wake.notify_all();
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("an indexer thread panicked");
            }
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
    lease: JobLease,
    /// When the lease was last renewed.
    renewed: Instant,
    job: Job,
    /// Set when what the job holds in memory may differ from the database (an outage broke a
    /// step): it reads the database again before its next step.
    reload: bool,
    /// Whether the job was offered a second source to read ahead with (once, when its
    /// regular pass starts).
    second_offered: bool,
    /// What its open source holds of the memory budget, given back when the job ends.
    memory: Reservation,
    /// The version of the file the job opened.
    version: FileVersion,
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
    /// Whether it takes jobs (else it only queues them).
    indexing: bool,
    active: Vec<Active>,
    /// While the model's backend or the database is away: how long the last wait was.
    backoff: Option<Duration>,
}

/// Waits for a model backend or database that is away: the first, then doubling up to the most.
const BACKEND_WAIT_FIRST: Duration = Duration::from_millis(250);
const BACKEND_WAIT_MOST: Duration = Duration::from_secs(5);

/// The wait after `last` (none: the first).
fn next_wait(last: Option<Duration>) -> Duration {
    last.map_or(BACKEND_WAIT_FIRST, |w| (w * 2).min(BACKEND_WAIT_MOST))
}

impl Worker {
    fn new(
        shared: Arc<Shared>,
        store: Store,
        scheduler: Arc<Scheduler>,
        key: IndexKey,
        config: IndexerConfig,
        videos: Videos,
        indexing: bool,
    ) -> Self {
        Self {
            shared,
            store,
            scheduler,
            key,
            config,
            videos,
            indexing,
            active: Vec::new(),
            backoff: None,
        }
    }

    fn lease(&self) -> Duration {
        Duration::from_secs_f64(self.config.lease_s.clamp(1.0, 86_400.0))
    }

    fn run(mut self) {
        let _span = tracing::info_span!("indexer").entered();
        while let Some((fresh, removed)) = self.next_orders() {
            match self.round(fresh, removed) {
                Ok(()) => {
                    if self.backoff.take().is_some() {
                        tracing::info!("the model's backend and the database are back; indexing resumed");
                    }
                }
                Err(IndexError::Unavailable(e)) => {
                    // What a broken step left in memory is read again from the database.
                    for a in &mut self.active {
                        a.reload = true;
                    }
                    self.wait_out("the index database", &e);
                }
                Err(IndexError::Inference(e)) if e.is_transient() => {
                    // Nothing of the step was committed; it runs again from what the database holds.
                    self.wait_out("the model's backend", &e);
                }
                Err(e) => return self.stop_on(&e),
            }
        }
        self.release_all();
    }

    /// Waits for something to do and takes the callers' orders; `None` once asked to stop.
    fn next_orders(&mut self) -> Option<(Vec<PathBuf>, Vec<PathBuf>)> {
        let mut c = self.shared.control();
        if self.active.is_empty() && c.fresh.is_empty() && c.removed.is_empty() && !c.told_of_jobs && !c.stop
        {
            c = if self.indexing {
                self.shared
                    .wake
                    .wait_timeout(c, IDLE_LOOK)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            } else {
                self.shared.wake.wait(c).unwrap_or_else(PoisonError::into_inner)
            };
        }
        if c.stop {
            return None;
        }
        c.told_of_jobs = false;
        Some((std::mem::take(&mut c.fresh), std::mem::take(&mut c.removed)))
    }

    /// Queues what was added, drops what was removed, takes jobs while there is room, and
    /// steps each active job once.
    fn round(&mut self, fresh: Vec<PathBuf>, removed: Vec<PathBuf>) -> Result<(), IndexError> {
        for path in &removed {
            if let Some(i) = self.active.iter().position(|a| &a.path == path) {
                self.active.remove(i);
                // A step may have published (status and view) after `remove` cleared them:
                // that goes, and a video added again since (a file replaced) shows as queued.
                self.shared.forget(path);
                if fresh.contains(path) {
                    self.shared.publish(Status::queued(path));
                }
            }
            let at = self.shared.roots.locate(path);
            self.store.drop_job(&at, &self.key)?;
        }
        let mut fresh = fresh.into_iter();
        while let Some(path) = fresh.next() {
            if let Err(e) = self.queue(&path) {
                // Taken again on the next round.
                let mut c = self.shared.control();
                c.fresh.push(path);
                c.fresh.extend(fresh);
                return Err(e);
            }
        }
        while self.indexing && self.active.len() < self.config.active_videos.max(1) {
            let roots = self.shared.roots.claimable();
            let lease = self.lease();
            let Some(job) = self
                .store
                .claim_job(&self.key, &roots, &self.shared.owner, lease)?
            else {
                break;
            };
            if !self.open(job)? {
                break;
            }
        }
        let mut i = 0;
        while i < self.active.len() {
            if self.step(i)? {
                i += 1;
            } else {
                self.active.remove(i);
            }
        }
        Ok(())
    }

    /// Shows what the database holds of an added video and queues its job, unless its index
    /// is already finished (or failed) for this very file.
    fn queue(&mut self, path: &Path) -> Result<(), IndexError> {
        let ended = preload(&self.shared, &mut self.store, &self.key, path)?
            .is_some_and(|state| matches!(state, IndexState::Done | IndexState::Failed { .. }));
        if !ended {
            let at = self.shared.roots.locate(path);
            self.store.enqueue_job(&at, &self.key, true)?;
        }
        Ok(())
    }

    /// Sleeps while `what` is away (a remote inference server or the database restarting),
    /// longer each time; a stop wakes it.
    fn wait_out(&mut self, what: &str, e: &dyn std::fmt::Display) {
        let wait = next_wait(self.backoff);
        if self.backoff.is_none() {
            tracing::warn!(error = %e, "{what} is unavailable; indexing waits and resumes");
        }
        self.backoff = Some(wait);
        let c = self.shared.control();
        if !c.stop {
            drop(self.shared.wake.wait_timeout(c, wait));
        }
    }

    fn stop_on(&mut self, e: &IndexError) {
        tracing::error!(error = %e, "indexing stopped; what is committed is kept and resumes on the next start");
        self.shared.failed.store(true, Ordering::Relaxed);
        self.release_all();
    }

    /// Hands back every job held, so another worker takes it at once instead of when the
    /// lease runs out.
    fn release_all(&mut self) {
        for a in std::mem::take(&mut self.active) {
            if let Err(e) = self.store.finish_job(&a.lease, &JobOutcome::Released) {
                tracing::debug!(error = %e, "handing back a job; its lease runs out instead");
            }
        }
    }

    /// Gives job `i` a second source of its video to read its regular pass ahead with
    /// ([`IndexerConfig::read_ahead`]), once, when that pass starts: only where the budget has
    /// room for it now and for one more source of the largest size after it (a user's request
    /// comes first). Without it the job reads alone.
    fn offer_second_source(&mut self, i: usize) {
        let a = &self.active[i];
        if a.second_offered || self.config.read_ahead == 0 || a.job.index().pass != Pass::Regular {
            return;
        }
        let budget = &self.videos.budget;
        let bytes = a.memory.bytes();
        let largest = pigweight_decode::source_bytes_of_pixels(self.videos.config.max_frame_pixels);
        let second = (budget.limit().saturating_sub(budget.used()) >= bytes + largest)
            .then(|| budget.try_reserve(bytes))
            .flatten()
            .and_then(|reserved| {
                let opened = self.videos.opener.open(&a.path, &self.videos.config);
                opened
                    .inspect_err(|e| tracing::debug!(error = %e, "no second source to read ahead"))
                    .ok()
                    .map(|second| (second, reserved))
            });
        let a = &mut self.active[i];
        a.second_offered = true;
        if let Some((second, reserved)) = second {
            a.job.read_ahead(second, Some(reserved));
        }
    }

    /// Opens a leased job; false when there is no memory for it now (it is handed back). A
    /// video that cannot be opened is marked failed (not an indexer error). Its memory comes
    /// out of the shared budget first.
    fn open(&mut self, lease: JobLease) -> Result<bool, IndexError> {
        let Some(path) = self.shared.roots.resolve(&lease.location) else {
            let reason = format!("{} is not under a folder of this worker", lease.location);
            self.store.finish_job(&lease, &JobOutcome::Failed(reason))?;
            return Ok(true);
        };
        if lease.attempts > 1 {
            tracing::info!(video = %lease.location, attempts = lease.attempts, "a job leased before (a worker stopped, or the file changed); going on from what is committed");
        }
        let largest = pigweight_decode::source_bytes_of_pixels(self.videos.config.max_frame_pixels);
        let mut memory = match self.videos.budget.reserve(largest, MEMORY_WAIT) {
            Ok(memory) => memory,
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "no memory to index now; job handed back");
                self.store.finish_job(&lease, &JobOutcome::Released)?;
                return Ok(false);
            }
        };
        let opened = self
            .videos
            .opener
            .open(&path, &self.videos.config)
            .map_err(IndexError::from)
            .and_then(|source| {
                let (w, h) = source.native_size();
                memory.shrink_to(pigweight_decode::source_bytes(w, h));
                let record = VideoRecord::of(&path, &lease.location, &*source, &mut self.store)?;
                let truncated_from_s = source.info().truncated_from;
                if let Some(declared) = truncated_from_s {
                    tracing::warn!(
                        path = %path.display(),
                        readable_s = record.duration,
                        declared_s = declared,
                        "the file ends before its container says; indexing the readable part"
                    );
                }
                let job = Job::open(&mut self.store, &record, source, &self.key, self.config.clone())?
                    .with_memory(Arc::clone(&self.videos.budget), largest);
                let version = FileVersion {
                    len: record.size,
                    modified_ns: record.mtime_ns as u64,
                };
                Ok((job, version, record.duration, truncated_from_s))
            });
        let (job, version, duration_s, truncated_from_s) = match opened {
            Ok(opened) => opened,
            Err(e @ (IndexError::Decode(_) | IndexError::Io { .. })) => {
                tracing::warn!(path = %path.display(), error = %e, "video not indexed");
                let reason = e.to_string();
                self.shared.publish(Status {
                    state: IndexState::Failed {
                        reason: reason.clone(),
                    },
                    ..Status::queued(&path)
                });
                self.store.finish_job(&lease, &JobOutcome::Failed(reason))?;
                return Ok(true);
            }
            Err(e) => {
                // Taken again by the next claim once the cause (an outage) has passed.
                if let Err(e) = self.store.finish_job(&lease, &JobOutcome::Released) {
                    tracing::debug!(error = %e, "handing back a job; its lease runs out instead");
                }
                return Err(e);
            }
        };
        self.shared.video_ids.insert(path.clone(), job.index().video_id);
        let pass = job.index().pass;
        self.active.push(Active {
            path,
            lease,
            renewed: Instant::now(),
            job,
            reload: false,
            second_offered: false,
            memory,
            version,
            duration_s,
            truncated_from_s,
            last_view: Instant::now() - VIEW_REFRESH,
            pass_started: (Instant::now(), 0, pass),
        });
        Ok(true)
    }

    /// Steps active job `i`; false when it is finished (done or failed) or no longer this
    /// worker's.
    fn step(&mut self, i: usize) -> Result<bool, IndexError> {
        let lease = self.lease();
        self.offer_second_source(i);
        let a = &mut self.active[i];
        // Renewed well before it runs out; a job that was taken over (this worker stalled past
        // its lease) or dropped (its file left the library) is left to whoever has it now.
        if a.renewed.elapsed() >= lease / 3 || a.reload {
            if !self.store.renew_job(&a.lease, lease)? {
                tracing::info!(video = %a.lease.location, "job no longer held; left to its new holder");
                return Ok(false);
            }
            a.renewed = Instant::now();
        }
        if a.reload {
            a.job.reload(&mut self.store, &self.key)?;
            a.reload = false;
        }
        let progress = match a.job.step(&mut self.store, &self.scheduler) {
            Ok(p) => p,
            Err(IndexError::Decode(e)) => {
                let reason = e.to_string();
                tracing::warn!(path = %a.path.display(), reason, "indexing failed");
                a.job.fail(&mut self.store, &reason)?;
                let status = Status {
                    state: IndexState::Failed {
                        reason: reason.clone(),
                    },
                    duration_s: Some(a.duration_s),
                    truncated_from_s: a.truncated_from_s,
                    version: Some(a.version),
                    ..Status::queued(&a.path)
                };
                self.shared.publish(status.clone());
                self.store.finish_job(&a.lease, &JobOutcome::Failed(reason))?;
                tell(
                    &mut self.store,
                    &self.shared.owner,
                    &a.lease,
                    a.job.index(),
                    status,
                );
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let finished = matches!(progress.pass, Pass::Done | Pass::Failed);
        if a.pass_started.2 != progress.pass {
            a.pass_started = (Instant::now(), progress.done, progress.pass);
        }
        let status = Status {
            duration_s: Some(a.duration_s),
            truncated_from_s: a.truncated_from_s,
            input: a.job.index().input,
            version: Some(a.version),
            ..status_of(&a.path, &progress, a.pass_started, a.job.index().error.as_deref())
        };
        let view = (finished || a.last_view.elapsed() >= VIEW_REFRESH)
            .then(|| Arc::new(IndexView::new(a.job.samples(), SERIES_RESOLUTION)));
        // A video removed or replaced meanwhile (`Indexer::remove`, `add`) shows nothing more
        // of this job, which the next round drops: checked and shown under the lock they take
        // to say so, so nothing of it lands after what they show.
        let control = self.shared.control();
        if !control.removed.contains(&a.path) {
            if let Some(view) = view {
                self.shared.views.insert(a.path.clone(), view);
                a.last_view = Instant::now();
            }
            self.shared.publish(status.clone());
        }
        drop(control);
        if finished {
            let outcome = match progress.pass {
                Pass::Failed => JobOutcome::Failed(a.job.index().error.clone().unwrap_or_default()),
                _ => JobOutcome::Done,
            };
            self.store.finish_job(&a.lease, &outcome)?;
        }
        tell(
            &mut self.store,
            &self.shared.owner,
            &a.lease,
            a.job.index(),
            status,
        );
        Ok(!finished)
    }
}

/// Tells the cluster of a step (see [`Follower`]). A notice that does not go out is only a
/// later view elsewhere: the samples are committed.
fn tell(store: &mut Store, owner: &str, lease: &JobLease, index: &IndexRow, status: Status) {
    let told = Told {
        owner: owner.to_owned(),
        root: lease.location.root.clone(),
        path: lease.location.path.clone(),
        video_id: index.video_id,
        index_id: index.id,
        status,
        committed_ms: now_ms(),
    };
    let sent = serde_json::to_string(&told)
        .map_err(|e| IndexError::Database(e.to_string()))
        .and_then(|payload| store.notify_progress(&payload));
    if let Err(e) = sent {
        tracing::debug!(error = %e, "progress not told to the cluster");
    }
}

/// Shows what the database already holds of a video — its samples as a view, its duration, a
/// finished or failed state — without opening the file: after a restart, a part-indexed video
/// answers from its stored samples at once, before its job resumes. Returns the state shown,
/// or `None` for a file the database has not seen at this size and modification time.
fn preload(
    shared: &Shared,
    store: &mut Store,
    key: &IndexKey,
    path: &Path,
) -> Result<Option<IndexState>, IndexError> {
    let Ok(version) = FileVersion::read(path) else {
        return Ok(None);
    };
    let at = shared.roots.locate(path);
    let Some(stored) = store.stored(&at, version.len, version.modified_ns as i64, key)? else {
        return Ok(None);
    };
    shared.video_ids.insert(path.to_owned(), stored.video_id);
    let done = stored.index.as_ref().is_some_and(|r| r.pass == Pass::Done);
    let state = match &stored.index {
        _ if done => IndexState::Done,
        Some(row) if row.pass == Pass::Failed => IndexState::Failed {
            reason: row.error.clone().unwrap_or_else(|| "failed".into()),
        },
        _ => IndexState::Queued,
    };
    if !stored.samples.is_empty() {
        shared.show(path, &stored.samples);
    }
    shared.publish(Status {
        state: state.clone(),
        percent: if done { 100.0 } else { 0.0 },
        samples: stored.samples.len() as u64,
        duration_s: Some(stored.duration),
        input: stored.index.as_ref().and_then(|r| r.input),
        version: Some(version),
        ..Status::queued(path)
    });
    Ok(Some(state))
}

/// On PostgreSQL: hears the other processes' notices. Jobs queued elsewhere wake the idle
/// worker; a step committed elsewhere updates the video's status at once and its view (read
/// from the database) at most every [`VIEW_REFRESH`], and always at the end. After the
/// connection is lost and found again, every video not yet done is read again.
struct Follower {
    shared: Arc<Shared>,
    store: Store,
    db: Database,
    key: IndexKey,
    /// When each video's view was last read.
    refreshed: HashMap<PathBuf, Instant>,
    /// Views to read again once [`VIEW_REFRESH`] has passed: the index's id and when the
    /// oldest commit not shown yet was made.
    due: HashMap<PathBuf, (i64, i64)>,
}

impl Follower {
    fn run(mut self) {
        let _span = tracing::info_span!("index-listener").entered();
        let mut listener: Option<Listener> = None;
        let mut backoff: Option<Duration> = None;
        while !self.shared.stopping() {
            let Some(l) = listener.as_mut() else {
                match Listener::connect(&self.db) {
                    Ok(Some(l)) => {
                        if backoff.take().is_some() {
                            tracing::info!("listening to the cluster again");
                            self.catch_up();
                        }
                        listener = Some(l);
                    }
                    Ok(None) => return,
                    Err(e) => {
                        let wait = next_wait(backoff);
                        if backoff.is_none() {
                            tracing::warn!(error = %e, "not listening to the cluster; trying again");
                        }
                        backoff = Some(wait);
                        let c = self.shared.control();
                        if !c.stop {
                            drop(self.shared.wake.wait_timeout(c, wait));
                        }
                    }
                }
                continue;
            };
            match l.wait(LISTEN_TICK) {
                Ok(notices) => {
                    for notice in notices {
                        match notice {
                            Notice::Jobs(at) => {
                                self.shared.control().told_of_jobs = true;
                                self.shared.wake.notify_all();
                                if let Some(at) = at {
                                    self.discovered(&at);
                                }
                            }
                            Notice::Progress(payload) => self.heard(&payload),
                            // Not listened to here (the live crate's).
                            Notice::Streams(_) => {}
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the cluster's notices stopped; listening again");
                    listener = None;
                    backoff = Some(BACKEND_WAIT_FIRST);
                }
            }
            self.refresh_due();
        }
    }

    /// A video another process queued: told to this process's library when it is under one
    /// of its folders, there, and not known here yet (an upload through another instance, a
    /// file the other's watcher saw first: shared storage often tells no watcher).
    fn discovered(&self, at: &Location) {
        let Some(path) = self.shared.roots.resolve(at) else {
            return;
        };
        if self.shared.statuses.contains_key(&path) || !path.is_file() {
            return;
        }
        // Nobody listening (a worker has no library) is fine.
        let _ = self.shared.discoveries.send(path);
    }

    fn heard(&mut self, payload: &str) {
        let told: Told = match serde_json::from_str(payload) {
            Ok(told) => told,
            Err(e) => return tracing::debug!(error = %e, "a notice not understood"),
        };
        if told.owner == self.shared.owner {
            return;
        }
        let at = Location {
            root: told.root,
            path: told.path,
        };
        let Some(path) = self.shared.roots.resolve(&at) else {
            return;
        };
        // Only videos of this process's library (a worker of its own has none). A notice of
        // a job on a file since replaced is not told apart here: the worker's view of the
        // file's time may differ from this machine's, and the job stops at its next step.
        if !self.shared.statuses.contains_key(&path) {
            return;
        }
        self.shared.video_ids.insert(path.clone(), told.video_id);
        let finished = matches!(told.status.state, IndexState::Done | IndexState::Failed { .. });
        self.shared.publish(Status {
            path: path.clone(),
            ..told.status
        });
        let recent = self
            .refreshed
            .get(&path)
            .is_some_and(|t| t.elapsed() < VIEW_REFRESH);
        let committed_ms = self
            .due
            .get(&path)
            .map_or(told.committed_ms, |&(_, oldest)| oldest);
        if finished || !recent {
            self.refresh(&path, told.index_id, committed_ms);
        } else {
            self.due.insert(path, (told.index_id, committed_ms));
        }
    }

    fn refresh_due(&mut self) {
        let ready: Vec<(PathBuf, (i64, i64))> = self
            .due
            .iter()
            .filter(|(p, _)| self.refreshed.get(*p).is_none_or(|t| t.elapsed() >= VIEW_REFRESH))
            .map(|(p, due)| (p.clone(), *due))
            .collect();
        for (path, (index_id, committed_ms)) in ready {
            self.refresh(&path, index_id, committed_ms);
        }
    }

    fn refresh(&mut self, path: &Path, index_id: i64, committed_ms: i64) {
        self.due.remove(path);
        match self.store.samples(index_id) {
            Ok(samples) => {
                // A video taken out of the library meanwhile stays out.
                if self.shared.statuses.contains_key(path) {
                    self.shared.show(path, &samples);
                    let lag = &self.shared.lag;
                    let ms = u64::try_from(now_ms() - committed_ms).unwrap_or(0);
                    lag.shown.fetch_add(1, Ordering::Relaxed);
                    lag.sum_ms.fetch_add(ms, Ordering::Relaxed);
                    lag.max_ms.fetch_max(ms, Ordering::Relaxed);
                }
                self.refreshed.insert(path.to_owned(), Instant::now());
            }
            Err(e) => {
                tracing::debug!(error = %e, "reading another worker's samples; tried again");
                self.due.insert(path.to_owned(), (index_id, committed_ms));
            }
        }
    }

    /// Reads again every video not yet done: what was committed while nobody listened.
    fn catch_up(&mut self) {
        let open: Vec<PathBuf> = self
            .shared
            .statuses
            .iter()
            .filter(|e| !matches!(e.value().state, IndexState::Done))
            .map(|e| e.key().clone())
            .collect();
        for path in open {
            if let Err(e) = preload(&self.shared, &mut self.store, &self.key, &path) {
                tracing::debug!(error = %e, "catching up after an outage");
                break;
            }
        }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use pigweight_decode::DecoderConfig;
    use pigweight_inference::SchedulerConfig;
    use pigweight_inference::fake::FakeDetector;

    use super::*;
    use crate::roots::Root;

    /// A worker tells the cluster its video's input with its status: the model's own (`null`)
    /// stays apart from not chosen yet (absent).
    #[test]
    fn a_chosen_input_crosses_the_cluster_as_chosen() {
        for input in [None, Some(None), Some(Some(512))] {
            let status = Status {
                input,
                ..Status::queued(Path::new("pen.mp4"))
            };
            let told: Status = serde_json::from_str(&serde_json::to_string(&status).unwrap()).unwrap();
            assert_eq!(told.input, input);
        }
    }

    fn api_instance(db: &Database, root: &Path) -> Indexer {
        let detector = FakeDetector::new("fake-pig-model", 8);
        let key = IndexKey::new(pigweight_inference::Detector::info(&detector), 1.0);
        let scheduler = Arc::new(Scheduler::start(Box::new(detector), SchedulerConfig::default()).unwrap());
        let decoder = Decoder::new(DecoderConfig::default(), MemoryBudget::new(1 << 30));
        let node = Node {
            roots: Roots::new(vec![Root {
                name: Some("barn1".into()),
                path: root.to_owned(),
            }])
            .unwrap(),
            indexing: false,
        };
        Indexer::start(db, scheduler, key, IndexerConfig::default(), &decoder, node).unwrap()
    }

    #[test]
    fn a_video_queued_by_one_instance_is_told_to_the_others_at_their_own_mount_points() {
        let server = crate::testing::Postgres::start();
        let db: Database = server.url().parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let share = dir.path().join("share");
        std::fs::create_dir_all(share.join("pen")).unwrap();
        let mount = dir.path().join("mnt");
        std::os::unix::fs::symlink(&share, &mount).unwrap();
        let here = api_instance(&db, &share);
        let there = api_instance(&db, &mount);
        let mut told = there.discoveries();
        // A file uploaded through `here`: `there` hears of it at its own path, once listening.
        std::fs::write(share.join("pen/new.mp4"), b"bytes").unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let heard = loop {
            here.add(&share.join("pen/new.mp4"));
            std::thread::sleep(Duration::from_millis(200));
            match told.try_recv() {
                Ok(path) => break path,
                Err(_) => assert!(Instant::now() < deadline, "never told"),
            }
            // Added again only once it is no longer queued: make it so.
            here.remove(&share.join("pen/new.mp4"));
        };
        assert_eq!(heard, mount.join("pen/new.mp4"));
        // A video it already lists is not told again.
        there.add(&heard);
        std::thread::sleep(Duration::from_millis(300));
        here.remove(&share.join("pen/new.mp4"));
        here.add(&share.join("pen/new.mp4"));
        std::thread::sleep(Duration::from_secs(1));
        assert!(told.try_recv().is_err());
    }
}
