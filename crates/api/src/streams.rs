//! Live sources: camera streams (or a library video played in a loop) with live counts, served
//! as MJPEG for an `<img>` tag.
//!
//! Capture once, serve many: one thread per source reads frames at `stream_fps`, runs the model
//! on the cadence of the inference crate (every N frames, sooner on a scene change) with the
//! tracker holding the count in between, and publishes the newest annotated frame on a watch
//! channel. Clients never touch the capture thread: each takes the newest frame when it is
//! ready for one (a slow client simply skips frames, nothing queues), and JPEG encoding happens
//! once per frame and quality level, shared by every client at that level; a level nobody
//! watches is never encoded. A source that fails is reopened with backoff; its state is in the
//! API, and clients keep their connection (a heartbeat part repeats the last frame, marked
//! stale, while there is no new one).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use dashmap::DashMap;
use futures_util::{SinkExt as _, StreamExt as _};
use pigweight_decode::{DecodeError, Frame, LiveConfig, LiveSource};
use pigweight_inference::{
    Cadence, CadenceConfig, Detection, InferenceError, Priority, Scheduler, SharedImage, Tracker,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{OnceCell, watch};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::counts::Pixels;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Params, PathId, Upgrade, seconds};
use crate::frames::{Format, draw_overlay, encode, snap_quality};
use crate::state::{App, AppState};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_streams, add_stream))
        .routes(routes!(get_stream, delete_stream))
        .routes(routes!(mjpeg))
        .routes(routes!(stream_stats))
        .routes(routes!(stream_socket))
}

/// The multipart boundary of MJPEG responses.
const BOUNDARY: &str = "pigweight-frame";
/// Longest wait between two attempts to reopen a failed source.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Where a source stands.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SourceState {
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
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct StreamStatus {
    state: SourceState,
    /// Why the source is retrying, or failed.
    reason: Option<String>,
    /// Failed attempts in a row.
    attempts: u32,
}

/// The newest frame of a source, with the model's view of it.
#[derive(Debug)]
pub(crate) struct LiveFrame {
    /// Counts frames over the stream's whole life (reopening does not restart it).
    pub(crate) id: u64,
    /// Seconds since the stream was added.
    pub(crate) at_s: f64,
    frame: Arc<Frame>,
    /// The tracked animals: boxes of the last inferred frame, carried by the tracker.
    boxes: Arc<Vec<Detection>>,
    pub(crate) count: u32,
}

/// A frame's encoding at one quality level, made by whichever client asks first.
type SharedJpeg = Arc<OnceCell<Bytes>>;

/// One live source and everything its clients share.
#[derive(Debug)]
pub(crate) struct Live {
    id: String,
    name: String,
    /// The source as given (a URL may hold a password: never shown).
    source: String,
    /// The source as shown: credentials replaced.
    shown: String,
    status: watch::Sender<StreamStatus>,
    latest: watch::Sender<Option<Arc<LiveFrame>>>,
    /// Per quality level: the frame encoded last, shared by every client at that level.
    encoded: Mutex<HashMap<u8, (u64, SharedJpeg)>>,
    stop: AtomicBool,
    added: Instant,
    /// Every client watching now, by a number unique within the server.
    viewers: DashMap<u64, Arc<ViewerStats>>,
    inferences: AtomicU64,
    encodes: AtomicU64,
    encode_us: AtomicU64,
    encode_hits: AtomicU64,
}

impl Live {
    /// The newest frames, as they come (None when the stream is removed).
    pub(crate) fn frames(&self) -> watch::Receiver<Option<Arc<LiveFrame>>> {
        self.latest.subscribe()
    }

