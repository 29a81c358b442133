//! The front door for many callers and many videos: a bounded pool of open sources, the facts
//! of each file probed once, and a byte-bounded cache of decoded frames. Open sources share a
//! [`MemoryBudget`] with whoever else the caller gives it to (the API's encoders), and close
//! after an idle time, so memory that one large video took comes back.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::budget::MemoryBudget;
use crate::error::DecodeError;
use crate::frame::{Frame, Mode, Read, Size, Target};
use crate::open::{GstOpener, Opener};
use crate::pool::{Lease, SourcePool};
use crate::source::{Probed, SourceConfig};
use crate::version::FileKey;

/// Bounds and tuning of a [`Decoder`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecoderConfig {
    /// Most pipelines open at once, over all videos; the least recently used idle one closes.
    pub max_open_sources: usize,
    /// How long a caller waits for a source when all are busy, in milliseconds.
    pub busy_wait_ms: u64,
    /// Budget of the decoded-frame cache, in bytes.
    pub frame_cache_bytes: u64,
    /// Budget of the remembered frame tables (and facts) of probed files, in bytes: about 8
    /// bytes per frame, 17 MB for a day at 25 fps. The least recently used go first (and are
    /// read again when asked for: an MP4's own table in well under a second).
    pub frame_table_bytes: u64,
    /// Seconds a source may stay idle before it is closed (and its memory given back).
    pub idle_close_s: f64,
    /// Per-source tuning.
    pub source: SourceConfig,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self {
            max_open_sources: 8,
            busy_wait_ms: 30_000,
            frame_cache_bytes: 256 * 1024 * 1024,
            frame_table_bytes: 128 * 1024 * 1024,
            idle_close_s: 30.0,
            source: SourceConfig::default(),
        }
    }
}

/// Counters of a [`Decoder`], for stats pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DecoderStats {
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_entries: u64,
    pub cache_bytes: u64,
    pub cache_budget_bytes: u64,
    pub sources_open: u64,
    pub sources_idle: u64,
    /// The memory budget open sources share with encoders, and what is reserved of it now.
    pub memory_budget_bytes: u64,
    pub memory_reserved_bytes: u64,
    /// The remembered frame tables: found and probed again, how many, their bytes and budget.
    pub table_hits: u64,
    pub table_misses: u64,
    pub table_entries: u64,
    pub table_bytes: u64,
    pub table_budget_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FrameKey {
    file: FileKey,
    index: u64,
    width: u32,
    height: u32,
}

/// Frames of many videos for many callers, decoded once and cached.
///
/// All methods block (decoding does); call them from blocking threads, not async tasks.
#[derive(Debug)]
pub struct Decoder {
    config: DecoderConfig,
    pool: SourcePool,
    opener: Arc<dyn Opener>,
    probed: moka::sync::Cache<FileKey, Arc<Probed>>,
    frames: moka::sync::Cache<FrameKey, Arc<Frame>>,
    hits: AtomicU64,
    misses: AtomicU64,
    table_hits: AtomicU64,
    table_misses: AtomicU64,
}

impl Decoder {
    /// A decoder whose sources hold at most `budget` (shared with whoever else holds it) and
    /// close after `config.idle_close_s` idle; a thread of its own closes them (it ends with the
    /// decoder).
    pub fn new(config: DecoderConfig, budget: Arc<MemoryBudget>) -> Arc<Self> {
        Self::with_opener(config, budget, Arc::new(GstOpener))
    }

