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
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pigweight_decode::{Frame, LiveConfig, LiveSource};
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
use crate::extract::{Params, StreamId};
use crate::frames::{Format, draw_overlay, encode, snap_quality};
use crate::state::{App, AppState};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_streams, add_stream))
        .routes(routes!(get_stream, delete_stream))
        .routes(routes!(mjpeg))
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
}

/// A source's state and why.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct StreamStatus {
    state: SourceState,
    /// Why the source is retrying.
    reason: Option<String>,
    /// Failed attempts in a row.
    attempts: u32,
}

/// The newest frame of a source, with the model's view of it.
#[derive(Debug)]
pub(crate) struct LiveFrame {
    /// Counts frames over the stream's whole life (reopening does not restart it).
    id: u64,
    /// Seconds since the stream was added.
    at_s: f64,
    frame: Arc<Frame>,
    /// The tracked animals: boxes of the last inferred frame, carried by the tracker.
    boxes: Arc<Vec<Detection>>,
    count: u32,
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
    clients: AtomicU64,
    frames: AtomicU64,
    inferences: AtomicU64,
    encodes: AtomicU64,
    encode_us: AtomicU64,
    encode_hits: AtomicU64,
}

impl Live {
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
        if let Some(bytes) = cell.get() {
            self.encode_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(bytes.clone());
        }
        let bytes = cell
            .get_or_try_init(|| {
                let frame = Arc::clone(frame);
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
            live.frames.fetch_add(1, Ordering::Relaxed);
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
    /// The source, with any password in a URL hidden.
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
            clients: live.clients.load(Ordering::Relaxed),
            frames: live.frames.load(Ordering::Relaxed),
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
        (status = 422, description = "A URL that is not rtsp/http(s), or too many streams", body = ErrorBody),
    ))]
async fn add_stream(
    State(app): State<AppState>,
    body: Result<Json<NewStream>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<StreamInfo>), ApiError> {
    let Json(new) = body?;
    let (source, default_name) = match (&new.url, &new.video) {
        (Some(url), None) => {
            let parsed = url::Url::parse(url).map_err(|e| ApiError::Invalid(format!("not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "rtsp" | "rtsps" | "http" | "https") {
                return Err(ApiError::Invalid(
                    "a camera URL must be rtsp, rtsps, http or https".into(),
                ));
            }
            (url.clone(), parsed.host_str().unwrap_or("camera").to_owned())
        }
        (None, Some(video)) => {
            let entry = app.entry(video)?;
            (entry.path.to_string_lossy().into_owned(), entry.name)
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
        shown: redact(&source),
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
        clients: AtomicU64::new(0),
        frames: AtomicU64::new(0),
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
async fn get_stream(
    State(app): State<AppState>,
    StreamId(id): StreamId,
) -> Result<Json<StreamInfo>, ApiError> {
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
async fn delete_stream(State(app): State<AppState>, StreamId(id): StreamId) -> Result<StatusCode, ApiError> {
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
    /// JPEG quality 1..=100, snapped to the configured levels (default 70).
    quality: Option<u8>,
    /// Most frames per second to send this client (default: the stream's rate).
    fps: Option<f64>,
}

/// Counts a client while its response lives.
struct Watching(Arc<Live>);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What one MJPEG response holds between parts.
struct Viewer {
    live: Arc<Live>,
    frames: watch::Receiver<Option<Arc<LiveFrame>>>,
    last: Option<Arc<LiveFrame>>,
    quality: u8,
    gap: Duration,
    heartbeat: Duration,
    next_due: tokio::time::Instant,
    _watching: Watching,
}

impl Viewer {
    /// The next part: a new frame once one is due, or the last one again (marked stale) when
    /// none came for a heartbeat. None when the stream is gone.
    async fn next_part(&mut self) -> Option<Bytes> {
        tokio::time::sleep_until(self.next_due).await;
        let last_id = self.last.as_ref().map(|f| f.id);
        let (frames, live) = (&mut self.frames, &self.live);
        let newer = tokio::time::timeout(self.heartbeat, async move {
            // The borrow of the channel ends here, before any other await. Removing the stream
            // sends None to wake every waiting client.
            frames
                .wait_for(|f| live.stopped() || f.as_ref().is_some_and(|f| Some(f.id) != last_id))
                .await
                .map(|f| f.as_ref().map(Arc::clone))
        })
        .await;
        let (frame, stale) = match newer {
            Ok(Ok(f)) => (f?, false),
            Ok(Err(_)) => return None,
            Err(_) => (self.last.as_ref().map(Arc::clone)?, true),
        };
        if self.live.stopped() {
            return None;
        }
        let jpeg = self.live.jpeg(&frame, self.quality).await.ok()?;
        self.next_due = tokio::time::Instant::now() + self.gap;
        let head = format!(
            "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nX-Frame-Id: {}\r\nX-Timestamp: {:.3}\r\nX-Count: {}\r\nX-Stale: {}\r\n\r\n",
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

/// The stream as `multipart/x-mixed-replace` JPEG parts, for an `<img>` tag. Each part has
/// `X-Frame-Id`, `X-Timestamp` (seconds since the stream was added), `X-Count` and `X-Stale`
/// (1 on a heartbeat: the last frame again, when no new one came for `mjpeg_heartbeat_s`).
/// A client that reads slowly gets the newest frame each time, never a backlog.
#[utoipa::path(get, path = "/api/streams/{id}/mjpeg", operation_id = "getStreamMjpeg", tag = "streams",
    params(("id" = String, Path, description = "Stream id"), MjpegQuery),
    responses(
        (status = 200, description = "JPEG parts, as they come", content_type = "multipart/x-mixed-replace"),
        (status = 404, description = "No such stream", body = ErrorBody),
        (status = 422, description = "Quality or fps out of range", body = ErrorBody),
    ))]
async fn mjpeg(
    State(app): State<AppState>,
    StreamId(id): StreamId,
    Params(q): Params<MjpegQuery>,
) -> Result<Response, ApiError> {
    let live = app.stream(&id)?;
    let quality = snap_quality(q.quality.unwrap_or(70), &app.config.jpeg_qualities)?;
    let fps = f64::from(app.config.stream_fps);
    let client_fps = q.fps.unwrap_or(fps);
    if !(client_fps.is_finite() && client_fps > 0.0) {
        return Err(ApiError::Invalid("fps must be a positive number".into()));
    }
    live.clients.fetch_add(1, Ordering::Relaxed);
    let viewer = Viewer {
        frames: live.latest.subscribe(),
        last: None,
        quality,
        // A little under the period, so timer jitter does not skip frames at the full rate.
        gap: Duration::from_secs_f64(0.9 / client_fps.min(fps)),
        heartbeat: Duration::from_secs_f64(app.config.mjpeg_heartbeat_s.max(0.1)),
        next_due: tokio::time::Instant::now(),
        _watching: Watching(Arc::clone(&live)),
        live,
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
