//! What each viewer of a stream has been sent, as the stream's figures show it.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Instant;

use crate::adapt::Level;

/// One viewer of a stream, as the stream's figures show it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientFigures {
    pub kind: &'static str,
    pub quality: u8,
    /// The frame's size is divided by this for the viewer (1: its own size).
    pub divisor: u8,
    pub frames_sent: u64,
    /// Frames that came while the viewer was still taking an earlier one, skipped for it.
    pub frames_dropped: u64,
    /// Mean rate sent since the viewer came, kilobits per second.
    pub bitrate_kbps: f64,
    pub connected_s: f64,
}

/// How a viewer watches, as the stream's figures name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewerKind {
    Mjpeg,
    WebSocket,
    WebRtc,
}

impl ViewerKind {
    fn name(self) -> &'static str {
        match self {
            Self::Mjpeg => "mjpeg",
            Self::WebSocket => "websocket",
            Self::WebRtc => "webrtc",
        }
    }
}

/// What one viewer has been sent.
#[derive(Debug)]
pub(crate) struct ViewerStats {
    kind: ViewerKind,
    quality: AtomicU8,
    divisor: AtomicU8,
    frames: AtomicU64,
    dropped: AtomicU64,
    bytes: AtomicU64,
    pub(crate) since: Instant,
}

impl ViewerStats {
    pub(crate) fn new(kind: ViewerKind, level: Level) -> Self {
        Self {
            kind,
            quality: AtomicU8::new(level.quality),
            divisor: AtomicU8::new(level.divisor),
            frames: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            since: Instant::now(),
        }
    }

    pub(crate) fn sent(&self, bytes: usize, skipped: u64) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.dropped.fetch_add(skipped, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn set_level(&self, level: Level) {
        self.quality.store(level.quality, Ordering::Relaxed);
        self.divisor.store(level.divisor, Ordering::Relaxed);
    }

    pub(crate) fn figures(&self) -> ClientFigures {
        let secs = self.since.elapsed().as_secs_f64().max(1e-3);
        ClientFigures {
            kind: self.kind.name(),
            quality: self.quality.load(Ordering::Relaxed),
            divisor: self.divisor.load(Ordering::Relaxed),
            frames_sent: self.frames.load(Ordering::Relaxed),
            frames_dropped: self.dropped.load(Ordering::Relaxed),
            bitrate_kbps: self.bytes.load(Ordering::Relaxed) as f64 * 8.0 / 1000.0 / secs,
            connected_s: secs,
        }
    }
}
