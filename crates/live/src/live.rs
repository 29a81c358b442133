//! One live source and what its viewers share: its state, its newest frame, and that frame's
//! JPEG at each quality level somebody watches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Instant;

use bytes::Bytes;
use dashmap::DashMap;
use pigweight_decode::Frame;
use pigweight_inference::{CountBand, Detection};
use pigweight_render::{Format, draw_overlay, encode};
use tokio::sync::{OnceCell, watch};

use crate::adapt::Level;
use crate::error::LiveError;
use crate::source::Source;
use crate::viewer::ViewerKind;
use crate::viewer::{ClientFigures, ViewerStats};
use crate::webrtc::{Answer, Broadcast, WebRtcSettings};

/// Where a source stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Opening the source for the first time.
    Connecting,
    /// Frames are arriving.
    Live,
    /// The source failed; it is reopened after a pause that grows with each attempt.
    Retrying,
    /// The source cannot work (its codec has no decoder here); it is not retried.
    Failed,
}

/// A source's state and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStatus {
    pub condition: Condition,
    /// Why the source is retrying, or failed.
    pub reason: Option<String>,
    /// Failed attempts in a row.
    pub attempts: u32,
}

/// The newest frame of a source, with the model's view of it.
#[derive(Debug)]
pub struct LiveFrame {
    /// Counts frames over the stream's whole life (reopening does not restart it).
    pub id: u64,
    /// Seconds since the stream was added.
    pub at_s: f64,
    pub frame: Arc<Frame>,
    /// The tracked animals: boxes of the last inferred frame, carried by the tracker.
    pub boxes: Arc<Vec<Detection>>,
    pub count: u32,
    /// The fewest and most animals the frame may hold (see the inference crate's `CountBand`).
    pub band: CountBand,
}

/// A frame's encoding at one quality level, made by whichever viewer asks first.
type SharedJpeg = Arc<OnceCell<Bytes>>;

/// One live source and everything its viewers share.
#[derive(Debug)]
pub struct Live {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) source: Source,
    pub(crate) status: watch::Sender<SourceStatus>,
    pub(crate) latest: watch::Sender<Option<Arc<LiveFrame>>>,
    /// Per level: the frame encoded last, shared by every viewer at that level.
    encoded: Mutex<HashMap<Level, (u64, SharedJpeg)>>,
    stopped: AtomicBool,
    /// Dropped to stop the capture thread: it sees the channel close at once, even while it
    /// waits to retry.
    stop: Mutex<Option<mpsc::Sender<()>>>,
    pub(crate) added: Instant,
    /// Every viewer now, by a number unique within the process.
    pub(crate) viewers: DashMap<u64, Arc<ViewerStats>>,
    pub(crate) inferences: AtomicU64,
    encodes: AtomicU64,
    encode_us: AtomicU64,
    encode_hits: AtomicU64,
    /// The shared encoding for WebRTC viewers, while there are any.
    pub(crate) webrtc: Mutex<Option<Arc<Broadcast>>>,
}

/// A stream as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveInfo {
    pub id: String,
    pub name: String,
    /// The source as shown: a camera URL without credentials, or what the caller described.
    pub shown: String,
    pub status: SourceStatus,
    /// The newest count (none before the first frame).
    pub count: Option<u32>,
    pub clients: u64,
    /// Frames captured so far.
    pub frames: u64,
    /// Frames that went through the model.
    pub inferences: u64,
    /// JPEG encodings so far, and how many times an encoding was shared instead.
    pub encodes: u64,
    pub encode_shared: u64,
    /// Mean JPEG encoding time, milliseconds.
    pub encode_ms: f64,
}

impl Live {
    /// A stream of `source` that has not started; the receiver is the capture thread's stop
    /// signal.
    pub(crate) fn new(id: String, name: String, source: Source) -> (Self, mpsc::Receiver<()>) {
        let (stop, stopped_rx) = mpsc::channel();
        let live = Self {
            id,
            name,
            source,
            status: watch::Sender::new(SourceStatus {
                condition: Condition::Connecting,
                reason: None,
                attempts: 0,
            }),
            latest: watch::Sender::new(None),
            encoded: Mutex::new(HashMap::new()),
            stopped: AtomicBool::new(false),
            stop: Mutex::new(Some(stop)),
            added: Instant::now(),
            viewers: DashMap::new(),
            inferences: AtomicU64::new(0),
            encodes: AtomicU64::new(0),
            encode_us: AtomicU64::new(0),
            encode_hits: AtomicU64::new(0),
            webrtc: Mutex::new(None),
        };
        (live, stopped_rx)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The newest frames, as they come (None once the stream is removed).
    pub fn frames(&self) -> watch::Receiver<Option<Arc<LiveFrame>>> {
        self.latest.subscribe()
    }

    /// The source's state, as it changes.
    pub fn status(&self) -> watch::Receiver<SourceStatus> {
        self.status.subscribe()
    }

    /// Whether the stream was removed.
    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Ends capture and wakes every viewer waiting for a frame.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.stop.lock().unwrap_or_else(PoisonError::into_inner).take();
        self.latest.send_replace(None);
        self.webrtc_stop();
    }

