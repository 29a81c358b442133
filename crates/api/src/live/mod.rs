//! Live camera streams over HTTP: adding, listing and removing them, and their figures. The
//! streams themselves (capture, shared encodings, quality adaptation) are the live crate's;
//! this module and its two transports, [`mjpeg`] and [`socket`], only carry them.

mod mjpeg;
mod socket;
pub(crate) mod wire;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pigweight_live::Source;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::PathId;
use crate::state::{App, AppState};
use wire::{NewStream, StreamInfo, StreamsStats};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_streams, add_stream))
        .routes(routes!(get_stream, delete_stream))
        .routes(routes!(mjpeg::mjpeg))
        .routes(routes!(stream_stats))
        .routes(routes!(socket::stream_socket))
}

fn info(app: &App, live: &pigweight_live::Live) -> StreamInfo {
    StreamInfo::of(live.info(), app.streams.settings().fps)
}

/// Every live stream.
#[utoipa::path(get, path = "/api/streams", operation_id = "listStreams", tag = "streams",
    responses((status = 200, description = "The streams", body = [StreamInfo])))]
async fn list_streams(State(app): State<AppState>) -> Json<Vec<StreamInfo>> {
    Json(app.streams.all().iter().map(|l| info(&app, l)).collect())
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
    let source = match (&new.url, &new.video) {
        (Some(url), None) => Source::camera(url)?,
        (None, Some(video)) => {
            let entry = app.entry(video)?;
            let shown = format!("video {} ({}), in a loop", entry.name, entry.id);
            Source::looped_file(&entry.path, shown, entry.name)
        }
        _ => return Err(ApiError::bad_request("give either `url` or `video`")),
    };
    let live = app.streams.add(source, new.name)?;
    Ok((StatusCode::CREATED, Json(info(&app, &live))))
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
    Ok(Json(info(&app, &live)))
}

/// Stops a stream: its capture ends and its clients' responses finish.
#[utoipa::path(delete, path = "/api/streams/{id}", operation_id = "deleteStream", tag = "streams",
    params(("id" = String, Path, description = "Stream id")),
    responses(
        (status = 204, description = "Stopped"),
        (status = 404, description = "No such stream", body = ErrorBody),
    ))]
async fn delete_stream(State(app): State<AppState>, PathId(id): PathId) -> Result<StatusCode, ApiError> {
    app.streams
        .remove(&id)
        .ok_or_else(|| ApiError::not_found(format!("no stream with id {id}")))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every stream's clients (quality, bitrate, frames dropped) and encoding figures.
#[utoipa::path(get, path = "/api/streams/stats", operation_id = "getStreamsStats", tag = "streams",
    responses((status = 200, description = "The figures", body = StreamsStats)))]
async fn stream_stats(State(app): State<AppState>) -> Json<StreamsStats> {
    Json(app.streams.figures().into())
}