    /// The JPEG of `frame` at `quality` with boxes and count drawn: encoded once, whoever asks.
    async fn jpeg(&self, frame: &Arc<LiveFrame>, quality: u8) -> Result<Bytes, ApiError> {
        let cell = {
            let mut encoded = self.encoded.lock().unwrap_or_else(PoisonError::into_inner);
            match encoded.get(&quality) {
                Some((id, cell)) if *id == frame.id => Arc::clone(cell),
                _ => {
                    let cell = Arc::new(OnceCell::new());
                    encoded.insert(quality, (frame.id, Arc::clone(&cell)));
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
                        let f = &frame.frame;
                        let mut rgb = f.data.clone();
                        draw_overlay(&mut rgb, f.width, f.height, &frame.boxes, (1.0, 1.0));
                        encode(&rgb, f.width, f.height, Format::Jpeg, quality)
                    })
                    .await
                    .map_err(ApiError::join)??;
                    self.encodes.fetch_add(1, Ordering::Relaxed);
                    self.encode_us
                        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                    Ok::<_, ApiError>(bytes)
                }
            })
            .await?;
        if !encoded_here.load(Ordering::Relaxed) {
            self.encode_hits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(bytes.clone())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Reads the source until the stream is removed: opens it (again, with backoff, after a
/// failure), runs the model on the cadence, publishes every frame. Runs on its own thread.
fn capture(live: &Live, scheduler: &Scheduler, config: &LiveConfig, every_n_frames: u64) {
    let _span = tracing::info_span!("stream", id = %live.id).entered();
    let mut attempts = 0u32;
    let mut next_id = 0u64;
    while !live.stopped() {
        let mut source = match LiveSource::open(&live.source, config) {
            Ok(source) => source,
            Err(e @ DecodeError::UnsupportedCodec { .. }) => {
                tracing::error!(error = %e, "stream source cannot be decoded; not retrying");
                live.status.send_replace(StreamStatus {
                    state: SourceState::Failed,
                    reason: Some(e.to_string()),
                    attempts: attempts + 1,
                });
                return;
            }
            Err(e) => {
                attempts += 1;
                retry(live, attempts, &e.to_string());
                continue;
            }
        };
        if attempts > 0 {
            tracing::info!(attempts, "stream reopened");
        }
        attempts = 0;
        live.status.send_replace(StreamStatus {
            state: SourceState::Live,
            reason: None,
            attempts: 0,
        });
        let mut cadence = Cadence::new(CadenceConfig {
            every_n_frames,
            ..CadenceConfig::default()
        });
        let mut tracker = Tracker::default();
        let mut boxes = Arc::new(Vec::new());
        while !live.stopped() {
            let frame = match source.next_frame() {
                Ok(frame) => Arc::new(frame),
                Err(e) => {
                    attempts = 1;
                    retry(live, attempts, &e.to_string());
                    break;
                }
            };
            let (w, h) = (frame.width, frame.height);
            if cadence.should_infer(frame.index, &frame.data, w, h).infer() {
                let image = SharedImage {
                    width: w,
                    height: h,
                    pixels: Arc::new(Pixels(Arc::clone(&frame))),
                };
                match scheduler.detect_blocking(image, Priority::Interactive) {
                    Ok(found) => {
                        live.inferences.fetch_add(1, Ordering::Relaxed);
                        tracker.update(frame.index, &found);
                        boxes = Arc::new(
                            tracker
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
            live.latest.send_replace(Some(Arc::new(LiveFrame {
                id: next_id,
                at_s: live.added.elapsed().as_secs_f64(),
                count: u32::try_from(boxes.len()).unwrap_or(u32::MAX),
                boxes: Arc::clone(&boxes),
                frame,
            })));
            next_id += 1;
        }
    }
}

/// Marks the source as retrying and waits before the next attempt (0.5 s, doubling, at most
/// [`MAX_BACKOFF`]), waking early if the stream is removed.
fn retry(live: &Live, attempts: u32, reason: &str) {
    if attempts == 1 {
        tracing::warn!(reason, "stream source failed; retrying");
    }
    live.status.send_replace(StreamStatus {
        state: SourceState::Retrying,
        reason: Some(reason.to_owned()),
        attempts,
    });
    let pause = Duration::from_millis(500)
        .saturating_mul(1 << attempts.min(6).saturating_sub(1))
        .min(MAX_BACKOFF);
    let until = Instant::now() + pause;
    while Instant::now() < until && !live.stopped() {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What to stream: a camera URL, or a library video played in a loop at its real rate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewStream {
    /// `rtsp://`, `rtsps://`, `http://` or `https://` URL of a camera.
    #[schema(example = "rtsp://camera-4.local:554/stream1")]
    url: Option<String>,
    /// Id of a library video to play in a loop (for demos and tests).
    video: Option<String>,
    /// A name to show (default: the URL's host or the video's name).
    name: Option<String>,
}

/// A live stream as listed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StreamInfo {
    id: String,
    name: String,
    /// The source: a camera URL with any user name and password hidden, or the library video.
    source: String,
    status: StreamStatus,
    /// Frames delivered per second, as configured.
    fps: u32,
    /// The newest count (absent before the first frame).
    count: Option<u32>,
    /// Clients watching now.
    clients: u64,
    /// Frames captured so far.
    frames: u64,
    /// Frames that went through the model.
    inferences: u64,
    /// JPEG encodings so far, and how many times an encoding was shared instead.
    encodes: u64,
    encode_shared: u64,
    /// Mean JPEG encoding time, milliseconds.
    encode_ms: f64,
}

impl StreamInfo {
    fn of(app: &App, live: &Live) -> Self {
        let encodes = live.encodes.load(Ordering::Relaxed);
        Self {
            id: live.id.clone(),
            name: live.name.clone(),
            source: live.shown.clone(),
            status: live.status.borrow().clone(),
            fps: app.config.stream_fps,
            count: live.latest.borrow().as_ref().map(|f| f.count),
            clients: live.viewers.len() as u64,
            // Frame ids count every frame captured, from 0.
            frames: live.latest.borrow().as_ref().map_or(0, |f| f.id + 1),
            inferences: live.inferences.load(Ordering::Relaxed),
            encodes,
            encode_shared: live.encode_hits.load(Ordering::Relaxed),
            encode_ms: live.encode_us.load(Ordering::Relaxed) as f64 / 1000.0 / encodes.max(1) as f64,
        }
    }
}

/// The URL with any user name and password replaced by `***`.
fn redact(source: &str) -> String {
    match url::Url::parse(source) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("***");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => source.to_owned(),
    }
}

/// Every live stream.
#[utoipa::path(get, path = "/api/streams", operation_id = "listStreams", tag = "streams",
    responses((status = 200, description = "The streams", body = [StreamInfo])))]
async fn list_streams(State(app): State<AppState>) -> Json<Vec<StreamInfo>> {
    let mut all: Vec<StreamInfo> = app.streams.iter().map(|l| StreamInfo::of(&app, &l)).collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Json(all)
}

/// Adds a live source: a camera URL, or a library video played in a loop at its real rate.
/// Capture starts at once; the state says when frames arrive.
#[utoipa::path(post, path = "/api/streams", operation_id = "addStream", tag = "streams",
    request_body = NewStream,
    responses(
        (status = 201, description = "Added", body = StreamInfo),
        (status = 400, description = "Not a stream description", body = ErrorBody),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 409, description = "That source is streamed already", body = ErrorBody),
        (status = 413, description = "A body over the JSON body limit", body = ErrorBody),
        (status = 415, description = "A body that is not `application/json`", body = ErrorBody),
        (status = 422, description = "A URL that is not rtsp/http(s), or too many streams", body = ErrorBody),
    ))]
async fn add_stream(
    State(app): State<AppState>,
    body: Result<Json<NewStream>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<StreamInfo>), ApiError> {
    let Json(new) = body?;
    // The source, what clients see of it (never a server path or a password), a default name.
    let (source, shown, default_name) = match (&new.url, &new.video) {
        (Some(url), None) => {
            let parsed = url::Url::parse(url).map_err(|e| ApiError::Invalid(format!("not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "rtsp" | "rtsps" | "http" | "https") {
                return Err(ApiError::Invalid(
                    "a camera URL must be rtsp, rtsps, http or https".into(),
                ));
            }
            let host = parsed.host_str().unwrap_or("camera").to_owned();
            (url.clone(), redact(url), host)
        }
        (None, Some(video)) => {
            let entry = app.entry(video)?;
            let shown = format!("video {} ({}), in a loop", entry.name, entry.id);
            (entry.path.to_string_lossy().into_owned(), shown, entry.name)
        }
        _ => return Err(ApiError::BadRequest("give either `url` or `video`".into())),
    };
    if app.streams.len() >= app.config.max_streams {
        return Err(ApiError::Invalid(format!(
            "at most {} streams at once",
            app.config.max_streams
        )));
    }
    let id = blake3::hash(source.as_bytes()).to_hex()[..16].to_owned();
    let live = Arc::new(Live {
        id: id.clone(),
        name: new.name.unwrap_or(default_name),
        shown,
        source,
        status: watch::Sender::new(StreamStatus {
            state: SourceState::Connecting,
            reason: None,
            attempts: 0,
        }),
        latest: watch::Sender::new(None),
        encoded: Mutex::new(HashMap::new()),
        stop: AtomicBool::new(false),
        added: Instant::now(),
        viewers: DashMap::new(),
        inferences: AtomicU64::new(0),
        encodes: AtomicU64::new(0),
        encode_us: AtomicU64::new(0),
        encode_hits: AtomicU64::new(0),
    });
    match app.streams.entry(id.clone()) {
        dashmap::Entry::Occupied(_) => {
            return Err(ApiError::Conflict(format!(
                "that source is streamed already, as {id}"
            )));
        }
        dashmap::Entry::Vacant(slot) => {
            slot.insert(Arc::clone(&live));
        }
    }
    let config = LiveConfig {
        fps: app.config.stream_fps,
        ..LiveConfig::default()
    };
    let (scheduler, every) = (Arc::clone(&app.scheduler), app.config.stream_infer_every);
    let capturing = Arc::clone(&live);
    std::thread::Builder::new()
        .name(format!("stream-{id}"))
        .spawn(move || capture(&capturing, &scheduler, &config, every))
        .map_err(|e| {
            app.streams.remove(&id);
            ApiError::Internal(format!("starting a capture thread: {e}"))
        })?;
    tracing::info!(stream = %id, source = %live.shown, "stream added");
    Ok((StatusCode::CREATED, Json(StreamInfo::of(&app, &live))))
}

/// One stream: state, rate, newest count, clients.
#[utoipa::path(get, path = "/api/streams/{id}", operation_id = "getStream", tag = "streams",
    params(("id" = String, Path, description = "Stream id")),
    responses(
        (status = 200, description = "The stream", body = StreamInfo),
        (status = 404, description = "No such stream", body = ErrorBody),
    ))]
async fn get_stream(State(app): State<AppState>, PathId(id): PathId) -> Result<Json<StreamInfo>, ApiError> {
    let live = app.stream(&id)?;
    Ok(Json(StreamInfo::of(&app, &live)))
}

/// Stops a stream: its capture ends and its clients' responses finish.
#[utoipa::path(delete, path = "/api/streams/{id}", operation_id = "deleteStream", tag = "streams",
    params(("id" = String, Path, description = "Stream id")),
    responses(
        (status = 204, description = "Stopped"),
        (status = 404, description = "No such stream", body = ErrorBody),
    ))]
