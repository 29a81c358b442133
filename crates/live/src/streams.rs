//! Every live stream: the cluster's list in the database, and the ones this process captures.
//!
//! A stream is captured by one process at a time, the holder of its lease (`stream:{id}`). The
//! process that adds a stream takes it; a keeper thread renews what this process holds, stops
//! what was removed or taken over, and takes streams nobody holds (their holder stopped, or
//! died and its lease ran out) while it has room. On one machine with SQLite that process is
//! the only one, and its streams come back when it restarts.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak, mpsc};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use pigweight_decode::{LiveConfig, Opener};
use pigweight_indexer::{Database, LeaseHolder, Listener, Roots, Store, StreamDef};
use pigweight_inference::Scheduler;

use crate::capture::Capture;
use crate::error::LiveError;
use crate::live::Live;
use crate::source::Source;
use crate::viewer::ClientFigures;

/// How streams are captured.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSettings {
    /// Frames per second captured from each stream.
    pub fps: u32,
    /// The model runs every this many frames (sooner on a scene change); the tracker holds the
    /// count in between.
    pub infer_every: u64,
    /// Most streams this process captures at once.
    pub max_streams: usize,
    /// RTSP cameras: the jitter buffer's latency (what a frame waits for late packets).
    pub rtsp_latency_ms: u32,
    /// How long a process holds a stream without renewing (it renews every third of it): a
    /// process that dies leaves its streams to the others after this.
    pub lease: Duration,
}

/// Who this process is among those that share the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub database: Database,
    /// How the database's video locations map to files here (for looped videos).
    pub roots: Roots,
    /// Its name on the leases it holds.
    pub owner: String,
    /// Where the other processes reach its HTTP API, to serve their viewers of its streams.
    pub url: Option<String>,
}

/// One stream's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamFigures {
    pub id: String,
    pub frames: u64,
    pub inferences: u64,
    pub encodes: u64,
    pub encode_shared: u64,
    pub encode_ms: f64,
    pub clients: Vec<ClientFigures>,
}

/// Every stream's figures, with totals over them.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamsFigures {
    pub clients: u64,
    pub frames_dropped: u64,
    /// By id.
    pub streams: Vec<StreamFigures>,
}

/// A stream another process captures, or none does yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub id: String,
    pub name: String,
    /// The source as shown (a camera URL without credentials).
    pub shown: String,
    /// The process capturing it; `None` while nobody does (its holder stopped or died, and
    /// another takes it over within a lease).
    pub holder: Option<LeaseHolder>,
}

/// Where a stream is captured.
#[derive(Debug, Clone)]
pub enum Placed {
    Here(Arc<Live>),
    Elsewhere(Remote),
}

/// The live streams, each captured by a thread of its own in one process of the cluster.
#[derive(Debug)]
pub struct Streams {
    settings: LiveSettings,
    opener: Arc<dyn Opener>,
    scheduler: Arc<Scheduler>,
    member: Member,
    /// The streams captured here, by id.
    by_id: DashMap<String, Arc<Live>>,
    store: Mutex<Store>,
    /// Dropped to stop the keeper thread.
    keeper: Mutex<Option<mpsc::Sender<()>>>,
}

/// How long the keeper waits for notices before it looks at the clock and its stop signal.
const TICK: Duration = Duration::from_millis(100);

fn lease_name(id: &str) -> String {
    format!("stream:{id}")
}

impl Streams {
    /// Opens the shared list of streams and starts the keeper thread, which at once takes the
    /// streams nobody captures (on a single box: those of the last run). Streams are opened
    /// by `opener` and run the model through `scheduler`.
    pub fn start(
        settings: LiveSettings,
        opener: Arc<dyn Opener>,
        scheduler: Arc<Scheduler>,
        member: Member,
    ) -> Result<Arc<Self>, LiveError> {
        let store = Store::connect(&member.database)?;
        let (stop, stopped) = mpsc::channel();
        let streams = Arc::new(Self {
            settings,
            opener,
            scheduler,
            member,
            by_id: DashMap::new(),
            store: Mutex::new(store),
            keeper: Mutex::new(Some(stop)),
        });
        let weak = Arc::downgrade(&streams);
        let database = streams.member.database.clone();
        let every = streams.settings.lease / 3;
        std::thread::Builder::new()
            .name("streams-keeper".into())
            .spawn(move || keep(&weak, &stopped, &database, every))
            .map_err(LiveError::Thread)?;
        Ok(streams)
    }

