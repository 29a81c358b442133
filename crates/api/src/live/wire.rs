//! What the stream endpoints send and take, as the OpenAPI document describes it.

use pigweight_live::{ClientFigures, Condition, LiveInfo, Remote, SourceStatus, StreamsFigures};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a source stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SourceState {
    /// Opening the source for the first time.
    Connecting,
    /// Frames are arriving.
    Live,
    /// The source failed; it is reopened after a pause that grows with each attempt.
    Retrying,
    /// The source cannot work (its codec has no decoder here); it is not retried.
    Failed,
}

/// A source's state and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub(crate) struct StreamStatus {
    state: SourceState,
    /// Why the source is retrying, or failed.
    reason: Option<String>,
    /// Failed attempts in a row.
    attempts: u32,
}

impl From<&SourceStatus> for StreamStatus {
    fn from(s: &SourceStatus) -> Self {
        Self {
            state: match s.condition {
                Condition::Connecting => SourceState::Connecting,
                Condition::Live => SourceState::Live,
                Condition::Retrying => SourceState::Retrying,
                Condition::Failed => SourceState::Failed,
            },
            reason: s.reason.clone(),
            attempts: s.attempts,
        }
    }
}

/// What to stream: a camera URL, or a library video played in a loop at its real rate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewStream {
    /// `rtsp://`, `rtsps://`, `http://` or `https://` URL of a camera.
    #[schema(example = "rtsp://camera-4.local:554/stream1")]
    pub(crate) url: Option<String>,
    /// Id of a library video to play in a loop (for demos and tests).
    pub(crate) video: Option<String>,
    /// A name to show (default: the URL's host or the video's name).
    pub(crate) name: Option<String>,
}

/// A live stream as listed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct StreamInfo {
    pub(crate) id: String,
    name: String,
    /// The source: a camera URL with any user name and password hidden, or the library video.
    source: String,
    status: StreamStatus,
    /// Frames delivered per second, as configured.
    fps: u32,
    /// The newest count (absent before the first frame).
    count: Option<u32>,
    /// Clients watching now.
    clients: u64,
    /// Frames captured so far.
    frames: u64,
    /// Frames that went through the model.
    inferences: u64,
    /// JPEG encodings so far, and how many times an encoding was shared instead.
    encodes: u64,
    encode_shared: u64,
    /// Mean JPEG encoding time, milliseconds.
    encode_ms: f64,
    /// The process that captures it (its name in the database; in a cluster, the stream's
    /// viewers on every instance are served from there). Absent while none does: its last
    /// one stopped or died, and another takes it over within a lease.
    captured_by: Option<String>,
}

impl StreamInfo {
    /// A stream captured here, by `owner`.
    pub(crate) fn of(info: LiveInfo, fps: u32, owner: &str) -> Self {
        Self {
            captured_by: Some(owner.to_owned()),
            status: StreamStatus::from(&info.status),
            id: info.id,
            name: info.name,
            source: info.shown,
            fps,
            count: info.count,
            clients: info.clients,
            frames: info.frames,
            inferences: info.inferences,
            encodes: info.encodes,
            encode_shared: info.encode_shared,
            encode_ms: info.encode_ms,
        }
    }

    /// A stream captured elsewhere, as far as the database tells: connecting, with `reason`.
    pub(crate) fn remote(remote: Remote, fps: u32, reason: String) -> Self {
        Self {
            id: remote.id,
            name: remote.name,
            source: remote.shown,
            status: StreamStatus {
                state: SourceState::Connecting,
                reason: Some(reason),
                attempts: 0,
            },
            fps,
            count: None,
            clients: 0,
            frames: 0,
            inferences: 0,
            encodes: 0,
            encode_shared: 0,
            encode_ms: 0.0,
            captured_by: remote.holder.map(|h| h.owner),
        }
    }
}

/// One client of a stream, as `/api/streams/stats` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClientStats {
    /// `mjpeg`, `websocket` or `webrtc`.
    kind: String,
    quality: u8,
    /// The stream's frame size is divided by this for the client (1: its own size; 2 and 4 for
    /// clients still behind at the lowest quality).
    divisor: u8,
    frames_sent: u64,
    /// Frames that came while the client was still taking an earlier one, skipped for it.
    frames_dropped: u64,
    /// Mean rate sent since the client came, kilobits per second.
    bitrate_kbps: f64,
    connected_s: f64,
}

impl From<ClientFigures> for ClientStats {
    fn from(c: ClientFigures) -> Self {
        Self {
            kind: c.kind.to_owned(),
            quality: c.quality,
            divisor: c.divisor,
            frames_sent: c.frames_sent,
            frames_dropped: c.frames_dropped,
            bitrate_kbps: c.bitrate_kbps,
            connected_s: c.connected_s,
        }
    }
}

/// One stream's figures.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StreamStats {
    pub(crate) id: String,
    frames: u64,
    inferences: u64,
    /// JPEG encodings, and times one was shared instead of encoding again.
    pub(crate) encodes: u64,
    pub(crate) encode_shared: u64,
    encode_ms: f64,
    clients: Vec<ClientStats>,
}

/// All streams' figures: per client quality, bitrate and dropped frames; encodings shared.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StreamsStats {
    pub(crate) clients: u64,
    pub(crate) frames_dropped: u64,
    pub(crate) streams: Vec<StreamStats>,
}

impl From<StreamsFigures> for StreamsStats {
    fn from(f: StreamsFigures) -> Self {
        Self {
            clients: f.clients,
            frames_dropped: f.frames_dropped,
            streams: f
                .streams
                .into_iter()
                .map(|s| StreamStats {
                    id: s.id,
                    frames: s.frames,
                    inferences: s.inferences,
                    encodes: s.encodes,
                    encode_shared: s.encode_shared,
                    encode_ms: s.encode_ms,
                    clients: s.clients.into_iter().map(ClientStats::from).collect(),
                })
                .collect(),
        }
    }
}