async fn delete_stream(State(app): State<AppState>, PathId(id): PathId) -> Result<StatusCode, ApiError> {
    let (_, live) = app
        .streams
        .remove(&id)
        .ok_or_else(|| ApiError::NotFound(format!("no stream with id {id}")))?;
    live.stop.store(true, Ordering::Relaxed);
    // Ends every client's wait for a next frame.
    live.latest.send_replace(None);
    tracing::info!(stream = %id, "stream removed");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MjpegQuery {
    /// Starting JPEG quality 1..=100, snapped to the configured levels (default 70); it then
    /// follows what the client keeps up with.
    quality: Option<u8>,
    /// Most frames per second to send this client (default: the stream's rate), at least
    /// one frame every 100 s.
    #[param(minimum = 0.01)]
    fps: Option<f64>,
}

/// What one client has been sent.
#[derive(Debug)]
pub(crate) struct ViewerStats {
    kind: &'static str,
    quality: std::sync::atomic::AtomicU8,
    frames: AtomicU64,
    dropped: AtomicU64,
    bytes: AtomicU64,
    since: Instant,
}

/// Counts a client (and keeps its figures in the stream's list) while its response lives.
struct Watching {
    live: Arc<Live>,
    key: u64,
    stats: Arc<ViewerStats>,
}

impl Watching {
    fn new(live: &Arc<Live>, kind: &'static str, quality: u8) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let key = NEXT.fetch_add(1, Ordering::Relaxed);
        let stats = Arc::new(ViewerStats {
            kind,
            quality: std::sync::atomic::AtomicU8::new(quality),
            frames: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            since: Instant::now(),
        });
        live.viewers.insert(key, Arc::clone(&stats));
        Self {
            live: Arc::clone(live),
            key,
            stats,
        }
    }

    /// Records a frame sent, and the frames skipped since the one before (`previous`).
    fn sent(&self, frame: &LiveFrame, previous: Option<u64>, bytes: usize) -> u64 {
        let skipped = previous.map_or(0, |p| frame.id.saturating_sub(p + 1));
        self.stats.frames.fetch_add(1, Ordering::Relaxed);
        self.stats.dropped.fetch_add(skipped, Ordering::Relaxed);
        self.stats.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        skipped
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.live.viewers.remove(&self.key);
    }
}

/// What one MJPEG response holds between parts.
struct Viewer {
    frames: watch::Receiver<Option<Arc<LiveFrame>>>,
    last: Option<Arc<LiveFrame>>,
    /// The quality this client gets, adapting to how it keeps up.
    adapt: Adapt,
    /// The stream's rate, to tell how many frames a late client missed.
    fps: f64,
    gap: Duration,
    heartbeat: Duration,
    next_due: tokio::time::Instant,
    watching: Watching,
}

impl Viewer {
    /// The next part: a new frame once one is due, or the last one again (marked stale) when
    /// none came for a heartbeat. None when the stream is gone.
    async fn next_part(&mut self) -> Option<Bytes> {
        // Asked for later than due: the client was still taking the previous part (the server
        // writes no faster than it reads), and the frames of that delay were skipped for it.
        let late = tokio::time::Instant::now().saturating_duration_since(self.next_due);
        tokio::time::sleep_until(self.next_due).await;
        let last_id = self.last.as_ref().map(|f| f.id);
        let (frame, stale) = loop {
            let (frames, live) = (&mut self.frames, &self.watching.live);
            let newer = tokio::time::timeout(self.heartbeat, async move {
                // The borrow of the channel ends here, before any other await. Removing the
                // stream sends None to wake every waiting client.
                frames
                    .wait_for(|f| live.stopped() || f.as_ref().is_some_and(|f| Some(f.id) != last_id))
                    .await
                    .map(|f| f.as_ref().map(Arc::clone))
            })
            .await;
            match newer {
                Ok(Ok(f)) => break (f?, false),
                Ok(Err(_)) => return None,
                Err(_) => {
                    // Nothing new for a heartbeat: the last frame again, marked stale (before a
                    // first frame there is nothing to send; keep waiting).
                    if let Some(last) = &self.last {
                        break (Arc::clone(last), true);
                    }
                }
            }
        };
        if self.watching.live.stopped() {
            return None;
        }
        let quality = self.adapt.quality();
        let jpeg = self.watching.live.jpeg(&frame, quality).await.ok()?;
        if !stale {
            self.watching
                .sent(&frame, self.last.as_ref().map(|f| f.id), jpeg.len());
            let behind = (late.as_secs_f64() * self.fps).floor() as u64;
            if let Some(q) = self.adapt.record(Instant::now(), jpeg.len(), behind) {
                self.watching.stats.quality.store(q, Ordering::Relaxed);
            }
        }
        self.next_due = tokio::time::Instant::now() + self.gap;
        let head = format!(
            "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nX-Frame-Id: {}\r\nX-Timestamp: {:.3}\r\nX-Count: {}\r\nX-Quality: {quality}\r\nX-Stale: {}\r\n\r\n",
            jpeg.len(),
            frame.id,
            frame.at_s,
            frame.count,
            u8::from(stale),
        );
        self.last = Some(frame);
        let mut part = Vec::with_capacity(head.len() + jpeg.len() + 2);
        part.extend_from_slice(head.as_bytes());
        part.extend_from_slice(&jpeg);
        part.extend_from_slice(b"\r\n");
        Some(Bytes::from(part))
    }
}

/// The slowest rate an MJPEG client may ask for: a frame every 100 s (heartbeats still come).
const MIN_CLIENT_FPS: f64 = 0.01;

/// The stream as `multipart/x-mixed-replace` JPEG parts, for an `<img>` tag. Each part has
/// `X-Frame-Id`, `X-Timestamp` (seconds since the stream was added), `X-Count`, `X-Quality`
/// and `X-Stale` (1 on a heartbeat: the last frame again, when no new one came for
/// `mjpeg_heartbeat_s`). A client that reads slowly gets the newest frame each time, never a
/// backlog, and its quality steps down from `quality` as it falls behind (as on the WebSocket).
#[utoipa::path(get, path = "/api/streams/{id}/mjpeg", operation_id = "getStreamMjpeg", tag = "streams",
    params(("id" = String, Path, description = "Stream id"), MjpegQuery),
    responses(
        (status = 200, description = "JPEG parts, as they come", content_type = "multipart/x-mixed-replace"),
        (status = 404, description = "No such stream", body = ErrorBody),
        (status = 422, description = "Quality or fps out of range", body = ErrorBody),
    ))]
