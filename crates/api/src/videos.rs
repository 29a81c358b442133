//! The library: which videos there are, what each is, and where its index stands.

use axum::Json;
use axum::extract::State;
use pigweight_decode::MediaInfo;
use pigweight_indexer::{Pass, State as IndexState, Status};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::VideoId;
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_videos))
        .routes(routes!(get_video))
        .routes(routes!(get_index_status, rebuild_index))
}

/// One video of the library, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VideoSummary {
    /// Stable id (the same across restarts while the file keeps its path).
    #[schema(example = "6c1a1e0f2b9d4a57")]
    id: String,
    /// Path relative to its library folder.
    #[schema(example = "pen4/morning.mp4")]
    name: String,
    /// Where indexing stands; absent before the indexer has seen the file.
    index: Option<IndexStatus>,
}

/// One video's facts and index status.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VideoDetail {
    id: String,
    name: String,
    /// Container format (e.g. "ISO MP4/M4A", "Matroska").
    container: String,
    /// Video codec (e.g. "H.264 (High Profile)").
    codec: String,
    width: u32,
    height: u32,
    /// Clockwise rotation in degrees that players should apply; frames come out as stored.
    rotation: u32,
    /// Seconds from the first frame to the end of the last.
    duration: f64,
    /// Frames per second, averaged over the whole video.
    fps: f64,
    /// The rate the container declares, if any.
    nominal_fps: Option<f64>,
    variable_frame_rate: bool,
    /// Exact number of frames.
    frame_count: u64,
    keyframe_count: u64,
    /// Longest run of frames from one keyframe to the next.
    max_gop: u64,
    /// Whether frames are stored out of presentation order (B-frames).
    reordered: bool,
    /// The first frame's presentation timestamp, seconds.
    start_time: f64,
    index: Option<IndexStatus>,
}

impl VideoDetail {
    fn new(id: String, name: String, info: &MediaInfo, index: Option<IndexStatus>) -> Self {
        Self {
            id,
            name,
            container: info.container.clone(),
            codec: info.codec.clone(),
            width: info.width,
            height: info.height,
            rotation: info.rotation,
            duration: info.duration,
            fps: info.fps,
            nominal_fps: info.nominal_fps,
            variable_frame_rate: info.variable_frame_rate,
            frame_count: info.frame_count,
            keyframe_count: info.keyframe_count,
            max_gop: info.max_gop,
            reordered: info.reordered,
            start_time: info.start_time,
            index,
        }
    }
}

/// Where a video's indexing stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct IndexStatus {
    state: IndexStateName,
    /// The pass running while `indexing`: keyframes first (a rough timeline), then regular
    /// samples, then refinement of count changes to the frame.
    pass: Option<IndexPass>,
    /// Why indexing failed, when it did.
    reason: Option<String>,
    /// The current pass's progress, 0..=100.
    percent: f64,
    /// Samples in the index so far.
    samples: u64,
    /// Seconds to the end of the current pass at the recent rate, when it can be told.
    eta_s: Option<f64>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum IndexStateName {
    Queued,
    Indexing,
    Done,
    Failed,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum IndexPass {
    Keyframes,
    Regular,
    Refine,
}

impl From<&Status> for IndexStatus {
    fn from(s: &Status) -> Self {
        let (state, pass, reason) = match &s.state {
            IndexState::Queued => (IndexStateName::Queued, None, None),
            IndexState::Indexing { pass } => {
                let pass = match pass {
                    Pass::Keyframes => Some(IndexPass::Keyframes),
                    Pass::Regular => Some(IndexPass::Regular),
                    Pass::Refine => Some(IndexPass::Refine),
                    Pass::Done | Pass::Failed => None,
                };
                (IndexStateName::Indexing, pass, None)
            }
            IndexState::Done => (IndexStateName::Done, None, None),
            IndexState::Failed { reason } => (IndexStateName::Failed, None, Some(reason.clone())),
        };
        Self {
            state,
            pass,
            reason,
            percent: s.percent,
            samples: s.samples,
            eta_s: s.eta_s,
        }
    }
}

/// Every video under the library folders, sorted by name.
#[utoipa::path(get, path = "/api/videos", operation_id = "listVideos", tag = "videos",
    responses((status = 200, description = "The videos", body = [VideoSummary])))]
async fn list_videos(State(app): State<AppState>) -> Json<Vec<VideoSummary>> {
    Json(
        app.library
            .list()
            .into_iter()
            .map(|e| VideoSummary {
                index: app.indexer.status(&e.path).as_ref().map(IndexStatus::from),
                id: e.id,
                name: e.name,
            })
            .collect(),
    )
}

/// One video: its facts (size, duration, exact frame count, ...) and index status.
#[utoipa::path(get, path = "/api/videos/{id}", operation_id = "getVideo", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 200, description = "The video", body = VideoDetail),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 422, description = "The file cannot be read as a video", body = ErrorBody),
    ))]
async fn get_video(State(app): State<AppState>, VideoId(id): VideoId) -> Result<Json<VideoDetail>, ApiError> {
    let entry = app.entry(&id)?;
    let probed = app.probed(&entry).await?;
    let index = app.indexer.status(&entry.path).as_ref().map(IndexStatus::from);
    Ok(Json(VideoDetail::new(entry.id, entry.name, &probed.info, index)))
}

/// Where a video's index stands.
#[utoipa::path(get, path = "/api/videos/{id}/index", operation_id = "getIndexStatus", tag = "index",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 200, description = "Index status", body = IndexStatus),
        (status = 404, description = "No such video, or not seen by the indexer yet", body = ErrorBody),
    ))]
async fn get_index_status(
    State(app): State<AppState>,
    VideoId(id): VideoId,
) -> Result<Json<IndexStatus>, ApiError> {
    let entry = app.entry(&id)?;
    app.indexer
        .status(&entry.path)
        .as_ref()
        .map(|s| Json(IndexStatus::from(s)))
        .ok_or_else(|| ApiError::NotFound(format!("video {id} has not been queued for indexing yet")))
}

/// Queues the video for indexing again (a video already queued or indexing stays where it
/// is); indexing resumes from what the index holds, so nothing done is redone.
#[utoipa::path(post, path = "/api/videos/{id}/index", operation_id = "reindexVideo", tag = "index",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 202, description = "Queued", body = IndexStatus),
        (status = 404, description = "No such video", body = ErrorBody),
    ))]
async fn rebuild_index(
    State(app): State<AppState>,
    VideoId(id): VideoId,
) -> Result<(axum::http::StatusCode, Json<IndexStatus>), ApiError> {
    let entry = app.entry(&id)?;
    app.indexer.add(&entry.path);
    let status = app
        .indexer
        .status(&entry.path)
        .ok_or_else(|| ApiError::Internal("a queued video has no status".into()))?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(IndexStatus::from(&status))))
}
