//! The count WebSocket (`/ws/count?id=`): the server follows the player's clock and pushes the
//! count whenever it changes, so the player never polls.
//!
//! Client → server (JSON text): `{"type":"seek","t":12.5}`, `{"type":"play","t":12.5,"rate":1}`,
//! `{"type":"pause","t":13.0}`. Server → client: `{"type":"count_update", ...}` (the fields of
//! `countAtTime`: t, count, source, frame_index, frame_time, cached, nearest_sample_distance) once
//! after every seek, play and pause, whenever the count changes while playing, and when playback
//! reaches the end;
//! `{"type":"index_progress", ...}` (the fields of `getIndexStatus`) while the video is indexed;
//! `{"type":"error","message":"..."}` for a message it could not use (the socket stays open).
//!
//! While playing, the session looks [`LEAD`] ahead of the player's clock and sleeps until the
//! index's next change of count (at most 250 ms): an update arrives shortly *before* the frame
//! where the count changes, stamped with that frame's time, and the player shows it when that
//! frame is on screen — so the count never lags the picture. A writer task sends only the newest
//! update of each kind: a slow client skips stale counts instead of queueing them, and the
//! session never waits on a client's socket for them. Replies (errors) are not updates: they go
//! through a bounded queue of their own, sent before any update and never dropped or merged; a
//! client that sends bad messages faster than it reads the replies is slowed by that queue.
//! Pings keep idle connections open through proxies.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Params, Upgrade};
use crate::library::Entry;
use crate::media::{Prefer, count_at};
use crate::state::{App, AppState};
use crate::wire::{CountAtTime, CountSource, IndexStatus};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(count_socket))
}

/// Longest sleep between two looks at the clock while playing.
const PLAY_TICK: Duration = Duration::from_millis(250);
/// How far ahead of the player's clock (wall time) updates are sent while playing.
const LEAD: Duration = Duration::from_millis(150);
/// Fastest playback rate followed.
const MAX_RATE: f64 = 16.0;
/// Replies waiting for a client; past this, the session stops reading its messages until
/// the client takes some.
const REPLY_QUEUE: usize = 16;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SocketQuery {
    /// Video id: follow the player's clock on this video.
    id: Option<String>,
    /// Or a live stream's id: its count as it changes (`source` is `live`, `t` and
    /// `frame_time` are seconds since the stream was added, `frame_index` its frame id).
    stream: Option<String>,
}

/// Opens the count WebSocket of a video (see the protocol in the API description and
/// docs/websocket.md).
#[utoipa::path(get, path = "/ws/count", operation_id = "countSocket", tag = "counts",
    params(SocketQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket handshake, or neither (or both of) `id` and `stream`", body = ErrorBody),
        (status = 404, description = "No such video or stream", body = ErrorBody),
        (status = 426, description = "The connection cannot be upgraded to a WebSocket", body = ErrorBody),
        (status = 422, description = "The file cannot be read as a video", body = ErrorBody),
        (status = 503, description = "Too many WebSocket clients; or no process captures the stream right \
            now, or the one that does does not answer", body = ErrorBody),
    ))]
async fn count_socket(
    State(app): State<AppState>,
    Params(q): Params<SocketQuery>,
    Upgrade(upgrade): Upgrade,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let target = match (q.id, q.stream) {
        (Some(id), None) => {
            let entry = app.entry(&id)?;
            let duration = app.probed(&entry).await?.info.duration;
            Target::Video(entry, duration)
        }
        (None, Some(stream)) => match crate::live::find(&app, &stream, &headers).await? {
            crate::live::Found::Here(live) => Target::Stream(live),
            // Captured by another process of the cluster: its count socket, relayed.
            crate::live::Found::At(url) => {
                let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
                let peer = app.peers.socket(&url, path).await?;
                return Ok(upgrade.on_upgrade(move |socket| crate::live::relay(socket, peer)));
            }
        },
        _ => {
            return Err(ApiError::bad_request("give either `id` (a video) or `stream`"));
        }
    };
    let clients = app.counters.websocket_clients.fetch_add(1, Ordering::Relaxed);
    if clients >= app.config.max_websocket_clients as u64 {
        app.counters.websocket_clients.fetch_sub(1, Ordering::Relaxed);
        return Err(ApiError::busy(format!(
            "{clients} WebSocket clients are connected, the most this server takes"
        )));
    }
    let guard = Connected(app.clone());
    Ok(upgrade.on_upgrade(move |socket| async move {
        match target {
            Target::Video(entry, duration) => session(&guard.0, &entry, duration, socket).await,
            Target::Stream(live) => live_session(&guard.0, &live, socket).await,
        }
        drop(guard);
    }))
}

/// What a count socket follows.
enum Target {
    Video(Entry, f64),
    Stream(Arc<pigweight_live::Live>),
}

