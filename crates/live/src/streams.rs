//! Every live stream of the process.

use std::sync::Arc;

use dashmap::DashMap;
use pigweight_decode::{LiveConfig, Opener};
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
    /// Most streams at once.
    pub max_streams: usize,
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

/// The live streams by id, each captured by a thread of its own.
#[derive(Debug)]
pub struct Streams {
    settings: LiveSettings,
    opener: Arc<dyn Opener>,
    scheduler: Arc<Scheduler>,
    by_id: DashMap<String, Arc<Live>>,
}

impl Streams {
    /// No streams yet; those added are opened by `opener` and run the model through
    /// `scheduler`.
    pub fn new(settings: LiveSettings, opener: Arc<dyn Opener>, scheduler: Arc<Scheduler>) -> Self {
        Self {
            settings,
            opener,
            scheduler,
            by_id: DashMap::new(),
        }
    }

    pub fn settings(&self) -> &LiveSettings {
        &self.settings
    }

    /// Adds a stream of `source` (named `name`, else the source's own name) and starts its
    /// capture.
    pub fn add(&self, source: Source, name: Option<String>) -> Result<Arc<Live>, LiveError> {
        if self.by_id.len() >= self.settings.max_streams {
            return Err(LiveError::TooMany(self.settings.max_streams));
        }
        let id = source.id();
        let name = name.unwrap_or_else(|| source.default_name.clone());
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
        tracing::info!(stream = %id, source = %live.source.shown, "stream added");
        Ok(live)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Live>> {
        self.by_id.get(id).map(|l| Arc::clone(&l))
    }

    /// Removes a stream: its capture ends and its viewers' waits end.
    pub fn remove(&self, id: &str) -> Option<Arc<Live>> {
        let (_, live) = self.by_id.remove(id)?;
        live.stop();
        tracing::info!(stream = %id, "stream removed");
        Some(live)
    }

    /// Every stream, by name.
    pub fn all(&self) -> Vec<Arc<Live>> {
        let mut all: Vec<Arc<Live>> = self.by_id.iter().map(|l| Arc::clone(&l)).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every stream's figures: per viewer quality, bitrate and dropped frames; encodings shared.
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
    /// Every capture thread ends with the registry.
    fn drop(&mut self) {
        for live in self.by_id.iter() {
            live.stop();
        }
    }
}
