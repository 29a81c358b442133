//! The capture thread of one stream: open the source (again, with backoff, after a failure),
//! run the model on the cadence, publish every frame.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::time::Duration;

use pigweight_decode::{DecodeError, LiveConfig, Opener};
use pigweight_inference::{
    Cadence, CadenceConfig, CountBand, Detection, Detections, InferenceError, ModelInfo, PROBE_FRAMES,
    Priority, Scheduler, SharedImage, Tracker,
};

use crate::live::{Condition, Live, LiveFrame, SourceStatus};

/// Longest wait between two attempts to reopen a failed source.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What the capture thread needs besides its stream.
#[derive(Debug)]
pub(crate) struct Capture {
    pub(crate) opener: Arc<dyn Opener>,
    pub(crate) scheduler: Arc<Scheduler>,
    pub(crate) config: LiveConfig,
    pub(crate) every_n_frames: u64,
    /// Closed (its sender dropped) when the stream is removed.
    pub(crate) stop: mpsc::Receiver<()>,
}

impl Capture {
    fn stopping(&self) -> bool {
        matches!(self.stop.try_recv(), Err(TryRecvError::Disconnected))
    }

    /// Waits `pause`, or less if the stream is removed meanwhile; false when it was.
    fn pause(&self, pause: Duration) -> bool {
        matches!(self.stop.recv_timeout(pause), Err(RecvTimeoutError::Timeout))
    }

    /// Reads the source until the stream is removed.
    pub(crate) fn run(self, live: &Live) {
        let _span = tracing::info_span!("stream", id = %live.id).entered();
        let mut attempts = 0u32;
        let mut next_id = 0u64;
        while !self.stopping() {
            let mut source = match self.opener.open_live(&live.source.input, &self.config) {
                Ok(source) => source,
                Err(e @ DecodeError::UnsupportedCodec { .. }) => {
                    tracing::error!(error = %e, "stream source cannot be decoded; not retrying");
                    live.status.send_replace(SourceStatus {
                        condition: Condition::Failed,
                        reason: Some(e.to_string()),
                        attempts: attempts + 1,
                    });
                    return;
                }
                Err(e) => {
                    attempts += 1;
                    if !self.retry(live, attempts, &e) {
                        return;
                    }
                    continue;
                }
            };
            if attempts > 0 {
                tracing::info!(attempts, "stream reopened");
            }
            attempts = 0;
            live.status.send_replace(SourceStatus {
                condition: Condition::Live,
                reason: None,
                attempts: 0,
            });
            let mut counting = Counting::new(self.every_n_frames);
            while !self.stopping() {
                let frame = match source.next_frame() {
                    Ok(frame) => Arc::new(frame),
                    Err(e) => {
                        attempts = 1;
                        if !self.retry(live, attempts, &e) {
                            return;
                        }
                        break;
                    }
                };
                let boxes = counting.boxes(live, &self.scheduler, &frame);
                let count = u32::try_from(boxes.len()).unwrap_or(u32::MAX);
                let shown = Arc::new(LiveFrame {
                    id: next_id,
                    at_s: live.added.elapsed().as_secs_f64(),
                    count,
                    // The last inference's band, stretched to the count the tracker carries.
                    band: counting.band.union(CountBand::exact(count)),
                    boxes,
                    frame,
                });
                live.webrtc_push(&shown);
                live.latest.send_replace(Some(shown));
                next_id += 1;
            }
        }
    }

    /// Marks the source as retrying and waits before the next attempt (0.5 s, doubling, at most
    /// [`MAX_BACKOFF`]); false when the stream was removed meanwhile.
    fn retry(&self, live: &Live, attempts: u32, reason: &DecodeError) -> bool {
        if attempts == 1 {
            tracing::warn!(reason = %reason, "stream source failed; retrying");
        }
        live.status.send_replace(SourceStatus {
            condition: Condition::Retrying,
            reason: Some(reason.to_string()),
            attempts,
        });
        let pause = Duration::from_millis(500)
            .saturating_mul(1 << attempts.min(6).saturating_sub(1))
            .min(MAX_BACKOFF);
        self.pause(pause)
    }
}

/// The model on the cadence, the tracker in between: the boxes each frame shows.
struct Counting {
    cadence: Cadence,
    tracker: Tracker,
    boxes: Arc<Vec<Detection>>,
    /// The band of the last inferred frame.
    band: CountBand,
    /// The input size the stream's frames go in at (`None`: the model's own).
    input: Option<u32>,
    /// The first results at the model's own input, until there are enough to choose `input`
    /// from; `None` once chosen.
    probed: Option<Vec<Detections>>,
}

impl Counting {
    fn new(every_n_frames: u64) -> Self {
        Self {
            cadence: Cadence::new(CadenceConfig {
                every_n_frames,
                ..CadenceConfig::default()
            }),
            tracker: Tracker::default(),
            boxes: Arc::new(Vec::new()),
            band: CountBand::default(),
            input: None,
            probed: Some(Vec::with_capacity(PROBE_FRAMES)),
        }
    }

    /// The stream's first [`PROBE_FRAMES`] results at the model's own input choose the input
    /// size of the rest, as the indexer chooses a file's from as many keyframes.
    fn learn_input(&mut self, info: &ModelInfo, width: u32, height: u32, found: &Detections) {
        let (Some(_), Some(probed)) = (info.small_objects, self.probed.as_mut()) else {
            return;
        };
        probed.push(found.clone());
        if probed.len() >= PROBE_FRAMES {
            self.input = info.input_for(width, height, probed);
            self.probed = None;
            tracing::info!(input = ?self.input, "live stream input size chosen");
        }
    }

    fn boxes(
        &mut self,
        live: &Live,
        scheduler: &Scheduler,
        frame: &Arc<pigweight_decode::Frame>,
    ) -> Arc<Vec<Detection>> {
        let (w, h) = (frame.width, frame.height);
        if self.cadence.should_infer(frame.index, &frame.data, w, h).infer() {
            let image = SharedImage {
                width: w,
                height: h,
                pixels: Arc::clone(frame) as _,
                input: self.input,
            };
            match scheduler.detect_blocking(image, Priority::Interactive) {
                Ok(found) => {
                    live.inferences.fetch_add(1, Ordering::Relaxed);
                    self.learn_input(scheduler.info(), w, h, &found);
                    self.tracker.update(frame.index, &found.boxes);
                    self.band = found.band;
                    self.boxes = Arc::new(
                        self.tracker
                            .counted()
                            .map(|t| Detection {
                                bbox: t.bbox,
                                score: t.score,
                                class: t.class,
                            })
                            .collect(),
                    );
                }
                // Users' requests come first; the tracker holds the count meanwhile.
                Err(InferenceError::QueueFull) => {}
                Err(e) => tracing::warn!(error = %e, "inference failed on a live frame"),
            }
        }
        Arc::clone(&self.boxes)
    }
}
