//! The library: which videos there are, what each is, and where its index stands.

use std::path::Path;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pigweight_decode::MediaInfo;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Params, PathId};
use crate::library::{Change, Entry, client_path};
use crate::state::{App, AppState};
use crate::upload;
use crate::wire::IndexStatus;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_videos, add_video))
        .routes(routes!(get_video, delete_video))
        .routes(routes!(get_index_status, rebuild_index))
        .routes(routes!(get_frame_table))
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
    /// File size in bytes (0 while the file is still being written).
    size: u64,
    /// Seconds (of the readable part), once the server has read the file's facts: soon after
    /// it is listed, and at once after a restart for a file indexed before.
    duration: Option<f64>,
    /// Set when the file's data ends before the duration its container declares (a copy cut
    /// short, a recording stopped mid-write): that declared duration in seconds. `duration` is
    /// what can be read, and is what is indexed and played.
    truncated_from: Option<f64>,
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
    /// Set when the file's data ends before the duration its container declares: that
    /// duration, in seconds; everything above describes the readable part.
    truncated_from: Option<f64>,
    index: Option<IndexStatus>,
    /// The file's type as a browser's `canPlayType` takes it (`video/mp4; codecs="avc1.640028"`),
    /// when its container is one browsers read (MP4, WebM); absent otherwise. A player that can
    /// play it streams the file itself (`/stream`), else HLS (`/hls/master.m3u8`).
    #[schema(example = "video/mp4; codecs=\"hvc1.1.6.L93.B0\"")]
    browser_type: Option<String>,
    /// The HLS master playlist: renditions that play in any browser with HLS or MSE.
    hls: String,
}

/// What a browser is asked it can play, for the file's container and codec.
fn browser_type(info: &MediaInfo) -> Option<String> {
    let container = info.container.to_ascii_lowercase();
    let codec = info.codec.to_ascii_lowercase();
    let mp4 = container.contains("mp4") || container.contains("quicktime");
    let webm = container.contains("webm");
    let codecs = if codec.starts_with("h.264") {
        "avc1.640028"
    } else if codec.starts_with("h.265") {
        "hvc1.1.6.L93.B0"
    } else if codec.starts_with("vp9") {
        "vp09.00.10.08"
    } else if codec.starts_with("vp8") {
        "vp8"
    } else if codec.starts_with("av1") {
        "av01.0.05M.08"
    } else {
        return None;
    };
    match (mp4, webm) {
        (true, _) => Some(format!("video/mp4; codecs=\"{codecs}\"")),
        (_, true) => Some(format!("video/webm; codecs=\"{codecs}\"")),
        _ => None,
    }
}

impl VideoDetail {
    fn new(id: String, name: String, info: &MediaInfo, index: Option<IndexStatus>) -> Self {
        Self {
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
            truncated_from: info.truncated_from,
            index,
            browser_type: browser_type(info),
            hls: format!("/api/videos/{id}/hls/master.m3u8"),
            id,
        }
    }
}

impl VideoSummary {
    fn of(app: &AppState, entry: Entry) -> Self {
        let status = app.indexer.status(&entry.path);
        let probed = app.probed_if_known(&entry);
        Self {
            index: status.as_ref().map(|s| IndexStatus::new(s, app.scheduler.info())),
            size: entry.size(),
            duration: probed
                .as_ref()
                .map(|p| p.info.duration)
                .or(status.as_ref().and_then(|s| s.duration_s)),
            truncated_from: probed
                .as_ref()
                .map(|p| p.info.truncated_from)
                .unwrap_or(status.as_ref().and_then(|s| s.truncated_from_s)),
            id: entry.id,
            name: entry.name,
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
            .map(|e| VideoSummary::of(&app, e))
            .collect(),
    )
}

/// A file already in a library folder, to list (and index) now rather than when the folder
/// watch sees it (network file systems may never tell it).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterVideo {
    /// Path relative to a library folder.
    #[schema(example = "pen4/morning.mp4")]
    path: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AddQuery {
    /// For an upload: the name to store it under, relative to the upload folder (the first
    /// library folder), e.g. `pen4/morning.mp4`.
    name: Option<String>,
}

/// Adds a video: upload its bytes (any content type but JSON; `name` says where it goes), or
/// send `{"path": ...}` as JSON to list a file that is already in a library folder. Paths are
/// relative, with plain parts only: `..`, absolute paths, hidden names and links are refused.
/// An upload is streamed to disk, checked to be a readable video, and never replaces a file.
#[utoipa::path(post, path = "/api/videos", operation_id = "addVideo", tag = "videos",
    params(AddQuery),
    request_body(description = "The video's bytes, or a path to register as JSON", content(
        (RegisterVideo = "application/json"),
        ("application/octet-stream"),
        ("video/mp4"),
    )),
    responses(
        (status = 201, description = "Added (and queued for indexing)", body = VideoSummary,
            headers(("Location" = String, description = "The new video's URL"))),
        (status = 200, description = "Already listed, unchanged", body = VideoSummary),
        (status = 400, description = "No name for an upload, a broken JSON body, or an upload that broke off", body = ErrorBody),
        (status = 404, description = "No such file in the library folders", body = ErrorBody),
        (status = 409, description = "A file of that name exists", body = ErrorBody),
        (status = 413, description = "Larger than the upload limit", body = ErrorBody),
        (status = 422, description = "A refused path, or an upload that is not a readable video", body = ErrorBody),
        (status = 503, description = "Too many uploads at once; retry later", body = ErrorBody),
    ))]
