//! A live stream as binary WebSocket messages, one per frame, with text messages for its state,
//! its count and the client's quality.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use futures_util::{SinkExt as _, StreamExt as _};
use pigweight_live::{Live, LiveFrame, Subscription, ViewerKind};
use pigweight_render::snap_quality;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::wire::StreamStatus;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Params, PathId, Upgrade};
use crate::peers::PeerSocket;
use crate::state::AppState;

/// Bytes before the JPEG in each binary message of `/ws/streams/{id}`.
const FRAME_HEADER_LEN: usize = 24;

/// The fixed header of a binary frame message, all little-endian: frame id (u64, bytes 0..8),
/// timestamp in seconds since the stream was added (f64, 8..16), count (u32, 16..20), JPEG
/// length (u32, 20..24).
fn frame_header(frame: &LiveFrame, jpeg_len: usize) -> [u8; FRAME_HEADER_LEN] {
    let mut h = [0u8; FRAME_HEADER_LEN];
    h[0..8].copy_from_slice(&frame.id.to_le_bytes());
    h[8..16].copy_from_slice(&frame.at_s.to_le_bytes());
    h[16..20].copy_from_slice(&frame.count.to_le_bytes());
    h[20..24].copy_from_slice(&u32::try_from(jpeg_len).unwrap_or(u32::MAX).to_le_bytes());
    h
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SocketQuery {
    /// Starting JPEG quality, snapped to the configured levels (default: the best level); it
    /// then follows what the client keeps up with.
    quality: Option<u8>,
    /// `false`: no pictures, only the text messages (state and count), for a viewer that gets
    /// the picture another way (WebRTC). Default `true`.
    pictures: Option<bool>,
}

/// Text messages of the stream WebSocket.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StreamMessage {
    /// The source's state (on connect and on every change).
    State(StreamStatus),
    /// The count or its band changed (sent before the frame that shows it).
    Count {
        frame_id: u64,
        t: f64,
        count: u32,
        count_low: u32,
        count_high: u32,
    },
    /// The JPEG quality this client gets from now on, and the divisor of the frame's size (1:
    /// its own size; 2 and 4 once the lowest quality is still too much for the client).
    Quality { quality: u8, divisor: u8 },
}

impl StreamMessage {
    fn text(&self) -> Message {
        Message::Text(serde_json::to_string(self).unwrap_or_default().into())
    }
}

/// The stream as binary WebSocket messages, one per frame: a 24-byte little-endian header
/// (frame id u64, timestamp f64 seconds since the stream was added, count u32, JPEG length u32)
/// then the JPEG. Text messages: `{"type":"state",...}`, `{"type":"count",frame_id,t,count}`
/// when the count changes, `{"type":"quality","quality":q}` when the quality changes (with
/// `pictures=false`, only the text messages: the picture comes another way, WebRTC). The
/// quality adapts to the client: down a level when it falls behind (frames skipped while it
/// was busy, or over `stream_target_kbps`), up when it keeps up easily. Only the newest frame
/// ever waits for a client. See docs/streams.md.
#[utoipa::path(get, path = "/ws/streams/{id}", operation_id = "streamSocket", tag = "streams",
    params(("id" = String, Path, description = "Stream id"), SocketQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket handshake, or a parameter that does not parse", body = ErrorBody),
        (status = 404, description = "No such stream", body = ErrorBody),
        (status = 422, description = "Quality out of range", body = ErrorBody),
        (status = 426, description = "The connection cannot be upgraded to a WebSocket", body = ErrorBody),
        (status = 503, description = "No process captures the stream right now, or the one that does \
            does not answer (in a cluster, another takes it over within a lease)", body = ErrorBody),
    ))]
pub(super) async fn stream_socket(
    State(app): State<AppState>,
    PathId(id): PathId,
    Params(q): Params<SocketQuery>,
    Upgrade(upgrade): Upgrade,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let live = match super::find(&app, &id, &headers).await? {
        super::Found::Here(live) => live,
        // Captured by another process: its socket, relayed message by message (connected
        // before this one is upgraded, so a peer that does not answer is a plain 503).
        super::Found::At(url) => {
            let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
            let peer = app.peers.socket(&url, path).await?;
            return Ok(upgrade.on_upgrade(move |socket| relay(socket, peer)));
        }
    };
    let levels = app.config.jpeg_qualities.clone();
    let best = levels.iter().copied().max().unwrap_or(90);
    let start = snap_quality(q.quality.unwrap_or(best), &levels)?;
    let target_bps = app.config.stream_target_kbps as f64 * 1000.0;
    let pictures = q.pictures.unwrap_or(true);
    Ok(upgrade.on_upgrade(move |socket| {
        let subscription = Subscription::new(&live, ViewerKind::WebSocket, &levels, start, target_bps);
        serve(live, subscription, socket, pictures)
    }))
}