    /// Lists a viewer among the stream's clients until [`Live::remove_viewer`]; its key.
    pub(crate) fn add_viewer(&self, stats: Arc<ViewerStats>) -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let key = NEXT.fetch_add(1, Ordering::Relaxed);
        self.viewers.insert(key, stats);
        key
    }

    pub(crate) fn remove_viewer(&self, key: u64) {
        self.viewers.remove(&key);
    }

    fn remove_viewers(&self, keys: Vec<u64>) {
        for key in keys {
            self.remove_viewer(key);
        }
    }

    /// The JPEG of `frame` at `level` with boxes and count drawn: encoded once, whoever asks.
    pub(crate) async fn jpeg(&self, frame: &Arc<LiveFrame>, level: Level) -> Result<Bytes, LiveError> {
        let cell = {
            let mut encoded = self.encoded.lock().unwrap_or_else(PoisonError::into_inner);
            match encoded.get(&level) {
                Some((id, cell)) if *id == frame.id => Arc::clone(cell),
                _ => {
                    let cell = Arc::new(OnceCell::new());
                    encoded.insert(level, (frame.id, Arc::clone(&cell)));
                    cell
                }
            }
        };
        let encoded_here = AtomicBool::new(false);
        let bytes = cell
            .get_or_try_init(|| {
                let frame = Arc::clone(frame);
                encoded_here.store(true, Ordering::Relaxed);
                async move {
                    let started = Instant::now();
                    let bytes = tokio::task::spawn_blocking(move || {
                        let full = &frame.frame;
                        let d = u32::from(level.divisor.max(1));
                        let small = (d > 1)
                            .then(|| full.resized((full.width / d).max(2), (full.height / d).max(2)))
                            .transpose()?;
                        let f = small.as_ref().unwrap_or(full);
                        let mut rgb = f.data.clone();
                        let boxes = frame.boxes.iter().map(|d| d.bbox);
                        let scale = (
                            f.width as f32 / full.width.max(1) as f32,
                            f.height as f32 / full.height.max(1) as f32,
                        );
                        draw_overlay(
                            &mut rgb,
                            f.width,
                            f.height,
                            boxes,
                            scale,
                            &frame.count.to_string(),
                        );
                        Ok::<_, LiveError>(encode(&rgb, f.width, f.height, Format::Jpeg, level.quality)?)
                    })
                    .await
                    .map_err(LiveError::Task)??;
                    self.encodes.fetch_add(1, Ordering::Relaxed);
                    self.encode_us
                        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                    Ok::<_, LiveError>(bytes)
                }
            })
            .await?;
        if !encoded_here.load(Ordering::Relaxed) {
            self.encode_hits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(bytes.clone())
    }

    /// The stream as listed now.
    pub fn info(&self) -> LiveInfo {
        let encodes = self.encodes.load(Ordering::Relaxed);
        let latest = self.latest.borrow();
        LiveInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            shown: self.source.shown.clone(),
            status: self.status.borrow().clone(),
            count: latest.as_ref().map(|f| f.count),
            clients: self.viewers.len() as u64,
            // Frame ids count every frame captured, from 0.
            frames: latest.as_ref().map_or(0, |f| f.id + 1),
            inferences: self.inferences.load(Ordering::Relaxed),
            encodes,
            encode_shared: self.encode_hits.load(Ordering::Relaxed),
            encode_ms: self.encode_us.load(Ordering::Relaxed) as f64 / 1000.0 / encodes.max(1) as f64,
        }
    }

    /// Every viewer now, oldest first.
    pub fn clients(&self) -> Vec<ClientFigures> {
        let mut all: Vec<(Instant, ClientFigures)> =
            self.viewers.iter().map(|v| (v.since, v.figures())).collect();
        all.sort_by_key(|(since, _)| *since);
        all.into_iter().map(|(_, c)| c).collect()
    }
}