async fn add_video(
    State(app): State<AppState>,
    Params(query): Params<AddQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.essence_str() == "application/json");
    let (entry, created) = if is_json {
        register(&app, body).await?
    } else {
        (receive_upload(&app, query, &headers, body).await?, true)
    };
    if created {
        app.apply(&Change::Changed(entry.clone()));
    }
    let location = format!("/api/videos/{}", entry.id);
    let summary = Json(VideoSummary::of(&app, entry));
    Ok(if created {
        (StatusCode::CREATED, [(header::LOCATION, location)], summary).into_response()
    } else {
        summary.into_response()
    })
}

/// Lists a file named by a JSON body; says whether it is new or changed.
async fn register(app: &AppState, body: Body) -> Result<(Entry, bool), ApiError> {
    let limit = app.config.max_body_kb * 1024;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large =
            std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::too_large(format!("a JSON body is limited to {} KiB", limit >> 10))
        } else {
            ApiError::bad_request(format!("reading the body: {e}"))
        }
    })?;
    let request: RegisterVideo = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the body must be {{\"path\": \"...\"}}: {e}")))?;
    let relative = client_path(&request.path)?;
    let library = std::sync::Arc::clone(&app.library);
    tokio::task::spawn_blocking(move || library.register(&relative))
        .await
        .map_err(ApiError::join)?
}

/// Receives an upload into the upload folder.
async fn receive_upload(
    app: &AppState,
    query: AddQuery,
    headers: &HeaderMap,
    body: Body,
) -> Result<Entry, ApiError> {
    let name = query.name.ok_or_else(|| {
        ApiError::bad_request(
            "an upload needs `name` in the query (or send JSON {\"path\"} to register a file)",
        )
    })?;
    let name = client_path(&name)?;
    let folder = app
        .library
        .upload_folder()
        .ok_or_else(|| ApiError::invalid("the server has no library folder to upload into"))?
        .to_owned();
    let limit = app.config.max_upload_mb << 20;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(upload::too_large(limit));
    }
    if tokio::fs::symlink_metadata(folder.join(&name)).await.is_ok() {
        return Err(upload::exists(&name));
    }
    let _permit = std::sync::Arc::clone(&app.uploads)
        .try_acquire_owned()
        .map_err(|_| ApiError::busy("too many uploads at once; try again shortly"))?;
    let partial = upload::receive(body, &folder, limit).await?;
    let (decoder, library) = (
        std::sync::Arc::clone(&app.decoder),
        std::sync::Arc::clone(&app.library),
    );
    let entry =
        tokio::task::spawn_blocking(move || upload::finish(partial, &decoder, &library, &folder, &name))
            .await
            .map_err(ApiError::join)??;
    tracing::info!(video = %entry.name, "uploaded");
    Ok(entry)
}

/// One video: its facts (size, duration, exact frame count, ...) and index status.
#[utoipa::path(get, path = "/api/videos/{id}", operation_id = "getVideo", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 200, description = "The video", body = VideoDetail),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 422, description = "The file cannot be read as a video", body = ErrorBody),
    ))]
async fn get_video(State(app): State<AppState>, PathId(id): PathId) -> Result<Json<VideoDetail>, ApiError> {
    let entry = app.entry(&id)?;
    let probed = app.probed(&entry).await?;
    let index = index_status(&app, &entry.path);
    Ok(Json(VideoDetail::new(entry.id, entry.name, &probed.info, index)))
}

