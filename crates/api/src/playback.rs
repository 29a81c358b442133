//! Playback health: players report how playing goes (time to first frame, stalls, rendition
//! switches), in small batches; `/api/stats` and `/metrics` show the sums per video and in total.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::PathId;
use crate::state::AppState;
use crate::viewing::{Figures, Report};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report_playback))
}

/// How a player plays a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PlaybackPath {
    /// The file itself (`/stream`).
    File,
    /// HLS (`/hls/master.m3u8`).
    Hls,
}

/// What happened in one player since its previous report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlaybackReport {
    /// An id the player picks for itself when it opens (1 to 64 letters, digits, `-` or `_`).
    #[schema(example = "3f1c2a9e-8d41-4c3b-9a55-0e6f0b7d2c11")]
    session: String,
    path: PlaybackPath,
    /// Milliseconds from opening the player to the first picture: in its first report only.
    first_frame_ms: Option<f64>,
    /// Times playing stopped to wait for data, and how long those waits lasted (ms).
    #[serde(default)]
    stalls: u64,
    #[serde(default)]
    stall_ms: f64,
    /// Rendition switches (HLS).
    #[serde(default)]
    switches: u64,
}

/// The longest time a report may carry: a day, in milliseconds.
const MAX_MS: f64 = 86_400_000.0;
/// The most events one report may count.
const MAX_EVENTS: u64 = 1_000_000;

impl PlaybackReport {
    fn check(&self) -> Result<Report, ApiError> {
        let session_ok = (1..=64).contains(&self.session.len())
            && self
                .session
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !session_ok {
            return Err(ApiError::invalid(
                "session must be 1 to 64 letters, digits, '-' or '_'",
            ));
        }
        let ms_ok = |ms: f64| ms.is_finite() && (0.0..=MAX_MS).contains(&ms);
        if !self.first_frame_ms.is_none_or(ms_ok) || !ms_ok(self.stall_ms) {
            return Err(ApiError::invalid(format!(
                "first_frame_ms and stall_ms must be milliseconds from 0 to {MAX_MS}"
            )));
        }
        if self.stalls > MAX_EVENTS || self.switches > MAX_EVENTS {
            return Err(ApiError::invalid(format!(
                "stalls and switches count at most {MAX_EVENTS} a report"
            )));
        }
        Ok(Report {
            first_frame_ms: self.first_frame_ms,
            stalls: self.stalls,
            stall_ms: self.stall_ms,
            switches: self.switches,
            hls: self.path == PlaybackPath::Hls,
        })
    }
}

/// Takes a player's report on a video: what happened since its previous one. Players send one
/// every few seconds while something happened, and when they close.
#[utoipa::path(post, path = "/api/videos/{id}/playback", operation_id = "reportPlayback", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    request_body = PlaybackReport,
    responses(
        (status = 204, description = "Counted"),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 413, description = "A body over the JSON body limit", body = ErrorBody),
        (status = 415, description = "A body that is not `application/json`", body = ErrorBody),
        (status = 422, description = "A session id or a figure out of range", body = ErrorBody),
    ))]
async fn report_playback(
    State(app): State<AppState>,
    PathId(id): PathId,
    body: Result<Json<PlaybackReport>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let entry = app.entry(&id)?;
    let Json(report) = body?;
    let checked = report.check()?;
    app.viewing.report(&entry.id, &report.session, &checked);
    Ok(StatusCode::NO_CONTENT)
}

/// Playback figures, as `/api/stats` shows them.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PlaybackFigures {
    /// Players that reported their first picture, and how many of them played HLS.
    sessions: u64,
    hls_sessions: u64,
    mean_first_frame_ms: f64,
    max_first_frame_ms: f64,
    /// Stalls (waits for data while playing) and their total length.
    stalls: u64,
    stall_ms: f64,
    /// HLS rendition switches.
    switches: u64,
    /// Players that reported in the last 30 s.
    viewers: u64,
}

impl From<Figures> for PlaybackFigures {
    fn from(f: Figures) -> Self {
        Self {
            sessions: f.sessions,
            hls_sessions: f.hls_sessions,
            mean_first_frame_ms: f.mean_first_frame_ms,
            max_first_frame_ms: f.max_first_frame_ms,
            stalls: f.stalls,
            stall_ms: f.stall_ms,
            switches: f.switches,
            viewers: f.watching,
        }
    }
}

/// One video's playback figures.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VideoPlayback {
    id: String,
    #[serde(flatten)]
    figures: PlaybackFigures,
}

/// Playback in total and per video.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PlaybackStats {
    total: PlaybackFigures,
    videos: Vec<VideoPlayback>,
}

impl PlaybackStats {
    pub(crate) fn of((total, videos): (Figures, Vec<(String, Figures)>)) -> Self {
        Self {
            total: total.into(),
            videos: videos
                .into_iter()
                .map(|(id, f)| VideoPlayback {
                    id,
                    figures: f.into(),
                })
                .collect(),
        }
    }

    pub(crate) fn total(&self) -> &PlaybackFigures {
        &self.total
    }
}

impl PlaybackFigures {
    /// (sessions, stalls, stall_ms, switches, viewers, mean_first_frame_ms), for `/metrics`.
    pub(crate) fn metrics(&self) -> (u64, u64, f64, u64, u64, f64) {
        (
            self.sessions,
            self.stalls,
            self.stall_ms,
            self.switches,
            self.viewers,
            self.mean_first_frame_ms,
        )
    }
}
