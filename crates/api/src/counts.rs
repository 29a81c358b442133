//! Counts: at a moment (from the index, else the model on that exact frame), over a span for
//! the timeline graph, the changes around a moment, and the detections on a frame.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use pigweight_decode::{Frame, Mode, Size, Target};
use pigweight_indexer::{Provenance, State as IndexState};
use pigweight_inference::{Detection, Priority, ResultKey, SharedImage};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Params, PathId};
use crate::library::Entry;
use crate::state::{App, AppState};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(count_at_time))
        .routes(routes!(get_counts))
        .routes(routes!(get_changes))
        .routes(routes!(get_detections))
}

/// How a count is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CountSource {
    /// The index has a sample at this very frame.
    Indexed,
    /// Between two index samples that agree.
    Interpolated,
    /// The last indexed value before a change somewhere up to the next sample.
    Held,
    /// The model ran on this exact frame (now, or earlier for another request).
    Inferred,
    /// A live stream's newest count (the tracker's, between inferred frames).
    Live,
}

impl From<Provenance> for CountSource {
    fn from(p: Provenance) -> Self {
        match p {
            Provenance::Indexed => Self::Indexed,
            Provenance::Interpolated => Self::Interpolated,
            Provenance::Held => Self::Held,
        }
    }
}

/// The count shown at a moment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct CountAtTime {
    /// Animals counted on the frame on screen at `t`.
    pub(crate) count: u32,
    /// Whether the answer came without running the model now (index or cache).
    pub(crate) cached: bool,
    /// The time asked for, seconds from the first frame.
    pub(crate) t: f64,
    /// The frame on screen at `t` (presentation order, from 0).
    pub(crate) frame_index: u64,
    /// That frame's own time, seconds from the first frame.
    pub(crate) frame_time: f64,
    pub(crate) source: CountSource,
    /// Seconds from the frame to the nearest index sample (0 when indexed or inferred).
    pub(crate) nearest_sample_distance: f64,
}

/// A video and a moment in it.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CountQuery {
    /// Video id.
    id: String,
    /// Seconds from the first frame, 0..=duration.
    t: f64,
}

/// A moment in a video.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AtQuery {
    /// Seconds from the first frame, 0..=duration.
    t: f64,
}

/// The count at a moment: from the index's sample on that frame; else from the model's result
/// on that exact frame if it was computed already (e.g. for `getDetections`); else from the
/// index when it has a sample near enough (or the video is fully indexed); else from the model,
/// run on that exact frame now.
#[utoipa::path(get, path = "/api/video_file/count_at_time", operation_id = "countAtTime", tag = "counts",
    params(CountQuery),
    responses(
        (status = 200, description = "The count", body = CountAtTime),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 422, description = "t is not a time in the video, or the file cannot be read", body = ErrorBody),
        (status = 503, description = "The model is busy; retry", body = ErrorBody),
    ))]
async fn count_at_time(
    State(app): State<AppState>,
    Params(q): Params<CountQuery>,
) -> Result<Json<CountAtTime>, ApiError> {
    let entry = app.entry(&q.id)?;
    Ok(Json(count_at(&app, &entry, q.t, Exact::First).await?))
}

/// Whether the model's cached result on the exact frame comes before the index's neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exact {
    /// For one moment asked for: the most exact answer there is.
    First,
    /// For a stream of counts along the timeline (the WebSocket): the index's step function,
    /// so that results cached for scattered frames do not make the stream flicker.
    Last,
}

/// The count at `t`, as [`count_at_time`] answers it; shared with the WebSocket.
pub(crate) async fn count_at(
    app: &App,
    entry: &Entry,
    t: f64,
    exact: Exact,
) -> Result<CountAtTime, ApiError> {
    let (probed, frame) = app.frame_at(entry, t).await?;
    let frame_time = probed.timeline.time(frame).unwrap_or(t);
    let from_index = app
        .indexer
        .view(&entry.path)
        .and_then(|v| v.count_at(frame, frame_time));
    // The model's own answer on this very frame, when it was asked for already (boxes drawn on
    // a paused frame), is more exact than a value carried over from neighbouring samples.
    if exact == Exact::First
        && from_index.is_none_or(|at| at.provenance != Provenance::Indexed)
        && let Some(found) = app.detections.get(&result_key(app, entry, frame)).await
    {
        return Ok(CountAtTime {
            count: found.len() as u32,
            cached: true,
            t,
            frame_index: frame,
            frame_time,
            source: CountSource::Inferred,
            nearest_sample_distance: 0.0,
        });
    }
    if let Some(at) = from_index {
        let near = at.distance_s <= app.config.max_sample_distance_s;
        let complete = || {
            app.indexer
                .status(&entry.path)
                .is_some_and(|s| s.state == IndexState::Done)
        };
        if near || complete() {
            return Ok(CountAtTime {
                count: at.count,
                cached: true,
                t,
                frame_index: frame,
                frame_time,
                source: at.provenance.into(),
                nearest_sample_distance: at.distance_s,
            });
        }
    }
    let (detections, cached) = detect(app, entry, frame).await?;
    Ok(CountAtTime {
        count: detections.len() as u32,
        cached,
        t,
        frame_index: frame,
        frame_time,
        source: CountSource::Inferred,
        nearest_sample_distance: 0.0,
    })
}

