//! Live camera streams over HTTP: adding, listing and removing them, and their figures. The
//! streams themselves (capture, shared encodings, quality adaptation) are the live crate's;
//! this module and its transports, [`mjpeg`], [`socket`] and [`whep`] (WebRTC), only carry
//! them.

mod mjpeg;
mod socket;
mod whep;
pub(crate) mod wire;

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use http_body_util::BodyExt as _;
use pigweight_live::{Live, Placed, Remote, Source};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::PathId;
use crate::peers::FORWARDED;
use crate::state::{App, AppState};
use wire::{NewStream, StreamInfo, StreamsStats};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_streams, add_stream))
        .routes(routes!(get_stream, delete_stream))
        .routes(routes!(mjpeg::mjpeg))
        .routes(routes!(stream_stats))
        .routes(routes!(socket::stream_socket))
        .routes(routes!(whep::start_webrtc))
        .routes(routes!(whep::stop_webrtc))
}

fn info(app: &App, live: &Live) -> StreamInfo {
    StreamInfo::of(live.info(), app.streams.settings().fps, app.indexer.owner())
}

pub(crate) use socket::relay;

/// Where a stream's viewers are served from.
pub(crate) enum Found {
    Here(Arc<Live>),
    /// The address of the process that captures it.
    At(String),
}

/// Runs a blocking call on the streams (it reads the shared database).
async fn streams<T: Send + 'static>(
    app: &AppState,
    call: impl FnOnce(&pigweight_live::Streams) -> Result<T, pigweight_live::LiveError> + Send + 'static,
) -> Result<T, ApiError> {
    let streams = Arc::clone(&app.streams);
    Ok(tokio::task::spawn_blocking(move || call(&streams))
        .await
        .map_err(ApiError::join)??)
}

/// Where the stream `id` is captured: here, or the process to forward its viewers to. A
/// request that was forwarded already is answered here or not at all. 404 when there is no
/// such stream; 503 while no process captures it (one takes it over within a lease).
pub(crate) async fn find(app: &AppState, id: &str, headers: &HeaderMap) -> Result<Found, ApiError> {
    if let Some(live) = app.streams.get(id) {
        return Ok(Found::Here(live));
    }
    let key = id.to_owned();
    match streams(app, move |s| s.placed(&key)).await? {
        None => Err(ApiError::not_found(format!("no stream with id {id}"))),
        Some(Placed::Here(live)) => Ok(Found::Here(live)),
        Some(Placed::Elsewhere(remote)) => {
            let url = remote.holder.and_then(|h| h.url);
            match url {
                Some(url) if !headers.contains_key(FORWARDED) => Ok(Found::At(url)),
                _ => Err(ApiError::busy(format!(
                    "no process of the cluster captures stream {id} right now; another takes it over \
                     within {} s, try again shortly",
                    app.config.stream_lease_s
                ))),
            }
        }
    }
}

/// A stream another process captures, as that process lists it, or as the database tells when
/// it does not answer.
async fn remote_info(app: &AppState, remote: Remote) -> StreamInfo {
    let fps = app.streams.settings().fps;
    let Some(holder) = remote.holder.clone() else {
        return StreamInfo::remote(
            remote,
            fps,
            "waiting for a process of the cluster to take it over".into(),
        );
    };
    let Some(url) = holder.url.as_deref() else {
        let reason = format!(
            "captured by {}, which gives no address to the others",
            holder.owner
        );
        return StreamInfo::remote(remote, fps, reason);
    };
    let asked = async {
        let response = app
            .peers
            .get(url, &format!("/api/streams/{}", remote.id))
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body = response.into_body().collect().await.ok()?.to_bytes();
        serde_json::from_slice::<StreamInfo>(&body).ok()
    };
    match asked.await {
        Some(info) => info,
        None => {
            let reason = format!("captured by {}, which does not answer", holder.owner);
            StreamInfo::remote(remote, fps, reason)
        }
    }
}

