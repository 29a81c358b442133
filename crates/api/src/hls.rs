//! A recorded video as HLS: the master playlist of its renditions, each rendition's VOD
//! playlist, and the MPEG-TS segments (see `segments`). What a browser that cannot play the
//! file's codec or container (H.265, MPEG-4 Part 2, MJPEG, AVI, MKV) plays instead, and what a
//! slow link plays at a lower rendition.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{PathArgs, PathId};
use crate::library::Entry;
use crate::segments::{Rung, master_playlist, media_playlist};
use crate::state::{App, AppState};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(master))
        .routes(routes!(media))
        .routes(routes!(segment))
}

/// The media type of HLS playlists.
pub(crate) const PLAYLIST: &str = "application/vnd.apple.mpegurl";

fn playlist(text: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(PLAYLIST)),
            // A changed file changes its renditions: ask again each time.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        text,
    )
        .into_response()
}

/// The video's renditions and its entry.
async fn rungs(app: &App, id: &str) -> Result<(Entry, Arc<pigweight_decode::Probed>, Vec<Rung>), ApiError> {
    let entry = app.entry(id)?;
    let probed = app.probed(&entry).await?;
    let rungs = app.segments.ladder(&probed, entry.size());
    Ok((entry, probed, rungs))
}

/// The master playlist of `id`, for app's clients (the compat path answers it too).
pub(crate) async fn master_of(app: &App, id: &str) -> Result<Response, ApiError> {
    let (_, _, rungs) = rungs(app, id).await?;
    Ok(playlist(master_playlist(&rungs)))
}

/// The master playlist: every rendition (`source`, then lower heights such as `720p` and
/// `360p`), with its resolution and peak bandwidth, best first. `source` is the file's own
/// H.264 repackaged when it is H.264, else transcoded to H.264 at the file's size. Segments
/// keep the file's timestamps: the player's time t is the frame at pts `start_time + t`.
#[utoipa::path(get, path = "/api/videos/{id}/hls/master.m3u8", operation_id = "getHlsMaster", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 200, description = "The master playlist", content_type = "application/vnd.apple.mpegurl", body = String),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 422, description = "The file cannot be read as a video", body = ErrorBody),
    ))]
async fn master(State(app): State<AppState>, PathId(id): PathId) -> Result<Response, ApiError> {
    master_of(&app, &id).await
}

fn rung<'a>(rungs: &'a [Rung], name: &str) -> Result<&'a Rung, ApiError> {
    rungs.iter().find(|r| r.name == name).ok_or_else(|| {
        let names: Vec<&str> = rungs.iter().map(|r| r.name.as_str()).collect();
        ApiError::not_found(format!(
            "no rendition {name}; this video has {}",
            names.join(", ")
        ))
    })
}

/// One rendition's VOD playlist: segments `0.ts`, `1.ts` ... cut at the file's keyframes, about
/// `hls_segment_s` long each (a longer GOP is one segment).
#[utoipa::path(get, path = "/api/videos/{id}/hls/{rendition}/index.m3u8", operation_id = "getHlsPlaylist", tag = "videos",
    params(
        ("id" = String, Path, description = "Video id"),
        ("rendition" = String, Path, description = "Rendition name from the master playlist (`source`, `720p` ...)"),
    ),
    responses(
        (status = 200, description = "The media playlist", content_type = "application/vnd.apple.mpegurl", body = String),
        (status = 404, description = "No such video or rendition", body = ErrorBody),
        (status = 422, description = "The file cannot be read as a video", body = ErrorBody),
    ))]
async fn media(
    State(app): State<AppState>,
    PathArgs((id, name)): PathArgs<(String, String)>,
) -> Result<Response, ApiError> {
    let (_, probed, rungs) = rungs(&app, &id).await?;
    rung(&rungs, &name)?;
    Ok(playlist(media_playlist(&app.segments.cuts(&probed))))
}

/// One segment as MPEG-TS (`video/mp2t`): made on its first request (repackaged or transcoded),
/// then served from the disk cache; the next ones are made ahead. A segment that cannot be made
/// is a 500 for its request alone.
#[utoipa::path(get, path = "/api/videos/{id}/hls/{rendition}/{segment}", operation_id = "getHlsSegment", tag = "videos",
    params(
        ("id" = String, Path, description = "Video id"),
        ("rendition" = String, Path, description = "Rendition name"),
        ("segment" = String, Path, description = "`N.ts`, N from 0 as the playlist lists them"),
    ),
    responses(
        (status = 200, description = "The segment", content_type = "video/mp2t"),
        (status = 404, description = "No such video, rendition or segment", body = ErrorBody),
        (status = 422, description = "The file cannot be read as a video", body = ErrorBody),
        (status = 500, description = "The segment could not be made (the cause is logged)", body = ErrorBody),
    ))]
async fn segment(
    State(app): State<AppState>,
    PathArgs((id, name, file)): PathArgs<(String, String, String)>,
) -> Result<Response, ApiError> {
    let n: usize = file
        .strip_suffix(".ts")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| ApiError::not_found(format!("no segment {file}: segments are N.ts")))?;
    let (entry, probed, rungs) = rungs(&app, &id).await?;
    let rung = rung(&rungs, &name)?;
    let cuts = app.segments.cuts(&probed);
    let bytes = app.segments.get(&entry, &cuts, rung, n).await?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("video/mp2t")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=300"),
            ),
        ],
        bytes,
    )
        .into_response())
}
