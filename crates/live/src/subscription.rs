//! A viewer's hold on a stream: the newest frame when it is ready for one, and its JPEG at the
//! viewer's quality.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::watch;

use crate::adapt::{Adapt, Level};
use crate::error::LiveError;
use crate::live::{Live, LiveFrame};
use crate::viewer::{ViewerKind, ViewerStats};

/// A viewer of one stream. It is listed among the stream's clients while it lives.
#[derive(Debug)]
pub struct Subscription {
    live: Arc<Live>,
    key: u64,
    stats: Arc<ViewerStats>,
    frames: watch::Receiver<Option<Arc<LiveFrame>>>,
    last: Option<Arc<LiveFrame>>,
    adapt: Adapt,
}

impl Subscription {
    /// Starts watching `live` at `quality`, one of `levels`, stepping between them as the
    /// viewer keeps up with `target_bps` or not.
    pub fn new(live: &Arc<Live>, kind: ViewerKind, levels: &[u8], quality: u8, target_bps: f64) -> Self {
        let adapt = Adapt::new(levels, quality, target_bps, Instant::now());
        let stats = Arc::new(ViewerStats::new(kind, adapt.level()));
        let key = live.add_viewer(Arc::clone(&stats));
        Self {
            live: Arc::clone(live),
            key,
            stats,
            frames: live.frames(),
            last: None,
            adapt,
        }
    }

    pub fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// The JPEG quality this viewer gets now.
    pub fn quality(&self) -> u8 {
        self.adapt.level().quality
    }

    /// The quality and size this viewer gets now.
    pub fn level(&self) -> Level {
        self.adapt.level()
    }

    /// The frame sent last.
    pub fn last(&self) -> Option<&Arc<LiveFrame>> {
        self.last.as_ref()
    }

    /// Waits for a frame newer than the one sent last; None once the stream is removed.
    /// Cancel-safe: dropped unfinished, it loses nothing.
    pub async fn newer(&mut self) -> Option<Arc<LiveFrame>> {
        let last_id = self.last.as_ref().map(|f| f.id);
        let live = &self.live;
        let newest = self
            .frames
            .wait_for(|f| live.stopped() || f.as_ref().is_some_and(|f| Some(f.id) != last_id))
            .await
            .ok()?
            .as_ref()
            .map(Arc::clone);
        if live.stopped() { None } else { newest }
    }

    /// The JPEG of `frame` at this viewer's level (shared with every viewer at that level).
    pub async fn jpeg(&self, frame: &Arc<LiveFrame>) -> Result<Bytes, LiveError> {
        self.live.jpeg(frame, self.level()).await
    }

    /// Records `frame` sent as `bytes` bytes; returns the frames skipped since the one sent
    /// before it.
    pub fn sent(&mut self, frame: &Arc<LiveFrame>, bytes: usize) -> u64 {
        let skipped = self
            .last
            .as_ref()
            .map_or(0, |p| frame.id.saturating_sub(p.id + 1));
        self.stats.sent(bytes, skipped);
        self.last = Some(Arc::clone(frame));
        skipped
    }

    /// Feeds the adaptation with one frame of `bytes` sent while `behind` frames went by
    /// unsent; returns the new level when it changes.
    pub fn adapt(&mut self, bytes: usize, behind: u64) -> Option<Level> {
        let changed = self.adapt.record(Instant::now(), bytes, behind);
        if let Some(level) = changed {
            self.stats.set_level(level);
        }
        changed
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.live.remove_viewer(self.key);
    }
}