/// A live stream's count as it changes, until the client leaves or the stream is removed.
async fn live_session(app: &App, live: &pigweight_live::Live, socket: WebSocket) {
    let (sink, mut incoming) = socket.split();
    let (_replies_tx, replies_rx) = mpsc::channel(1);
    let (counts_tx, counts_rx) = watch::channel(None);
    let (_progress_tx, progress_rx) = watch::channel(None);
    let ping = Duration::from_secs(app.config.websocket_ping_s.max(1));
    let writer = tokio::spawn(write_newest(sink, replies_rx, counts_rx, progress_rx, ping));
    let mut frames = live.frames();
    let mut last_count = None;
    loop {
        tokio::select! {
            message = incoming.next() => match message {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => continue,
            },
            changed = frames.changed() => {
                let newest = frames.borrow_and_update().as_ref().map(|f| (f.id, f.at_s, f.count, f.band));
                let Some((id, at_s, count, band)) = newest else { break };
                if changed.is_err() {
                    break;
                }
                if last_count != Some((count, band)) {
                    last_count = Some((count, band));
                    app.counters.websocket_updates.fetch_add(1, Ordering::Relaxed);
                    let update = CountAtTime {
                        count,
                        count_low: band.low,
                        count_high: band.high,
                        cached: true,
                        t: at_s,
                        frame_index: id,
                        frame_time: at_s,
                        source: CountSource::Live,
                        nearest_sample_distance: 0.0,
                    };
                    counts_tx.send_replace(ServerMessage::CountUpdate(update).into_message());
                }
            },
        }
    }
    writer.abort();
}

/// Counts a client out when its session ends, however it ends.
struct Connected(AppState);

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.counters.websocket_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Seek { t: f64 },
    Play { t: f64, rate: Option<f64> },
    Pause { t: f64 },
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerMessage {
    CountUpdate(CountAtTime),
    IndexProgress(IndexStatus),
    Error { message: String },
}

impl ServerMessage {
    fn into_message(self) -> Option<Message> {
        serde_json::to_string(&self).ok().map(|s| Message::Text(s.into()))
    }
}

/// The player's clock as the client last told it.
#[derive(Debug, Clone, Copy)]
struct Clock {
    t: f64,
    since: Instant,
    /// Playback rate; 0 when paused.
    rate: f64,
}

impl Clock {
    fn now(&self, duration: f64) -> f64 {
        (self.t + self.since.elapsed().as_secs_f64() * self.rate).clamp(0.0, duration)
    }
}

async fn session(app: &App, entry: &Entry, duration: f64, socket: WebSocket) {
    let (sink, mut incoming) = socket.split();
    let (replies_tx, replies_rx) = mpsc::channel(REPLY_QUEUE);
    let (counts_tx, counts_rx) = watch::channel(None);
    let (progress_tx, progress_rx) = watch::channel(None);
    let ping = Duration::from_secs(app.config.websocket_ping_s.max(1));
    let writer = tokio::spawn(write_newest(sink, replies_rx, counts_rx, progress_rx, ping));
    let mut progress = app.indexer.subscribe();
    // Cleared if the indexer's channel ever closes, so a closed channel is not polled again.
    let mut progress_open = true;
    let mut clock = Clock {
        t: 0.0,
        since: Instant::now(),
        rate: 0.0,
    };
    let mut last_count = None;
    // Due: send an update at the next look even if the count is unchanged.
    let mut due = true;
    let mut wake = Instant::now();
    loop {
        tokio::select! {
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) => match parse(&text, duration) {
                    Ok(m) => {
                        clock = m;
                        due = true;
                        wake = Instant::now();
                    }
                    Err(message) => {
                        // The writer is gone only when the client is.
                        if replies_tx.send(ServerMessage::Error { message }.into_message()).await.is_err() {
                            break;
                        }
                        continue;
                    }
                },
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => continue,
            },
            event = progress.recv(), if progress_open => {
                match event {
                    Ok(e) if e.status.path == entry.path => {
                        progress_tx.send_replace(ServerMessage::IndexProgress(IndexStatus::new(&e.status, app.scheduler.info())).into_message());
                    }
                    // Lagged: the next event carries the newest progress anyway.
                    Err(broadcast::error::RecvError::Closed) => progress_open = false,
                    _ => {}
                }
                continue;
            },
            () = tokio::time::sleep_until(wake) => {},
        }
        if Instant::now() < wake {
            continue;
        }
        let t = clock.now(duration);
        // Playback reached the end: one last update there, then the clock stops.
        let ended = clock.rate > 0.0 && t >= duration;
        // Right after a message, the count at the player's moment; then the count LEAD ahead.
        let look = if due || ended {
            t
        } else {
            (t + LEAD.as_secs_f64() * clock.rate).min(duration)
        };
        match count_at(app, entry, look, Prefer::IndexSteps).await {
            Ok(c) => {
                if due || ended || last_count != Some(c.count) {
                    last_count = Some(c.count);
                    app.counters.websocket_updates.fetch_add(1, Ordering::Relaxed);
                    counts_tx.send_replace(ServerMessage::CountUpdate(c).into_message());
                }
            }
            Err(e) => {
                let reply = ServerMessage::Error {
                    message: e.to_string(),
                };
                if replies_tx.send(reply.into_message()).await.is_err() {
                    break;
                }
            }
        }
        due = false;
        if ended {
            clock = Clock {
                t: duration,
                since: Instant::now(),
                rate: 0.0,
            };
        }
        // From a look at the player's moment, wake LEAD early so the next look lands ahead.
        let early = if look == t { LEAD } else { Duration::ZERO };
        wake = Instant::now()
            + if clock.rate > 0.0 {
                next_look(app, entry, look, clock.rate).saturating_sub(early)
            } else {
                Duration::from_secs(86_400)
            };
    }
    writer.abort();
}

