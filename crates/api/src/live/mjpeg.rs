//! A live stream as `multipart/x-mixed-replace` JPEG parts, for an `<img>` tag.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pigweight_live::{Subscription, ViewerKind};
use pigweight_render::snap_quality;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Params, PathId, seconds};
use crate::state::AppState;

/// The multipart boundary of MJPEG responses.
const BOUNDARY: &str = "pigweight-frame";

/// The slowest rate an MJPEG client may ask for: a frame every 100 s (heartbeats still come).
const MIN_CLIENT_FPS: f64 = 0.01;

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

/// What one MJPEG response holds between parts.
struct Viewer {
    subscription: Subscription,
    /// The stream's rate, to tell how many frames a late client missed.
    fps: f64,
    gap: Duration,
    heartbeat: Duration,
    next_due: tokio::time::Instant,
}

impl Viewer {
    /// The next part: a new frame once one is due, or the last one again (marked stale) when
    /// none came for a heartbeat. None when the stream is gone.
    async fn next_part(&mut self) -> Option<Bytes> {
        // Asked for later than due: the client was still taking the previous part (the server
        // writes no faster than it reads), and the frames of that delay were skipped for it.
        let late = tokio::time::Instant::now().saturating_duration_since(self.next_due);
        tokio::time::sleep_until(self.next_due).await;
        let (frame, stale) = loop {
            match tokio::time::timeout(self.heartbeat, self.subscription.newer()).await {
                Ok(newer) => break (newer?, false),
                // Nothing new for a heartbeat: the last frame again, marked stale (before a
                // first frame there is nothing to send; keep waiting).
                Err(_) => {
                    if let Some(last) = self.subscription.last() {
                        break (std::sync::Arc::clone(last), true);
                    }
                }
            }
        };
        let level = self.subscription.level();
        let quality = level.quality;
        let jpeg = self.subscription.jpeg(&frame).await.ok()?;
        if !stale {
            self.subscription.sent(&frame, jpeg.len());
            let behind = (late.as_secs_f64() * self.fps).floor() as u64;
            self.subscription.adapt(jpeg.len(), behind);
        }
        self.next_due = tokio::time::Instant::now() + self.gap;
        let head = format!(
            "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nX-Frame-Id: {}\r\nX-Timestamp: {:.3}\r\nX-Count: {}\r\nX-Quality: {quality}\r\nX-Divisor: {}\r\nX-Stale: {}\r\n\r\n",
            jpeg.len(),
            frame.id,
            frame.at_s,
            frame.count,
            level.divisor,
            u8::from(stale),
        );
        let mut part = Vec::with_capacity(head.len() + jpeg.len() + 2);
        part.extend_from_slice(head.as_bytes());
        part.extend_from_slice(&jpeg);
        part.extend_from_slice(b"\r\n");
        Some(Bytes::from(part))
    }
}

/// The stream as `multipart/x-mixed-replace` JPEG parts, for an `<img>` tag. Each part has
/// `X-Frame-Id`, `X-Timestamp` (seconds since the stream was added), `X-Count`, `X-Quality`,
/// `X-Divisor` (the frame's size divided by it: 1, or 2 and 4 for a client still behind at the
/// lowest quality) and `X-Stale` (1 on a heartbeat: the last frame again, when no new one came for
/// `mjpeg_heartbeat_s`). A client that reads slowly gets the newest frame each time, never a
/// backlog, and its quality steps down from `quality` as it falls behind (as on the WebSocket).
#[utoipa::path(get, path = "/api/streams/{id}/mjpeg", operation_id = "getStreamMjpeg", tag = "streams",
    params(("id" = String, Path, description = "Stream id"), MjpegQuery),
    responses(
        (status = 200, description = "JPEG parts, as they come", content_type = "multipart/x-mixed-replace"),
        (status = 404, description = "No such stream", body = ErrorBody),
        (status = 422, description = "Quality or fps out of range", body = ErrorBody),
        (status = 503, description = "No process captures the stream right now, or the one that does \
            does not answer (in a cluster, another takes it over within a lease)", body = ErrorBody),
    ))]
pub(super) async fn mjpeg(
    State(app): State<AppState>,
    PathId(id): PathId,
    Params(q): Params<MjpegQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let live = match super::find(&app, &id, &headers).await? {
        super::Found::Here(live) => live,
        // Captured by another process: its parts, relayed as they come.
        super::Found::At(url) => {
            let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
            return app.peers.get(&url, path).await;
        }
    };
    let levels = &app.config.jpeg_qualities;
    let quality = snap_quality(q.quality.unwrap_or(70), levels)?;
    let fps = f64::from(app.streams.settings().fps);
    let client_fps = q.fps.unwrap_or(fps);
    if !(client_fps.is_finite() && client_fps >= MIN_CLIENT_FPS) {
        return Err(ApiError::invalid(format!(
            "fps must be a number of at least {MIN_CLIENT_FPS}"
        )));
    }
    let target_bps = app.config.stream_target_kbps as f64 * 1000.0;
    let viewer = Viewer {
        // A little under the period, so timer jitter does not skip frames at the full rate.
        gap: seconds(0.9 / client_fps.min(fps), "the time between frames")?,
        heartbeat: seconds(app.config.mjpeg_heartbeat_s.max(0.1), "mjpeg_heartbeat_s")?,
        subscription: Subscription::new(&live, ViewerKind::Mjpeg, levels, quality, target_bps),
        fps,
        next_due: tokio::time::Instant::now(),
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