async fn mjpeg(
    State(app): State<AppState>,
    PathId(id): PathId,
    Params(q): Params<MjpegQuery>,
) -> Result<Response, ApiError> {
    let live = app.stream(&id)?;
    let quality = snap_quality(q.quality.unwrap_or(70), &app.config.jpeg_qualities)?;
    let fps = f64::from(app.config.stream_fps);
    let client_fps = q.fps.unwrap_or(fps);
    if !(client_fps.is_finite() && client_fps >= MIN_CLIENT_FPS) {
        return Err(ApiError::Invalid(format!(
            "fps must be a number of at least {MIN_CLIENT_FPS}"
        )));
    }
    let target_bps = app.config.stream_target_kbps as f64 * 1000.0;
    let viewer = Viewer {
        frames: live.latest.subscribe(),
        last: None,
        adapt: Adapt::new(&app.config.jpeg_qualities, quality, target_bps, Instant::now()),
        fps,
        // A little under the period, so timer jitter does not skip frames at the full rate.
        gap: seconds(0.9 / client_fps.min(fps), "the time between frames")?,
        heartbeat: seconds(app.config.mjpeg_heartbeat_s.max(0.1), "mjpeg_heartbeat_s")?,
        next_due: tokio::time::Instant::now(),
        watching: Watching::new(&live, "mjpeg", quality),
    };
    let body = futures_util::stream::unfold(viewer, |mut v| async move {
        v.next_part().await.map(|part| (Ok::<_, Infallible>(part), v))
    });
    Ok((
        [
            (
                header::CONTENT_TYPE,
                format!("multipart/x-mixed-replace; boundary={BOUNDARY}"),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// Per-client quality for the binary WebSocket: steps down a level when the client falls behind
/// (frames skipped because it was still taking the previous one, or more than the target
/// bitrate), up when it has been well under the target with nothing skipped for a while. Down
/// is quick (a one-second window), up is slow (three), so a client on the edge does not swing.
#[derive(Debug)]
struct Adapt {
    /// The configured levels, best first; the client moves between these.
    levels: Vec<u8>,
    at: usize,
    target_bps: f64,
    window_start: Instant,
    bytes: u64,
    frames: u64,
    skipped: u64,
    last_change: Instant,
    calm_since: Instant,
}

/// Adapt's window for stepping down, and how long a client must stay calm to step up.
const ADAPT_WINDOW: Duration = Duration::from_secs(1);
const ADAPT_UP_AFTER: Duration = Duration::from_secs(3);

impl Adapt {
    fn new(levels: &[u8], start: u8, target_bps: f64, now: Instant) -> Self {
        let mut levels = levels.to_vec();
        levels.sort_unstable_by(|a, b| b.cmp(a));
        levels.dedup();
        let at = levels
            .iter()
            .position(|&l| l <= start)
            .unwrap_or(levels.len().saturating_sub(1));
        Self {
            levels,
            at,
            target_bps,
            window_start: now,
            bytes: 0,
            frames: 0,
            skipped: 0,
            last_change: now,
            calm_since: now,
        }
    }

    fn quality(&self) -> u8 {
        self.levels.get(self.at).copied().unwrap_or(70)
    }

    /// Records one frame sent (`bytes`, after `skipped` frames that were not); returns the new
    /// quality when it changes.
    fn record(&mut self, now: Instant, bytes: usize, skipped: u64) -> Option<u8> {
        self.bytes += bytes as u64;
        self.frames += 1;
        self.skipped += skipped;
        let span = now.duration_since(self.window_start);
        if span < ADAPT_WINDOW {
            return None;
        }
        let bps = self.bytes as f64 * 8.0 / span.as_secs_f64();
        // Behind: more than one frame in five skipped, or over the target.
        let behind = self.skipped * 5 > self.frames + self.skipped || bps > self.target_bps;
        let easy = self.skipped == 0 && bps < self.target_bps * 0.6;
        (self.window_start, self.bytes, self.frames, self.skipped) = (now, 0, 0, 0);
        if !easy {
            self.calm_since = now;
        }
        let before = self.at;
        if behind && self.at + 1 < self.levels.len() {
            self.at += 1;
        } else if easy
            && self.at > 0
            && now.duration_since(self.calm_since) >= ADAPT_UP_AFTER
            && now.duration_since(self.last_change) >= ADAPT_UP_AFTER
        {
            self.at -= 1;
            self.calm_since = now;
        }
        (self.at != before).then(|| {
            self.last_change = now;
            self.quality()
        })
    }
}

/// Bytes before the JPEG in each binary message of `/ws/streams/{id}`.
pub(crate) const FRAME_HEADER_LEN: usize = 24;

/// The fixed header of a binary frame message, all little-endian: frame id (u64, bytes 0..8),
/// timestamp in seconds since the stream was added (f64, 8..16), count (u32, 16..20), JPEG
/// length (u32, 20..24).
fn frame_header(frame: &LiveFrame, jpeg_len: usize) -> [u8; FRAME_HEADER_LEN] {
    let mut h = [0u8; FRAME_HEADER_LEN];
    h[0..8].copy_from_slice(&frame.id.to_le_bytes());
    h[8..16].copy_from_slice(&frame.at_s.to_le_bytes());
    h[16..20].copy_from_slice(&frame.count.to_le_bytes());
    h[20..24].copy_from_slice(&u32::try_from(jpeg_len).unwrap_or(u32::MAX).to_le_bytes());
    h
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SocketQuery {
    /// Starting JPEG quality, snapped to the configured levels (default: the best level); it
    /// then follows what the client keeps up with.
    quality: Option<u8>,
}

/// Text messages of the stream WebSocket.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StreamMessage<'a> {
    /// The source's state (on connect and on every change).
    State(&'a StreamStatus),
    /// The count changed (sent before the frame that shows it).
    Count { frame_id: u64, t: f64, count: u32 },
    /// The quality this client gets from now on.
    Quality { quality: u8 },
}

impl StreamMessage<'_> {
    fn text(&self) -> Message {
        Message::Text(serde_json::to_string(self).unwrap_or_default().into())
    }
}

/// The stream as binary WebSocket messages, one per frame: a 24-byte little-endian header
/// (frame id u64, timestamp f64 seconds since the stream was added, count u32, JPEG length u32)
/// then the JPEG. Text messages: `{"type":"state",...}`, `{"type":"count",frame_id,t,count}`
/// when the count changes, `{"type":"quality","quality":q}` when the quality changes. The
/// quality adapts to the client: down a level when it falls behind (frames skipped while it
/// was busy, or over `stream_target_kbps`), up when it keeps up easily. Only the newest frame
/// ever waits for a client. See docs/streams.md.
#[utoipa::path(get, path = "/ws/streams/{id}", operation_id = "streamSocket", tag = "streams",
    params(("id" = String, Path, description = "Stream id"), SocketQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket handshake, or a parameter that does not parse", body = ErrorBody),
        (status = 404, description = "No such stream", body = ErrorBody),
        (status = 422, description = "Quality out of range", body = ErrorBody),
        (status = 426, description = "The connection cannot be upgraded to a WebSocket", body = ErrorBody),
    ))]
async fn stream_socket(
    State(app): State<AppState>,
    PathId(id): PathId,
    Params(q): Params<SocketQuery>,
    Upgrade(upgrade): Upgrade,
) -> Result<Response, ApiError> {
    let live = app.stream(&id)?;
    let levels = app.config.jpeg_qualities.clone();
    let best = levels.iter().copied().max().unwrap_or(90);
    let start = snap_quality(q.quality.unwrap_or(best), &levels)?;
    let target_bps = app.config.stream_target_kbps as f64 * 1000.0;
    Ok(upgrade.on_upgrade(move |socket| serve_socket(live, socket, levels, start, target_bps)))
}

async fn serve_socket(live: Arc<Live>, socket: WebSocket, levels: Vec<u8>, start: u8, target_bps: f64) {
    let (mut sink, mut incoming) = socket.split();
    let mut adapt = Adapt::new(&levels, start, target_bps, Instant::now());
    let watching = Watching::new(&live, "websocket", adapt.quality());
    let mut frames = live.latest.subscribe();
    let mut status = live.status.subscribe();
    let first = StreamMessage::State(&status.borrow_and_update()).text();
    let (mut last_id, mut last_count) = (None, None);
    if sink.send(first).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            message = incoming.next() => match message {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => continue,
            },
            changed = status.changed() => {
                let text = StreamMessage::State(&status.borrow_and_update()).text();
                if changed.is_err() || sink.send(text).await.is_err() {
                    break;
                }
            },
            changed = frames.changed() => {
                let frame = frames.borrow_and_update().as_ref().map(Arc::clone);
                let Some(frame) = frame else {
                    if changed.is_err() || live.stopped() { break } else { continue }
                };
                let Ok(jpeg) = live.jpeg(&frame, adapt.quality()).await else { break };
                if last_count != Some(frame.count) {
                    last_count = Some(frame.count);
                    let count = StreamMessage::Count { frame_id: frame.id, t: frame.at_s, count: frame.count };
                    if sink.send(count.text()).await.is_err() {
                        break;
                    }
                }
                let mut message = Vec::with_capacity(FRAME_HEADER_LEN + jpeg.len());
                message.extend_from_slice(&frame_header(&frame, jpeg.len()));
                message.extend_from_slice(&jpeg);
                if sink.send(Message::Binary(message.into())).await.is_err() {
                    break;
                }
                let skipped = watching.sent(&frame, last_id, jpeg.len());
                last_id = Some(frame.id);
                if let Some(quality) = adapt.record(Instant::now(), jpeg.len(), skipped) {
                    watching.stats.quality.store(quality, Ordering::Relaxed);
                    if sink.send(StreamMessage::Quality { quality }.text()).await.is_err() {
                        break;
                    }
                }
            },
        }
    }
    let _ = sink.close().await;
}

/// One client of a stream, as `/api/streams/stats` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClientStats {
    /// `mjpeg` or `websocket`.
    kind: String,
    quality: u8,
    frames_sent: u64,
    /// Frames that came while the client was still taking an earlier one, skipped for it.
    frames_dropped: u64,
    /// Mean rate sent since the client came, kilobits per second.
    bitrate_kbps: f64,
    connected_s: f64,
}