/// How long to sleep while playing: until the index's next change of count after `t`, at
/// most [`PLAY_TICK`].
fn next_look(app: &App, entry: &Entry, t: f64, rate: f64) -> Duration {
    let next_change = app.indexer.view(&entry.path).and_then(|view| {
        let probed = app.probed_if_known(entry)?;
        let frame = probed.timeline.index_at(t).ok()?;
        view.next_change(frame).map(|c| c.time)
    });
    match next_change {
        Some(at) if at > t => Duration::from_secs_f64(((at - t) / rate).min(PLAY_TICK.as_secs_f64())),
        _ => PLAY_TICK,
    }
}

fn parse(text: &str, duration: f64) -> Result<Clock, String> {
    let message: ClientMessage =
        serde_json::from_str(text).map_err(|e| format!("not a seek, play or pause message: {e}"))?;
    let (t, rate) = match message {
        ClientMessage::Seek { t } | ClientMessage::Pause { t } => (t, 0.0),
        ClientMessage::Play { t, rate } => (t, rate.unwrap_or(1.0)),
    };
    if !(t.is_finite() && (0.0..=duration).contains(&t)) {
        return Err(format!("t must be a number of seconds in 0..={duration}"));
    }
    if !(rate.is_finite() && (0.0..=MAX_RATE).contains(&rate)) {
        return Err(format!("rate must be in 0..={MAX_RATE}"));
    }
    Ok(Clock {
        t,
        since: Instant::now(),
        rate,
    })
}

/// Sends every reply in order, then the newest pending update of each kind, and pings when idle.
async fn write_newest(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut replies: mpsc::Receiver<Option<Message>>,
    mut counts: watch::Receiver<Option<Message>>,
    mut progress: watch::Receiver<Option<Message>>,
    ping: Duration,
) {
    let mut ticker = tokio::time::interval_at(Instant::now() + ping, ping);
    loop {
        let message = tokio::select! {
            biased;
            reply = replies.recv() => match reply {
                Some(m) => m,
                None => break,
            },
            changed = counts.changed() => match changed {
                Ok(()) => counts.borrow_and_update().clone(),
                Err(_) => break,
            },
            changed = progress.changed() => match changed {
                Ok(()) => progress.borrow_and_update().clone(),
                Err(_) => break,
            },
            _ = ticker.tick() => Some(Message::Ping(bytes::Bytes::new())),
        };
        if let Some(m) = message
            && sink.send(m).await.is_err()
        {
            break;
        }
    }
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_are_checked() {
        assert_eq!(parse(r#"{"type":"seek","t":2.5}"#, 4.0).unwrap().t, 2.5);
        let play = parse(r#"{"type":"play","t":1,"rate":2}"#, 4.0).unwrap();
        assert_eq!((play.t, play.rate), (1.0, 2.0));
        assert_eq!(parse(r#"{"type":"play","t":1}"#, 4.0).unwrap().rate, 1.0);
        assert_eq!(parse(r#"{"type":"pause","t":3}"#, 4.0).unwrap().rate, 0.0);
        assert!(
            parse(r#"{"type":"seek","t":5}"#, 4.0)
                .unwrap_err()
                .contains("0..=4")
        );
        assert!(parse(r#"{"type":"seek","t":-1}"#, 4.0).is_err());
        assert!(parse(r#"{"type":"play","t":1,"rate":100}"#, 4.0).is_err());
        assert!(parse(r#"{"type":"jump","t":1}"#, 4.0).is_err());
        assert!(parse("not json", 4.0).is_err());
    }

    #[test]
    fn the_clock_runs_at_the_rate_and_stops_at_the_end() {
        let clock = Clock {
            t: 3.0,
            since: Instant::now() - Duration::from_secs(2),
            rate: 1.0,
        };
        assert_eq!(clock.now(4.0), 4.0);
        let paused = Clock { rate: 0.0, ..clock };
        assert_eq!(paused.now(4.0), 3.0);
    }
}