/// Every live stream of the cluster: those captured here and, as their processes tell, those
/// captured by others.
#[utoipa::path(get, path = "/api/streams", operation_id = "listStreams", tag = "streams",
    responses(
        (status = 200, description = "The streams", body = [StreamInfo]),
        (status = 503, description = "The shared database is unavailable", body = ErrorBody),
    ))]
async fn list_streams(State(app): State<AppState>) -> Result<Json<Vec<StreamInfo>>, ApiError> {
    let placed = streams(&app, |s| s.placements()).await?;
    let listed = placed.into_iter().map(|p| {
        let app = &app;
        async move {
            match p {
                Placed::Here(live) => info(app, &live),
                Placed::Elsewhere(remote) => remote_info(app, remote).await,
            }
        }
    });
    Ok(Json(futures_util::future::join_all(listed).await))
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
        (status = 503, description = "The shared database is unavailable", body = ErrorBody),
    ))]
async fn add_stream(
    State(app): State<AppState>,
    body: Result<Json<NewStream>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<StreamInfo>), ApiError> {
    let Json(new) = body?;
    let source = match (&new.url, &new.video) {
        (Some(url), None) => Source::camera(url)?,
        (None, Some(video)) => {
            let entry = app.entry(video)?;
            let shown = format!("video {} ({}), in a loop", entry.name, entry.id);
            let at = app.indexer.roots().locate(&entry.path);
            Source::looped_file(&entry.path, at, shown, entry.name)
        }
        _ => return Err(ApiError::bad_request("give either `url` or `video`")),
    };
    let live = streams(&app, move |s| s.add(source, new.name)).await?;
    Ok((StatusCode::CREATED, Json(info(&app, &live))))
}

/// One stream: state, rate, newest count, clients (as the process capturing it tells).
#[utoipa::path(get, path = "/api/streams/{id}", operation_id = "getStream", tag = "streams",
    params(("id" = String, Path, description = "Stream id")),
    responses(
        (status = 200, description = "The stream", body = StreamInfo),
        (status = 404, description = "No such stream", body = ErrorBody),
        (status = 503, description = "The shared database is unavailable", body = ErrorBody),
    ))]
async fn get_stream(State(app): State<AppState>, PathId(id): PathId) -> Result<Json<StreamInfo>, ApiError> {
    let key = id.clone();
    match streams(&app, move |s| s.placed(&key)).await? {
        None => Err(ApiError::not_found(format!("no stream with id {id}"))),
        Some(Placed::Here(live)) => Ok(Json(info(&app, &live))),
        Some(Placed::Elsewhere(remote)) => Ok(Json(remote_info(&app, remote).await)),
    }
}

/// Stops a stream, whichever process of the cluster captures it: its capture ends and its
/// clients' responses finish.
#[utoipa::path(delete, path = "/api/streams/{id}", operation_id = "deleteStream", tag = "streams",
    params(("id" = String, Path, description = "Stream id")),
    responses(
        (status = 204, description = "Stopped"),
        (status = 404, description = "No such stream", body = ErrorBody),
        (status = 503, description = "The shared database is unavailable", body = ErrorBody),
    ))]
async fn delete_stream(State(app): State<AppState>, PathId(id): PathId) -> Result<StatusCode, ApiError> {
    let key = id.clone();
    if !streams(&app, move |s| s.remove(&key)).await? {
        return Err(ApiError::not_found(format!("no stream with id {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The clients (quality, bitrate, frames dropped) and encoding figures of every stream captured
/// by this process.
#[utoipa::path(get, path = "/api/streams/stats", operation_id = "getStreamsStats", tag = "streams",
    responses((status = 200, description = "The figures", body = StreamsStats)))]
async fn stream_stats(State(app): State<AppState>) -> Json<StreamsStats> {
    Json(app.streams.figures().into())
}