    pub fn settings(&self) -> &LiveSettings {
        &self.settings
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a stream of `source` (named `name`, else the source's own name) for the whole
    /// cluster and captures it here. Blocks on the database.
    pub fn add(&self, source: Source, name: Option<String>) -> Result<Arc<Live>, LiveError> {
        if self.by_id.len() >= self.settings.max_streams {
            return Err(LiveError::TooMany(self.settings.max_streams));
        }
        let def = StreamDef {
            id: source.id(),
            name: name.unwrap_or_else(|| source.default_name.clone()),
            shown: source.shown.clone(),
            source: source.kept.clone(),
        };
        let mut store = self.store();
        // The lease first: another process hearing of the stream finds it held.
        let lease = lease_name(&def.id);
        if !store.take_lease(
            &lease,
            &self.member.owner,
            self.member.url.as_deref(),
            self.settings.lease,
        )? {
            return Err(LiveError::Duplicate(def.id));
        }
        if !store.add_stream(&def)? {
            // Ours once this process's keeper looks, as it would have been anyway.
            return Err(LiveError::Duplicate(def.id));
        }
        self.capture(def.id.clone(), def.name, source).inspect_err(|_| {
            let _ = store.remove_stream(&def.id);
            let _ = store.release_lease(&lease, &self.member.owner);
        })
    }

    /// Starts capturing a stream here.
    fn capture(&self, id: String, name: String, source: Source) -> Result<Arc<Live>, LiveError> {
        let (live, stop) = Live::new(id.clone(), name, source);
        let live = Arc::new(live);
        match self.by_id.entry(id.clone()) {
            dashmap::Entry::Occupied(_) => return Err(LiveError::Duplicate(id)),
            dashmap::Entry::Vacant(slot) => {
                slot.insert(Arc::clone(&live));
            }
        }
        let capture = Capture {
            opener: Arc::clone(&self.opener),
            scheduler: Arc::clone(&self.scheduler),
            config: LiveConfig {
                fps: self.settings.fps,
                rtsp_latency_ms: self.settings.rtsp_latency_ms,
                ..LiveConfig::default()
            },
            every_n_frames: self.settings.infer_every,
            stop,
        };
        let capturing = Arc::clone(&live);
        std::thread::Builder::new()
            .name(format!("stream-{id}"))
            .spawn(move || capture.run(&capturing))
            .map_err(|e| {
                self.by_id.remove(&id);
                LiveError::Thread(e)
            })?;
        tracing::info!(stream = %id, source = %live.source.shown, "capturing stream");
        Ok(live)
    }

    /// The stream `id` if it is captured here (never blocks).
    pub fn get(&self, id: &str) -> Option<Arc<Live>> {
        self.by_id.get(id).map(|l| Arc::clone(&l))
    }

    /// Where the stream `id` is captured; `None` when there is no such stream. Blocks on the
    /// database unless it is captured here.
    pub fn placed(&self, id: &str) -> Result<Option<Placed>, LiveError> {
        if let Some(live) = self.get(id) {
            return Ok(Some(Placed::Here(live)));
        }
        let mut store = self.store();
        let Some(def) = store.streams()?.into_iter().find(|d| d.id == id) else {
            return Ok(None);
        };
        let lease = lease_name(id);
        let holder = store.leases(&lease)?.into_iter().find(|h| h.name == lease);
        Ok(Some(self.place(def, holder)))
    }

    fn place(&self, def: StreamDef, holder: Option<LeaseHolder>) -> Placed {
        match self.get(&def.id) {
            Some(live) => Placed::Here(live),
            None => Placed::Elsewhere(Remote {
                shown: def.shown,
                id: def.id,
                name: def.name,
                holder,
            }),
        }
    }

    /// Every stream of the cluster, oldest first, and where it is captured. Blocks on the
    /// database.
    pub fn placements(&self) -> Result<Vec<Placed>, LiveError> {
        let mut store = self.store();
        let defs = store.streams()?;
        let holders = store.leases("stream:")?;
        drop(store);
        Ok(defs
            .into_iter()
            .map(|def| {
                let lease = lease_name(&def.id);
                let holder = holders.iter().find(|h| h.name == lease).cloned();
                self.place(def, holder)
            })
            .collect())
    }

    /// Removes a stream from the cluster: its capture ends, here or in the process holding it,
    /// and its viewers' waits end. False when there was no such stream. Blocks on the database.
    pub fn remove(&self, id: &str) -> Result<bool, LiveError> {
        let mut store = self.store();
        let removed = store.remove_stream(id)?;
        let here = self.stop_here(&mut store, id, true);
        if removed || here {
            tracing::info!(stream = %id, "stream removed");
        }
        Ok(removed || here)
    }

    /// Ends the capture of `id` here, letting go of its lease when `release`; false when it
    /// was not captured here.
    fn stop_here(&self, store: &mut Store, id: &str, release: bool) -> bool {
        let Some((_, live)) = self.by_id.remove(id) else {
            return false;
        };
        live.stop();
        if release && let Err(e) = store.release_lease(&lease_name(id), &self.member.owner) {
            // It runs out by itself.
            tracing::warn!(stream = %id, error = %e, "stream's lease not let go");
        }
        true
    }

    /// One look at the database: stops what was removed or taken over, renews what this
    /// process holds, and takes what nobody holds while there is room.
    fn round(&self) -> Result<(), LiveError> {
        let mut store = self.store();
        let defs = store.streams()?;
        let listed: HashSet<&str> = defs.iter().map(|d| d.id.as_str()).collect();
        let here: Vec<String> = self.by_id.iter().map(|l| l.id.clone()).collect();
        for id in here {
            if !listed.contains(id.as_str()) {
                tracing::info!(stream = %id, "stream removed by another process");
                self.stop_here(&mut store, &id, true);
            } else if !store.take_lease(
                &lease_name(&id),
                &self.member.owner,
                self.member.url.as_deref(),
                self.settings.lease,
            )? {
                tracing::warn!(stream = %id, "stream taken over by another process (this one's lease ran out)");
                self.stop_here(&mut store, &id, false);
            }
        }
        for def in defs {
            if self.by_id.len() >= self.settings.max_streams {
                break;
            }
            if self.by_id.contains_key(&def.id) {
                continue;
            }
            // A video under a root this machine does not map is for the others.
            let Some(source) = Source::of(&def, &self.member.roots)? else {
                continue;
            };
            if store.take_lease(
                &lease_name(&def.id),
                &self.member.owner,
                self.member.url.as_deref(),
                self.settings.lease,
            )? {
                tracing::info!(stream = %def.id, "stream taken: nobody captured it");
                if let Err(e) = self.capture(def.id.clone(), def.name, source) {
                    tracing::warn!(stream = %def.id, error = %e, "stream not captured");
                    let _ = store.release_lease(&lease_name(&def.id), &self.member.owner);
                }
            }
        }
        Ok(())
    }

    /// The streams captured here, by name.
    pub fn all(&self) -> Vec<Arc<Live>> {
        let mut all: Vec<Arc<Live>> = self.by_id.iter().map(|l| Arc::clone(&l)).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// How many streams are captured here.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The figures of every stream captured here: per viewer quality, bitrate and dropped
    /// frames; encodings shared.
    pub fn figures(&self) -> StreamsFigures {
        let mut streams: Vec<StreamFigures> = self
            .by_id
            .iter()
            .map(|live| {
                let info = live.info();
                StreamFigures {
                    id: info.id,
                    frames: info.frames,
                    inferences: info.inferences,
                    encodes: info.encodes,
                    encode_shared: info.encode_shared,
                    encode_ms: info.encode_ms,
                    clients: live.clients(),
                }
            })
            .collect();
        streams.sort_by(|a, b| a.id.cmp(&b.id));
        StreamsFigures {
            clients: streams.iter().map(|s| s.clients.len() as u64).sum(),
            frames_dropped: streams
                .iter()
                .flat_map(|s| &s.clients)
                .map(|c| c.frames_dropped)
                .sum(),
            streams,
        }
    }
}

impl Drop for Streams {
    /// Every capture thread ends with the registry, the keeper too, and this process's leases
    /// are let go, so other processes take its streams over at once.
    fn drop(&mut self) {
        self.keeper.lock().unwrap_or_else(PoisonError::into_inner).take();
        let ids: Vec<String> = self.by_id.iter().map(|l| l.id.clone()).collect();
        let store = self.store.get_mut().unwrap_or_else(PoisonError::into_inner);
        let mut released = 0;
        for id in &ids {
            if let Some((_, live)) = self.by_id.remove(id) {
                live.stop();
            }
            if matches!(store.release_lease(&lease_name(id), &self.member.owner), Ok(true)) {
                released += 1;
            }
        }
        if released > 0 {
            tracing::info!(streams = released, "streams let go for other processes");
        }
    }
}

/// The keeper thread: a round every `every` and whenever another process adds or removes a
/// stream or lets one go, until `stop` closes or the streams are dropped.
fn keep(streams: &Weak<Streams>, stop: &mpsc::Receiver<()>, database: &Database, every: Duration) {
    let _span = tracing::info_span!("streams-keeper").entered();
    let shared = matches!(database, Database::Postgres(_));
    let mut listener: Option<Listener> = None;
    let mut due = Instant::now();
    let mut failing = false;
    loop {
        if shared && listener.is_none() && Instant::now() >= due {
            match Listener::streams(database) {
                Ok(l) => listener = l,
                Err(e) => tracing::debug!(error = %e, "not listening for streams yet"),
            }
        }
        let heard = match listener.as_mut() {
            Some(l) => match l.wait(TICK) {
                Ok(notices) => !notices.is_empty(),
                Err(e) => {
                    tracing::debug!(error = %e, "stream notices stopped; listening again");
                    listener = None;
                    // What was missed is read at the next round.
                    true
                }
            },
            // Nobody else to hear (SQLite), or not listening yet: wait for the next round.
            None => match stop.recv_timeout(if shared {
                TICK
            } else {
                due.saturating_duration_since(Instant::now())
            }) {
                Err(mpsc::RecvTimeoutError::Timeout) => false,
                _ => return,
            },
        };
        if matches!(stop.try_recv(), Err(mpsc::TryRecvError::Disconnected)) {
            return;
        }
        if !heard && Instant::now() < due {
            continue;
        }
        let Some(streams) = streams.upgrade() else { return };
        match streams.round() {
            Ok(()) if failing => {
                tracing::info!("streams' database reachable again");
                failing = false;
            }
            Ok(()) => {}
            // Streams captured here go on; their leases are renewed once it is back.
            Err(e) if !failing => {
                tracing::warn!(error = %e, "streams' database unreachable; capturing what this process holds");
                failing = true;
            }
            Err(_) => {}
        }
        due = Instant::now() + every;
    }
}