/// One stream's figures.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StreamStats {
    id: String,
    frames: u64,
    inferences: u64,
    /// JPEG encodings, and times one was shared instead of encoding again.
    pub(crate) encodes: u64,
    pub(crate) encode_shared: u64,
    encode_ms: f64,
    clients: Vec<ClientStats>,
}

/// All streams' figures: per client quality, bitrate and dropped frames; encodings shared.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StreamsStats {
    pub(crate) clients: u64,
    pub(crate) frames_dropped: u64,
    pub(crate) streams: Vec<StreamStats>,
}

pub(crate) fn streams_stats(app: &App) -> StreamsStats {
    let mut streams: Vec<StreamStats> = app
        .streams
        .iter()
        .map(|live| {
            let info = StreamInfo::of(app, &live);
            let clients = live
                .viewers
                .iter()
                .map(|v| {
                    let secs = v.since.elapsed().as_secs_f64().max(1e-3);
                    ClientStats {
                        kind: v.kind.to_owned(),
                        quality: v.quality.load(Ordering::Relaxed),
                        frames_sent: v.frames.load(Ordering::Relaxed),
                        frames_dropped: v.dropped.load(Ordering::Relaxed),
                        bitrate_kbps: v.bytes.load(Ordering::Relaxed) as f64 * 8.0 / 1000.0 / secs,
                        connected_s: secs,
                    }
                })
                .collect();
            StreamStats {
                id: info.id,
                frames: info.frames,
                inferences: info.inferences,
                encodes: info.encodes,
                encode_shared: info.encode_shared,
                encode_ms: info.encode_ms,
                clients,
            }
        })
        .collect();
    streams.sort_by(|a, b| a.id.cmp(&b.id));
    StreamsStats {
        clients: streams.iter().map(|s| s.clients.len() as u64).sum(),
        frames_dropped: streams
            .iter()
            .flat_map(|s| &s.clients)
            .map(|c| c.frames_dropped)
            .sum(),
        streams,
    }
}