    /// A decoder whose files `opener` opens (a fake one in tests of the layers above).
    pub fn with_opener(
        config: DecoderConfig,
        budget: Arc<MemoryBudget>,
        opener: Arc<dyn Opener>,
    ) -> Arc<Self> {
        let frames = moka::sync::Cache::builder()
            .max_capacity(config.frame_cache_bytes)
            .weigher(|_: &FrameKey, f: &Arc<Frame>| u32::try_from(f.data.len()).unwrap_or(u32::MAX))
            .build();
        let idle_close = Duration::try_from_secs_f64(config.idle_close_s).unwrap_or(Duration::MAX);
        let decoder = Arc::new(Self {
            pool: SourcePool::new(
                config.max_open_sources,
                Duration::from_millis(config.busy_wait_ms),
                idle_close,
                budget,
            ),
            opener,
            probed: moka::sync::Cache::builder()
                .max_capacity(config.frame_table_bytes)
                .weigher(|_: &FileKey, p: &Arc<Probed>| {
                    // The table, and a kilobyte for the facts beside it.
                    u32::try_from(p.timeline.heap_bytes() + 1024).unwrap_or(u32::MAX)
                })
                .build(),
            frames,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            table_hits: AtomicU64::new(0),
            table_misses: AtomicU64::new(0),
            config,
        });
        let weak = Arc::downgrade(&decoder);
        let every = (idle_close / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
        let started = std::thread::Builder::new()
            .name("decoder-idle".into())
            .spawn(move || close_idle_sources(&weak, every));
        if let Err(e) = started {
            tracing::warn!(error = %e, "no thread to close idle video sources; they close only to make room");
        }
        decoder
    }

    /// How its sources are tuned.
    pub fn source_config(&self) -> &SourceConfig {
        &self.config.source
    }

    /// What opens its files.
    pub fn opener(&self) -> &Arc<dyn Opener> {
        &self.opener
    }

    /// The budget its sources reserve from.
    pub fn budget(&self) -> &Arc<MemoryBudget> {
        self.pool.budget()
    }

    /// The file's facts and frame table, probed on first use and remembered per file version.
    pub fn probe(&self, path: &Path) -> Result<Arc<Probed>, DecodeError> {
        let key = FileKey::of(path)?;
        if let Some(probed) = self.probed.get(&key) {
            self.table_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(probed);
        }
        self.table_misses.fetch_add(1, Ordering::Relaxed);
        let lease = self.lease(&key, None)?;
        Ok(Arc::clone(lease.probed()))
    }

    /// The facts of this version of a file if they were probed already: no blocking call, not
    /// even a `stat` (for answering from memory on an async thread).
    pub fn probed_if_known(&self, key: &FileKey) -> Option<Arc<Probed>> {
        self.probed.get(key)
    }

    fn lease(&self, key: &FileKey, near: Option<u64>) -> Result<Lease<'_>, DecodeError> {
        // Until the file is open, the largest frame it may have.
        let bytes = match self.probed.get(key) {
            Some(p) => crate::budget::source_bytes(p.info.width, p.info.height),
            None => crate::budget::source_bytes_of_pixels(self.config.source.max_frame_pixels),
        };
        self.pool.lease(key, near, bytes, || {
            let path = &key.path;
            match self.probed.get(key) {
                Some(probed) => self.opener.reopen(path, &probed, &self.config.source),
                None => {
                    let file = self.opener.open(path, &self.config.source)?;
                    self.probed.insert(key.clone(), Arc::clone(file.probed()));
                    Ok(file)
                }
            }
        })
    }

    /// One frame, from the cache when it was decoded before at this size.
    pub fn frame(
        &self,
        path: &Path,
        target: Target,
        mode: Mode,
        size: Size,
    ) -> Result<Arc<Frame>, DecodeError> {
        let key = FileKey::of(path)?;
        let probed = match self.probed.get(&key) {
            Some(p) => p,
            None => self.probe(path)?,
        };
        let index = probed.timeline.resolve(target, mode)?;
        let (width, height) = size.resolve((probed.info.width, probed.info.height))?;
        let frame_key = FrameKey {
            file: key.clone(),
            index,
            width,
            height,
        };
        let mut decoded = false;
        let frame = self
            .frames
            .try_get_with(frame_key, || {
                decoded = true;
                let mut lease = self.lease(&key, Some(index))?;
                lease
                    .frame(Target::Index(index), mode, Size::Exact { width, height })
                    .map(Arc::new)
            })
            .map_err(|e: Arc<DecodeError>| (*e).clone())?;
        let counter = if decoded { &self.misses } else { &self.hits };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(frame)
    }

    /// A sequential read (for indexing); its frames bypass the cache.
    pub fn read(
        &self,
        path: &Path,
        read: Read,
        size: Size,
        each: &mut dyn FnMut(Frame) -> ControlFlow<()>,
    ) -> Result<(), DecodeError> {
        let key = FileKey::of(path)?;
        let mut lease = self.lease(&key, None)?;
        lease.read(read, size, each)
    }

    /// Closes sources and drops cached facts of `path` (after it changed or was deleted).
    pub fn forget(&self, path: &Path) {
        self.pool.forget(path);
        let path: Arc<Path> = path.into();
        let _ = self.probed.invalidate_entries_if(move |k, _| k.path == path);
    }

    pub fn stats(&self) -> DecoderStats {
        self.frames.run_pending_tasks();
        self.probed.run_pending_tasks();
        let (open, idle) = self.pool.counts();
        DecoderStats {
            cache_hits: self.hits.load(Ordering::Relaxed),
            cache_misses: self.misses.load(Ordering::Relaxed),
            cache_entries: self.frames.entry_count(),
            cache_bytes: self.frames.weighted_size(),
            cache_budget_bytes: self.config.frame_cache_bytes,
            sources_open: open as u64,
            sources_idle: idle as u64,
            memory_budget_bytes: self.budget().limit(),
            memory_reserved_bytes: self.budget().used(),
            table_hits: self.table_hits.load(Ordering::Relaxed),
            table_misses: self.table_misses.load(Ordering::Relaxed),
            table_entries: self.probed.entry_count(),
            table_bytes: self.probed.weighted_size(),
            table_budget_bytes: self.config.frame_table_bytes,
        }
    }
}

/// Closes idle sources every `every` until the decoder is gone.
fn close_idle_sources(decoder: &Weak<Decoder>, every: Duration) {
    loop {
        std::thread::sleep(every);
        let Some(decoder) = decoder.upgrade() else {
            return;
        };
        decoder.pool.close_idle();
    }
}