/// Deletes a video: its file is removed from the library folder, its indexing stops, and its
/// id is unknown from then on. Its index stays in the database, so the same file added again
/// picks it up.
#[utoipa::path(delete, path = "/api/videos/{id}", operation_id = "deleteVideo", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such video", body = ErrorBody),
    ))]
async fn delete_video(State(app): State<AppState>, PathId(id): PathId) -> Result<StatusCode, ApiError> {
    let entry = app.entry(&id)?;
    match tokio::fs::remove_file(&entry.path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(ApiError::internal(format!("deleting {}", entry.path.display())).because(e));
        }
    }
    if let Some(entry) = app.library.remove(&id) {
        tracing::info!(video = %entry.name, "deleted");
        app.apply(&Change::Removed(entry));
    }
    Ok(StatusCode::NO_CONTENT)
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
    PathId(id): PathId,
) -> Result<Json<IndexStatus>, ApiError> {
    let entry = app.entry(&id)?;
    index_status(&app, &entry.path)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("video {id} has not been queued for indexing yet")))
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
    PathId(id): PathId,
) -> Result<(axum::http::StatusCode, Json<IndexStatus>), ApiError> {
    let entry = app.entry(&id)?;
    // `add` reads the file's version (a `stat`): off the runtime.
    let (indexer, path) = (std::sync::Arc::clone(&app.indexer), entry.path.clone());
    tokio::task::spawn_blocking(move || indexer.add(&path))
        .await
        .map_err(ApiError::join)?;
    let status =
        index_status(&app, &entry.path).ok_or_else(|| ApiError::internal("a queued video has no status"))?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(status)))
}

/// Where the video at `path` stands in indexing, as the wire shows it.
fn index_status(app: &App, path: &Path) -> Option<IndexStatus> {
    app.indexer
        .status(path)
        .map(|s| IndexStatus::new(&s, app.scheduler.info()))
}

/// Evenly spaced frames of a video: `count` frames from `first`, the first at `time` (seconds
/// from the video's first frame), `step` seconds apart.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FrameRun {
    first: u64,
    time: f64,
    step: f64,
    count: u64,
}

/// Every frame's time, as runs of evenly spaced frames (one run for a constant frame rate).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FrameTable {
    frame_count: u64,
    /// In frame order; together they hold every frame once.
    runs: Vec<FrameRun>,
}

/// The video's frame table: frame k's time and the frame on screen at t, exactly as every other
/// endpoint counts them (frame k is the k-th smallest presentation time; the frame at t is the
/// last one at or before t), also where the frame rate varies. Each frame's time in its run is
/// within a microsecond of its own. Players number frames from this, not from `t * fps`.
#[utoipa::path(get, path = "/api/videos/{id}/frames", operation_id = "getFrameTable", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 200, description = "The table", body = FrameTable),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 422, description = "The file cannot be read as a video", body = ErrorBody),
    ))]
async fn get_frame_table(
    State(app): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<FrameTable>, ApiError> {
    let entry = app.entry(&id)?;
    let probed = app.probed(&entry).await?;
    let tl = &probed.timeline;
    let runs = tl
        .runs()
        .into_iter()
        .map(|r| FrameRun {
            first: r.first,
            time: r.offset_ns as f64 / 1e9,
            step: r.step_ns as f64 / 1e9,
            count: r.count,
        })
        .collect();
    Ok(Json(FrameTable {
        frame_count: tl.len(),
        runs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segments::tests::info;

    #[test]
    fn browser_types_are_given_for_mp4_and_webm_only() {
        let of = |container: &str, codec: &str| {
            browser_type(&MediaInfo {
                container: container.into(),
                ..info(codec, 1280, 720)
            })
        };
        assert_eq!(
            of("ISO MP4/M4A", "H.264 (High Profile)").as_deref(),
            Some("video/mp4; codecs=\"avc1.640028\"")
        );
        assert_eq!(
            of("WebM", "VP9").as_deref(),
            Some("video/webm; codecs=\"vp09.00.10.08\"")
        );
        assert_eq!(of("Matroska", "H.264 (High Profile)"), None);
        assert_eq!(of("MPEG-2 Transport Stream", "H.264 (High Profile)"), None);
        assert_eq!(of("ISO MP4/M4A", "MPEG-4 Video"), None);
    }
}
