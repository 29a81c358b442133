//! WebRTC viewers of a live stream, by WHEP (the WebRTC-HTTP egress protocol): an SDP offer
//! POSTed in, the SDP answer (every ICE candidate in it; no trickle) out, and DELETE on the
//! session it names to hang up. The live crate makes the media; this module only carries the
//! offer and the answer, to the process that captures the stream.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::Found;
use crate::error::{ApiError, ErrorBody};
use crate::extract::PathId;
use crate::state::AppState;

const SDP: &str = "application/sdp";

/// Starts a WebRTC session (WHEP) on a stream.
///
/// The body is the viewer's SDP offer (`application/sdp`,
/// receiving video; H.264 in packetization mode 1), the answer comes back as `201 Created`
/// with the session's URL in `Location` (DELETE it to hang up). The video is H.264 with the
/// boxes and count drawn in, one encoding shared by every WebRTC viewer of the stream; the
/// answer holds every ICE candidate of the server (no trickle, so PATCH is not accepted). In
/// a cluster the process that captures the stream answers. See docs/streams.md.
#[utoipa::path(post, path = "/api/streams/{id}/whep", operation_id = "startWebRtc", tag = "streams",
    params(("id" = String, Path, description = "Stream id")),
    request_body(content = String, content_type = "application/sdp", description = "The SDP offer"),
    responses(
        (status = 201, description = "The SDP answer; `Location` names the session",
            content_type = "application/sdp", body = String,
            headers(("Location" = String, description = "The session, to DELETE when done"))),
        (status = 400, description = "Not an SDP offer, or one with no video this server can send \
            (H.264, packetization mode 1)", body = ErrorBody),
        (status = 404, description = "No such stream", body = ErrorBody),
        (status = 413, description = "An offer over the body limit", body = ErrorBody),
        (status = 415, description = "A body that is not `application/sdp`", body = ErrorBody),
        (status = 500, description = "WebRTC could not be set up on the server", body = ErrorBody),
        (status = 503, description = "The stream has as many WebRTC viewers as it takes, or no process \
            captures it right now", body = ErrorBody),
    ))]
pub(super) async fn start_webrtc(
    State(app): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let kind = headers.get(CONTENT_TYPE);
    let is_sdp = kind.and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case(SDP))
    });
    if !is_sdp {
        return Err(ApiError::unsupported_media_type(
            "a WHEP offer is sent as `Content-Type: application/sdp`",
        ));
    }
    let body = body?;
    let live = match super::find(&app, &id, &headers).await? {
        Found::Here(live) => live,
        Found::At(url) => return forward(&app, &url, &uri, Method::POST, kind, body).await,
    };
    let offer = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("the SDP offer is not UTF-8 text"))?;
    let fps = app.streams.settings().fps;
    let settings = app.webrtc.clone();
    let answer = tokio::task::spawn_blocking(move || live.webrtc_answer(&offer, fps, &settings))
        .await
        .map_err(ApiError::join)??;
    let location = format!("/api/streams/{id}/whep/{}", answer.session);
    Ok((
        StatusCode::CREATED,
        [
            (CONTENT_TYPE, HeaderValue::from_static(SDP)),
            (
                LOCATION,
                HeaderValue::from_str(&location)
                    .map_err(|e| ApiError::internal("naming a WebRTC session").because(e))?,
            ),
        ],
        answer.sdp,
    )
        .into_response())
}

/// Hangs up a WebRTC session; the shared encoding stops with the stream's last viewer.
#[utoipa::path(delete, path = "/api/streams/{id}/whep/{session}", operation_id = "stopWebRtc", tag = "streams",
    params(("id" = String, Path, description = "Stream id"), ("session" = String, Path, description = "The session, as `Location` named it")),
    responses(
        (status = 200, description = "Hung up"),
        (status = 404, description = "No such stream or session", body = ErrorBody),
        (status = 503, description = "No process captures the stream right now", body = ErrorBody),
    ))]
pub(super) async fn stop_webrtc(
    State(app): State<AppState>,
    Path((id, session)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let live = match super::find(&app, &id, &headers).await? {
        Found::Here(live) => live,
        Found::At(url) => return forward(&app, &url, &uri, Method::DELETE, None, Bytes::new()).await,
    };
    let found = tokio::task::spawn_blocking(move || live.webrtc_hang_up(&session))
        .await
        .map_err(ApiError::join)?;
    if found {
        Ok(StatusCode::OK.into_response())
    } else {
        Err(ApiError::not_found("no such WebRTC session"))
    }
}

/// The request, as it came, to the process at `url` that captures the stream; its answer back.
async fn forward(
    app: &AppState,
    url: &str,
    uri: &Uri,
    method: Method,
    kind: Option<&HeaderValue>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let answer = app.peers.send(method, url, path, kind, body).await?;
    Ok(answer.into_response())
}