async fn serve(live: Arc<Live>, mut subscription: Subscription, socket: WebSocket, pictures: bool) {
    let (mut sink, mut incoming) = socket.split();
    let mut status = live.status();
    let first = StreamMessage::State((&*status.borrow_and_update()).into()).text();
    let mut last_count = None;
    if sink.send(first).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            message = incoming.next() => match message {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => continue,
            },
            changed = status.changed() => {
                let text = StreamMessage::State((&*status.borrow_and_update()).into()).text();
                if changed.is_err() || sink.send(text).await.is_err() {
                    break;
                }
            },
            frame = subscription.newer() => {
                let Some(frame) = frame else { break };
                if last_count != Some((frame.count, frame.band)) {
                    last_count = Some((frame.count, frame.band));
                    let count = StreamMessage::Count {
                        frame_id: frame.id,
                        t: frame.at_s,
                        count: frame.count,
                        count_low: frame.band.low,
                        count_high: frame.band.high,
                    };
                    if sink.send(count.text()).await.is_err() {
                        break;
                    }
                }
                if !pictures {
                    continue;
                }
                let Ok(jpeg) = subscription.jpeg(&frame).await else { break };
                let mut message = Vec::with_capacity(FRAME_HEADER_LEN + jpeg.len());
                message.extend_from_slice(&frame_header(&frame, jpeg.len()));
                message.extend_from_slice(&jpeg);
                if sink.send(Message::Binary(message.into())).await.is_err() {
                    break;
                }
                let skipped = subscription.sent(&frame, jpeg.len());
                if let Some(level) = subscription.adapt(jpeg.len(), skipped)
                    && sink
                        .send(
                            StreamMessage::Quality {
                                quality: level.quality,
                                divisor: level.divisor,
                            }
                            .text(),
                        )
                        .await
                        .is_err()
                {
                    break;
                }
            },
        }
    }
    let _ = sink.close().await;
}

/// Carries messages both ways between a viewer and the peer that serves the stream, until
/// either side closes. Pings are answered by each side itself.
pub(crate) async fn relay(socket: WebSocket, peer: PeerSocket) {
    use tokio_tungstenite::tungstenite::Message as Peer;
    let (mut to_viewer, mut from_viewer) = socket.split();
    let (mut to_peer, mut from_peer) = peer.split();
    loop {
        tokio::select! {
            message = from_viewer.next() => {
                let sent = match message {
                    Some(Ok(Message::Text(t))) => to_peer.send(Peer::Text(t.as_str().into())).await,
                    Some(Ok(Message::Binary(b))) => to_peer.send(Peer::Binary(b)).await,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                if sent.is_err() {
                    break;
                }
            }
            message = from_peer.next() => {
                let sent = match message {
                    Some(Ok(Peer::Text(t))) => to_viewer.send(Message::Text(t.as_str().into())).await,
                    Some(Ok(Peer::Binary(b))) => to_viewer.send(Message::Binary(b)).await,
                    Some(Ok(Peer::Ping(_) | Peer::Pong(_) | Peer::Frame(_))) => Ok(()),
                    Some(Ok(Peer::Close(frame))) => {
                        let frame = frame.map(|f| CloseFrame {
                            code: u16::from(f.code),
                            reason: f.reason.as_str().into(),
                        });
                        let _ = to_viewer.send(Message::Close(frame)).await;
                        break;
                    }
                    Some(Err(_)) | None => break,
                };
                if sent.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to_viewer.close().await;
    let _ = to_peer.close().await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pigweight_decode::Frame;

    use super::*;

    #[test]
    fn the_frame_header_is_little_endian_and_fixed() {
        let frame = LiveFrame {
            id: 0x0102_0304_0506_0708,
            at_s: 1.5,
            frame: Arc::new(Frame {
                index: 0,
                pts: Duration::ZERO,
                keyframe: false,
                width: 2,
                height: 2,
                data: vec![0; 12],
            }),
            boxes: Arc::new(Vec::new()),
            count: 7,
            band: pigweight_inference::CountBand::exact(7),
        };
        let h = frame_header(&frame, 1234);
        assert_eq!(h[0..8], [8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(f64::from_le_bytes(h[8..16].try_into().unwrap()), 1.5);
        assert_eq!(u32::from_le_bytes(h[16..20].try_into().unwrap()), 7);
        assert_eq!(u32::from_le_bytes(h[20..24].try_into().unwrap()), 1234);
    }
}