impl Live {
    /// Answers a WebRTC viewer's SDP offer (WHEP), starting the shared encoding if it is the
    /// first. Blocks until ICE gathering ends (or `gather_timeout`).
    pub fn webrtc_answer(
        &self,
        offer: &str,
        fps: u32,
        settings: &WebRtcSettings,
    ) -> Result<Answer, LiveError> {
        if self.stopped() {
            return Err(LiveError::Gone);
        }
        let broadcast = {
            let mut slot = self.webrtc.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(b) = slot.as_ref() {
                self.remove_viewers(b.sweep());
            }
            let b = match slot.as_ref() {
                Some(b) if !b.failed.load(Ordering::Relaxed) => Arc::clone(b),
                _ => {
                    if let Some(old) = slot.take() {
                        self.remove_viewers(old.stop());
                    }
                    let b = Arc::new(Broadcast::start(&self.id, fps, settings)?);
                    *slot = Some(Arc::clone(&b));
                    b
                }
            };
            if b.viewers() + b.pending.load(Ordering::Relaxed) >= settings.max_viewers {
                return Err(LiveError::TooManyViewers(settings.max_viewers));
            }
            // Under the lock: the capture thread does not stop an encoding an offer waits on.
            b.pending.fetch_add(1, Ordering::Relaxed);
            b
        };
        let viewer = Arc::new(ViewerStats::new(
            ViewerKind::WebRtc,
            Level {
                quality: 0,
                divisor: 1,
            },
        ));
        let key = self.add_viewer(Arc::clone(&viewer));
        let answer = broadcast.answer(&self.id, offer, settings, (key, viewer));
        broadcast.pending.fetch_sub(1, Ordering::Relaxed);
        if answer.is_err() {
            self.remove_viewer(key);
            self.webrtc_stop_if_unwatched();
        }
        answer
    }

    /// Ends a WebRTC session; false when this stream has none of that name.
    pub fn webrtc_hang_up(&self, session: &str) -> bool {
        let found = self.broadcast().and_then(|b| b.hang_up(session));
        if let Some(key) = found {
            self.remove_viewer(key);
        }
        self.webrtc_stop_if_unwatched();
        found.is_some()
    }

    /// The capture thread's hand-off: the frame to the WebRTC viewers, if there are any.
    pub(crate) fn webrtc_push(&self, frame: &LiveFrame) {
        let Some(b) = self.broadcast() else { return };
        self.remove_viewers(b.sweep());
        if b.viewers() == 0 {
            self.webrtc_stop_if_unwatched();
        } else {
            b.push(&frame.frame, &frame.boxes, frame.count);
        }
    }

    /// The shared encoding for WebRTC viewers, if there is one now.
    fn broadcast(&self) -> Option<Arc<Broadcast>> {
        self.webrtc.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Stops the shared encoding when it has no viewers and no offer is being answered.
    fn webrtc_stop_if_unwatched(&self) {
        let mut slot = self.webrtc.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = slot.as_ref()
            && b.viewers() == 0
            && b.pending.load(Ordering::Relaxed) == 0
        {
            self.remove_viewers(b.stop());
            *slot = None;
            tracing::info!(stream = %self.id, "WebRTC encoding stopped: no viewers");
        }
    }

    /// Stops the shared encoding and ends every session (the stream is removed).
    pub(crate) fn webrtc_stop(&self) {
        let stopped = self.webrtc.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(b) = stopped {
            self.remove_viewers(b.stop());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use pigweight_indexer::{Location, StreamSource};

    use super::*;

    /// Width and height from a JPEG's start-of-frame segment.
    fn jpeg_size(jpeg: &[u8]) -> (u32, u32) {
        let at = jpeg
            .windows(2)
            .position(|w| w[0] == 0xff && (w[1] == 0xc0 || w[1] == 0xc2))
            .unwrap();
        let h = u32::from(jpeg[at + 5]) << 8 | u32::from(jpeg[at + 6]);
        let w = u32::from(jpeg[at + 7]) << 8 | u32::from(jpeg[at + 8]);
        (w, h)
    }

    #[tokio::test]
    async fn each_level_is_encoded_once_at_its_size() {
        let source = Source {
            input: "x".into(),
            shown: "x".into(),
            default_name: "x".into(),
            kept: StreamSource::Video(Location::plain(std::path::Path::new("x.mp4"))),
        };
        let (live, _stop) = Live::new("id".into(), "name".into(), source);
        let frame = Arc::new(LiveFrame {
            id: 1,
            at_s: 0.0,
            frame: Arc::new(Frame {
                index: 0,
                pts: Duration::ZERO,
                keyframe: true,
                width: 320,
                height: 240,
                data: vec![90; 320 * 240 * 3],
            }),
            boxes: Arc::new(Vec::new()),
            count: 3,
            band: CountBand::exact(3),
        });
        let level = |quality, divisor| Level { quality, divisor };
        let full = live.jpeg(&frame, level(50, 1)).await.unwrap();
        let half = live.jpeg(&frame, level(50, 2)).await.unwrap();
        let quarter = live.jpeg(&frame, level(50, 4)).await.unwrap();
        assert_eq!(jpeg_size(&full), (320, 240));
        assert_eq!(jpeg_size(&half), (160, 120));
        assert_eq!(jpeg_size(&quarter), (80, 60));
        assert!(quarter.len() < half.len() && half.len() < full.len());
        // Asked again at a level: the same encoding, shared.
        assert_eq!(live.jpeg(&frame, level(50, 2)).await.unwrap(), half);
        let info = live.info();
        assert_eq!((info.encodes, info.encode_shared), (3, 1));
    }
}