/// A frame's pixels, lent to the scheduler without a copy.
pub(crate) struct Pixels(pub(crate) Arc<Frame>);

impl AsRef<[u8]> for Pixels {
    fn as_ref(&self) -> &[u8] {
        &self.0.data
    }
}

/// Decodes one exact frame at its own size on a blocking thread.
pub(crate) async fn decode(
    app: &App,
    entry: &Entry,
    frame: u64,
    mode: Mode,
    size: Size,
) -> Result<Arc<Frame>, ApiError> {
    let decoder = Arc::clone(&app.decoder);
    let path = entry.path.clone();
    let started = Instant::now();
    let decoded = tokio::task::spawn_blocking(move || decoder.frame(&path, Target::Index(frame), mode, size))
        .await
        .map_err(ApiError::join)??;
    app.counters.decode_ms_total.add(started.elapsed());
    app.counters
        .decodes
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(decoded)
}

/// Names the model's result on one frame of one version of a video.
fn result_key(app: &App, entry: &Entry, frame: u64) -> ResultKey {
    ResultKey {
        video: Arc::clone(entry.version()),
        frame,
        model: Arc::clone(&app.model_tag),
        params: 0,
    }
}

/// The model's detections on exact frame `frame`, from the cache or run now at interactive
/// priority (once for callers asking at the same moment); and whether they were cached.
pub(crate) async fn detect(
    app: &App,
    entry: &Entry,
    frame: u64,
) -> Result<(Arc<Vec<Detection>>, bool), ApiError> {
    let infer = async {
        let decoded = decode(app, entry, frame, Mode::Exact, Size::Native).await?;
        let image = SharedImage {
            width: decoded.width,
            height: decoded.height,
            pixels: Arc::new(Pixels(decoded)),
        };
        let started = Instant::now();
        let detections = Arc::new(app.scheduler.submit(image, Priority::Interactive)?.await?);
        app.counters.inference_ms_total.add(started.elapsed());
        app.counters
            .inferences
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(detections)
    };
    app.detections
        .get_or_infer(result_key(app, entry, frame), infer)
        .await
        .map_err(|e: Arc<ApiError>| (*e).clone())
}

/// A span of a video for the timeline graph.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CountsQuery {
    /// Start, seconds (default 0).
    from: Option<f64>,
    /// End, seconds (default: the end of the video).
    to: Option<f64>,
    /// Most buckets to return, 1..=10000 (default 500).
    points: Option<usize>,
}

/// One bucket of the count series.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CountBucket {
    /// Start of the bucket, seconds.
    time: f64,
    min: u32,
    max: u32,
    /// Time-weighted mean count over the bucket.
    mean: f64,
    /// Index samples inside the bucket; 0 where the values are carried over from neighbouring
    /// samples (draw such stretches as less certain).
    samples: u32,
}

/// The count series of a span.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CountSeries {
    from: f64,
    to: f64,
    /// Seconds each bucket covers.
    bucket_s: f64,
    /// Empty while the index has no samples yet.
    buckets: Vec<CountBucket>,
    /// Whether the index is complete (the series will not change).
    complete: bool,
}

const MAX_POINTS: usize = 10_000;

/// Min, max and mean count per bucket over a span, from the index (any zoom in well under a
/// millisecond). Re-fetch while the index is not complete: it fills in.
#[utoipa::path(get, path = "/api/videos/{id}/counts", operation_id = "getCounts", tag = "counts",
    params(("id" = String, Path, description = "Video id"), CountsQuery),
    responses(
        (status = 200, description = "The series", body = CountSeries),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 422, description = "A bad span or number of points", body = ErrorBody),
    ))]
