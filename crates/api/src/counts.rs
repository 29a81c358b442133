//! Counts: at a moment (from the index, else the model on that exact frame), over a span for
//! the timeline graph, the changes around a moment, and the detections on a frame.

use axum::Json;
use axum::extract::State;
use pigweight_indexer::IndexState;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Params, PathId};
use crate::media::{Prefer, count_at, detect};
use crate::state::AppState;
use crate::wire::CountAtTime;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(count_at_time))
        .routes(routes!(get_counts))
        .routes(routes!(get_changes))
        .routes(routes!(get_detections))
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
        (status = 503, description = "The model is busy, or its inference server is unavailable; retry after `Retry-After`", body = ErrorBody),
    ))]
async fn count_at_time(
    State(app): State<AppState>,
    Params(q): Params<CountQuery>,
) -> Result<Json<CountAtTime>, ApiError> {
    let entry = app.entry(&q.id)?;
    Ok(Json(count_at(&app, &entry, q.t, Prefer::ExactFrame).await?))
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
    /// The lowest bottom of the count's band in the bucket (see `count_low` of a count).
    count_low: u32,
    /// The highest top of the count's band in the bucket.
    count_high: u32,
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
        return Err(ApiError::invalid(format!(
            "from and to must satisfy 0 <= from < to <= {duration} (the video's duration in seconds)"
        )));
    }
    if !(1..=MAX_POINTS).contains(&points) {
        return Err(ApiError::invalid(format!("points must be 1..={MAX_POINTS}")));
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
            count_low: b.low,
            count_high: b.high,
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
    /// The fewest and most animals the frame may hold, given what the model is unsure of.
    count_low: u32,
    count_high: u32,
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
        (status = 503, description = "The model is busy, or its inference server is unavailable; retry after `Retry-After`", body = ErrorBody),
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
        count: detections.count(),
        count_low: detections.band.low,
        count_high: detections.band.high,
        cached,
        detections: detections
            .boxes
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