/// Every stream's clients (quality, bitrate, frames dropped) and encoding figures.
#[utoipa::path(get, path = "/api/streams/stats", operation_id = "getStreamsStats", tag = "streams",
    responses((status = 200, description = "The figures", body = StreamsStats)))]
async fn stream_stats(State(app): State<AppState>) -> Json<StreamsStats> {
    Json(streams_stats(&app))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_steps_down_fast_and_up_slowly() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut a = Adapt::new(&[50, 90, 70], 90, 1_000_000.0, t0);
        assert_eq!(a.quality(), 90);
        // Half the frames skipped for a second: one level down, then the next.
        for k in 0..10 {
            assert_eq!(a.record(at(k * 100), 10_000, 1), None);
        }
        assert_eq!(a.record(at(1000), 10_000, 1), Some(70));
        for k in 11..20 {
            a.record(at(k * 100), 10_000, 1);
        }
        assert_eq!(a.record(at(2000), 10_000, 1), Some(50));
        // At the floor it stays.
        for k in 21..=30 {
            assert_eq!(a.record(at(k * 100), 10_000, 1), None);
        }
        // Keeping up easily (2 kB frames 10 times a second: 160 kbit/s, well under 1 Mbit/s,
        // nothing skipped): up one level, and only after three calm seconds.
        let mut ups = Vec::new();
        for k in 31..=100 {
            if let Some(q) = a.record(at(k * 100), 2_000, 0) {
                ups.push((k, q));
            }
        }
        assert_eq!(ups.first().map(|u| u.1), Some(70), "{ups:?}");
        assert!(ups[0].0 >= 60, "up too soon: {ups:?}");
        assert!(ups.len() <= 2, "{ups:?}");
        // Over the bitrate target: down, even with nothing skipped.
        let mut b = Adapt::new(&[90, 70, 50], 90, 100_000.0, t0);
        let mut down = None;
        for k in 0..=10 {
            down = down.or(b.record(at(k * 100), 5_000, 0));
        }
        assert_eq!(down, Some(70));
    }

    #[test]
    fn the_frame_header_is_little_endian_and_fixed() {
        let frame = LiveFrame {
            id: 0x0102_0304_0506_0708,
            at_s: 1.5,
            frame: Arc::new(Frame {
                index: 0,
                pts: Duration::ZERO,
                keyframe: false,
                width: 2,
                height: 2,
                data: vec![0; 12],
            }),
            boxes: Arc::new(Vec::new()),
            count: 7,
        };
        let h = frame_header(&frame, 1234);
        assert_eq!(h[0..8], [8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(f64::from_le_bytes(h[8..16].try_into().unwrap()), 1.5);
        assert_eq!(u32::from_le_bytes(h[16..20].try_into().unwrap()), 7);
        assert_eq!(u32::from_le_bytes(h[20..24].try_into().unwrap()), 1234);
    }
}
