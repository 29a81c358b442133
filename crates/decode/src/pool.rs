//! A bounded set of open video sources, shared by many callers and many videos.
//!
//! A pipeline holds a decoder, buffers and threads, so both the number open at once and the
//! memory they hold (reserved from the [`MemoryBudget`] by their frame size) are capped. A
//! caller leases one for the file it needs; among the idle sources of that file it gets the one
//! that can reach the wanted frame by decoding forward, when there is one. When the cap or the
//! budget is reached, the least recently used idle sources (of any file) are closed to make
//! room; when every source is busy, the caller waits a bounded time. A source idle for longer
//! than the idle time is closed by [`SourcePool::close_idle`], which the decoder calls
//! periodically.

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::budget::{MemoryBudget, Reservation};
use crate::error::DecodeError;
use crate::source::FrameSource;
use crate::version::FileKey;

#[derive(Debug)]
struct Idle {
    key: FileKey,
    source: Box<dyn FrameSource>,
    memory: Reservation,
    last_used: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    idle: Vec<Idle>,
    /// Sources in existence: idle, leased, or being opened.
    open: usize,
}

#[derive(Debug)]
pub(crate) struct SourcePool {
    max_open: usize,
    wait: Duration,
    idle_close: Duration,
    budget: Arc<MemoryBudget>,
    inner: Mutex<Inner>,
    freed: Condvar,
}

/// How long a caller waiting for room sleeps before it looks at the budget again (other holders
/// of the budget, encoders, do not wake the pool when they give bytes back).
const BUDGET_POLL: Duration = Duration::from_millis(20);

impl SourcePool {
    pub(crate) fn new(
        max_open: usize,
        wait: Duration,
        idle_close: Duration,
        budget: Arc<MemoryBudget>,
    ) -> Self {
        Self {
            max_open: max_open.max(1),
            wait,
            idle_close,
            budget,
            inner: Mutex::default(),
            freed: Condvar::new(),
        }
    }

    pub(crate) fn budget(&self) -> &Arc<MemoryBudget> {
        &self.budget
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leases a source of `key`, best placed to reach frame `near`, opening one with `open` if
    /// none is idle; `bytes` is what a new source is taken to hold until it is open (then its
    /// reservation is cut to [`crate::source_bytes`] of its real frame size).
    pub(crate) fn lease(
        &self,
        key: &FileKey,
        near: Option<u64>,
        bytes: u64,
        open: impl FnOnce() -> Result<Box<dyn FrameSource>, DecodeError>,
    ) -> Result<Lease<'_>, DecodeError> {
        if bytes > self.budget.limit() {
            return Err(DecodeError::OverBudget {
                needed: bytes,
                budget: self.budget.limit(),
            });
        }
        let deadline = Instant::now() + self.wait;
        let mut inner = self.lock();
        let memory = loop {
            if let Some(i) = best_idle(&inner.idle, key, near) {
                let idle = inner.idle.swap_remove(i);
                return Ok(Lease {
                    pool: self,
                    key: key.clone(),
                    source: Some(idle.source),
                    memory: Some(idle.memory),
                });
            }
            if inner.open < self.max_open
                && let Some(memory) = self.budget.try_reserve(bytes)
            {
                inner.open += 1;
                break memory;
            }
            // No room (a source too many, or not the bytes): close the least recently used
            // idle source, and look again.
            if let Some(i) = lru(&inner.idle) {
                let old = inner.idle.swap_remove(i);
                inner.open -= 1;
                drop(inner);
                tracing::debug!(path = %old.key.path.display(), "closing the least recently used idle video source to make room");
                drop(old);
                inner = self.lock();
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(if inner.open < self.max_open {
                    DecodeError::MemoryBusy {
                        needed: bytes,
                        budget: self.budget.limit(),
                    }
                } else {
                    DecodeError::Busy(self.max_open)
                });
            }
            inner = self
                .freed
                .wait_timeout(inner, left.min(BUDGET_POLL))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        drop(inner);
        match open() {
            Ok(source) => {
                let mut memory = memory;
                let (w, h) = source.native_size();
                memory.shrink_to(crate::budget::source_bytes(w, h));
                Ok(Lease {
                    pool: self,
                    key: key.clone(),
                    source: Some(source),
                    memory: Some(memory),
                })
            }
            Err(e) => {
                self.lock().open -= 1;
                drop(memory);
                self.freed.notify_one();
                Err(e)
            }
        }
    }

    /// Closes the sources that have been idle for longer than the idle time; returns how many.
    pub(crate) fn close_idle(&self) -> usize {
        let stale: Vec<Idle> = {
            let mut inner = self.lock();
            let (stale, kept) = std::mem::take(&mut inner.idle)
                .into_iter()
                .partition(|idle| idle.last_used.elapsed() >= self.idle_close);
            inner.idle = kept;
            inner.open -= stale.len();
            stale
        };
        let closed = stale.len();
        if closed > 0 {
            tracing::debug!(closed, "closed idle video sources");
            drop(stale);
            self.freed.notify_all();
            crate::budget::give_back_freed_memory();
        }
        closed
    }

    /// Sources open now, and how many of them are idle.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.open, inner.idle.len())
    }

    /// Closes every idle source of `path`, e.g. after the file changed or was removed.
    pub(crate) fn forget(&self, path: &Path) {
        let removed: Vec<Idle> = {
            let mut inner = self.lock();
            let (gone, kept) = std::mem::take(&mut inner.idle)
                .into_iter()
                .partition(|idle| &*idle.key.path == path);
            inner.idle = kept;
            inner.open -= gone.len();
            gone
        };
        self.freed.notify_all();
        drop(removed);
    }
}

/// Prefers an idle source that reaches `near` by decoding forward, nearest first; else the most
/// recently used one of that file.
fn best_idle(idle: &[Idle], key: &FileKey, near: Option<u64>) -> Option<usize> {
    let same = || idle.iter().enumerate().filter(|(_, i)| &i.key == key);
    let forward = near.and_then(|target| {
        same()
            .filter_map(|(i, idle)| {
                let pos = idle.source.position()?;
                (pos <= target).then(|| (target - pos, i))
            })
            .min()
            .map(|(_, i)| i)
    });
    forward.or_else(|| same().max_by_key(|(_, i)| i.last_used).map(|(i, _)| i))
}

fn lru(idle: &[Idle]) -> Option<usize> {
    idle.iter()
        .enumerate()
        .min_by_key(|(_, i)| i.last_used)
        .map(|(i, _)| i)
}

/// A source on loan from the pool; it goes back when dropped (or is closed if it broke).
#[derive(Debug)]
pub(crate) struct Lease<'a> {
    pool: &'a SourcePool,
    key: FileKey,
    source: Option<Box<dyn FrameSource>>,
    /// What the source holds of the budget; it goes back with the source.
    memory: Option<Reservation>,
}

impl Deref for Lease<'_> {
    type Target = dyn FrameSource;
    fn deref(&self) -> &(dyn FrameSource + 'static) {
        // Invariant: `source` is only taken in `drop`.
        self.source.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut (dyn FrameSource + 'static) {
        self.source.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let (Some(source), Some(memory)) = (self.source.take(), self.memory.take()) else {
            return;
        };
        if source.is_broken() {
            self.pool.lock().open -= 1;
            drop(source);
            drop(memory);
        } else {
            self.pool.lock().idle.push(Idle {
                key: self.key.clone(),
                source,
                memory,
                last_used: Instant::now(),
            });
        }
        self.pool.freed.notify_one();
    }
}
