//! The count WebSocket against the in-process app (see `common`), served on a loopback port of
//! the test itself: no binary, no pipeline, no runtime; counts known exactly from the fake video.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, pen};
use serde_json::Value;
use tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_count_websocket_follows_the_player_with_exact_counts() {
    let app = TestApp::new(&[("pen.mp4", pen())]);
    let id = TestApp::id("pen.mp4");
    app.indexed(&id).await;
    let addr = app.serve().await;
    let truth = pen();
    tokio::task::spawn_blocking(move || {
        let (mut socket, _) = tungstenite::connect(format!("ws://{addr}/ws/count?id={id}")).unwrap();
        if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = socket.get_ref() {
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        }
        // On connecting: the count at the start.
        let first = read_update(&mut socket);
        assert_eq!(
            (&first["type"], &first["t"], &first["count"]),
            (&"count_update".into(), &0.0.into(), &2.into()),
            "{first}"
        );
        for (t, frame, count) in [(1.7, 42, 3), (3.5, 87, 1), (0.5, 12, 2)] {
            socket
                .send(Message::Text(format!(r#"{{"type":"seek","t":{t}}}"#).into()))
                .unwrap();
            let update = read_update(&mut socket);
            assert_eq!(update["type"], "count_update", "{update}");
            assert_eq!(
                (&update["t"], &update["frame_index"], &update["count"]),
                (&t.into(), &frame.into(), &count.into()),
                "{update}"
            );
        }
        socket
            .send(Message::Text(r#"{"type":"seek","t":99}"#.into()))
            .unwrap();
        assert_eq!(read_update(&mut socket)["type"], "error");
        // Playing at 8x from the start: updates come in order, each the truth of its frame, to
        // the end of the video.
        socket
            .send(Message::Text(r#"{"type":"play","t":0,"rate":8}"#.into()))
            .unwrap();
        let started = Instant::now();
        let mut seen = Vec::new();
        while started.elapsed() < Duration::from_secs(5) {
            let u = read_update(&mut socket);
            let (t, frame) = (u["t"].as_f64().unwrap(), u["frame_index"].as_u64().unwrap());
            assert_eq!(u["count"], u64::from(truth.value(frame)), "{u}");
            seen.push((t, u["count"].as_u64().unwrap()));
            if t >= 4.0 {
                break;
            }
        }
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
        assert_eq!(seen.last().map(|s| s.0), Some(4.0), "{seen:?}");
        assert!(
            seen.iter().any(|s| s.1 == 3) && seen.iter().any(|s| s.1 == 1),
            "{seen:?}"
        );
        socket.close(None).unwrap();
    })
    .await
    .unwrap();
}

/// The next message that is not index progress.
fn read_update(
    socket: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
) -> Value {
    loop {
        if let Message::Text(t) = socket.read().unwrap() {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] != "index_progress" {
                return v;
            }
        }
    }
}