async fn get_counts(
    State(app): State<AppState>,
    PathId(id): PathId,
    Params(q): Params<CountsQuery>,
) -> Result<Json<CountSeries>, ApiError> {
    let entry = app.entry(&id)?;
    let probed = app.probed(&entry).await?;
    let duration = probed.info.duration;
    let from = q.from.unwrap_or(0.0);
    let to = q.to.unwrap_or(duration);
    let points = q.points.unwrap_or(500);
    if !(from.is_finite() && to.is_finite() && 0.0 <= from && from < to && to <= duration) {
        return Err(ApiError::Invalid(format!(
            "from and to must satisfy 0 <= from < to <= {duration} (the video's duration in seconds)"
        )));
    }
    if !(1..=MAX_POINTS).contains(&points) {
        return Err(ApiError::Invalid(format!("points must be 1..={MAX_POINTS}")));
    }
    let buckets: Vec<CountBucket> = app
        .indexer
        .view(&entry.path)
        .map(|v| v.series(from, to, points))
        .unwrap_or_default()
        .into_iter()
        .map(|b| CountBucket {
            time: b.time,
            min: b.min,
            max: b.max,
            mean: b.mean,
            samples: b.samples,
        })
        .collect();
    let complete = app
        .indexer
        .status(&entry.path)
        .is_some_and(|s| s.state == IndexState::Done);
    Ok(Json(CountSeries {
        from,
        to,
        bucket_s: if buckets.is_empty() {
            0.0
        } else {
            (to - from) / buckets.len() as f64
        },
        buckets,
        complete,
    }))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Direction {
    Next,
    Previous,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChangesQuery {
    /// Seconds from the first frame, 0..=duration.
    t: f64,
    /// `next` (default) or `previous`.
    #[param(inline)]
    dir: Option<Direction>,
}

/// A change of count found in the index.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CountChange {
    /// The first frame with the new count, and its time in seconds.
    frame_index: u64,
    time: f64,
    from: u32,
    to: u32,
}

/// The nearest change, if the index has one that way.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChangeAnswer {
    change: Option<CountChange>,
}

/// The next (or previous) change of count from a moment, as far as the index knows: jump from
/// one event to the next.
#[utoipa::path(get, path = "/api/videos/{id}/changes", operation_id = "getCountChange", tag = "counts",
    params(("id" = String, Path, description = "Video id"), ChangesQuery),
    responses(
        (status = 200, description = "The change, or null", body = ChangeAnswer),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 422, description = "t is not a time in the video", body = ErrorBody),
    ))]
async fn get_changes(
    State(app): State<AppState>,
    PathId(id): PathId,
    Params(q): Params<ChangesQuery>,
) -> Result<Json<ChangeAnswer>, ApiError> {
    let entry = app.entry(&id)?;
    let (_, frame) = app.frame_at(&entry, q.t).await?;
    let change = app
        .indexer
        .view(&entry.path)
        .and_then(|v| match q.dir.unwrap_or(Direction::Next) {
            Direction::Next => v.next_change(frame),
            Direction::Previous => v.previous_change(frame),
        });
    Ok(Json(ChangeAnswer {
        change: change.map(|c| CountChange {
            frame_index: c.frame,
            time: c.time,
            from: c.from,
            to: c.to,
        }),
    }))
}

/// One detected animal.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DetectionDto {
    /// x1, y1, x2, y2 in the video's pixels.
    #[serde(rename = "box")]
    bbox: [f32; 4],
    score: f32,
    class: u32,
    class_name: String,
}

/// What the model sees on one frame.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FrameDetections {
    t: f64,
    frame_index: u64,
    frame_time: f64,
    count: u32,
    /// Whether they came from the cache rather than a model run now.
    cached: bool,
    detections: Vec<DetectionDto>,
}

/// The detections on the exact frame on screen at `t` (the counted classes only).
#[utoipa::path(get, path = "/api/videos/{id}/detections", operation_id = "getDetections", tag = "counts",
    params(("id" = String, Path, description = "Video id"), AtQuery),
    responses(
        (status = 200, description = "The detections", body = FrameDetections),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 422, description = "t is not a time in the video", body = ErrorBody),
        (status = 503, description = "The model is busy; retry", body = ErrorBody),
    ))]
async fn get_detections(
    State(app): State<AppState>,
    PathId(id): PathId,
    Params(q): Params<AtQuery>,
) -> Result<Json<FrameDetections>, ApiError> {
    let entry = app.entry(&id)?;
    let (probed, frame) = app.frame_at(&entry, q.t).await?;
    let (detections, cached) = detect(&app, &entry, frame).await?;
    let names = &app.scheduler.info().names;
    Ok(Json(FrameDetections {
        t: q.t,
        frame_index: frame,
        frame_time: probed.timeline.time(frame).unwrap_or(q.t),
        count: detections.len() as u32,
        cached,
        detections: detections
            .iter()
            .map(|d| DetectionDto {
                bbox: d.bbox,
                score: d.score,
                class: d.class,
                class_name: names
                    .get(d.class as usize)
                    .cloned()
                    .unwrap_or_else(|| d.class.to_string()),
            })
            .collect(),
    }))
}
