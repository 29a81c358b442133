//! Live streams end to end: a library video played as a live source, its MJPEG parts parsed as
//! JPEGs at the configured rate with counts, a slow client skipping frames, clients counted and
//! cleaned up, a camera that cannot be reached retried, a removed stream ending its clients.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use common::{Camera, Server, agent, get, synth_video, wait_for};
use serde_json::Value;

fn post(server: &Server, body: &str) -> (u16, Value) {
    let mut resp = agent()
        .post(&server.url("/api/streams"))
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap();
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap(),
    )
}

fn stream(server: &Server, id: &str) -> Value {
    let (status, body) = get(&server.url(&format!("/api/streams/{id}")));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// One MJPEG part: its headers and the JPEG.
struct Part {
    headers: Vec<(String, String)>,
    jpeg: Vec<u8>,
    at: Instant,
}

impl Part {
    fn header(&self, name: &str) -> &str {
        &self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .unwrap()
            .1
    }
}

/// Reads MJPEG parts from `reader` for `seconds`.
fn read_parts(reader: &mut impl BufRead, seconds: f64) -> Vec<Part> {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let mut parts = Vec::new();
    while Instant::now() < until {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "--pigweight-frame\r\n");
        let mut headers = Vec::new();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            let (k, v) = line.trim_end().split_once(": ").unwrap();
            headers.push((k.to_owned(), v.to_owned()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "Content-Length")
            .unwrap()
            .1
            .parse()
            .unwrap();
        let mut jpeg = vec![0; len + 2];
        reader.read_exact(&mut jpeg).unwrap();
        assert_eq!(&jpeg[len..], b"\r\n");
        jpeg.truncate(len);
        parts.push(Part {
            headers,
            jpeg,
            at: Instant::now(),
        });
    }
    parts
}

fn watch(server: &Server, id: &str, query: &str) -> BufReader<ureq::BodyReader<'static>> {
    let resp = agent()
        .get(&server.url(&format!("/api/streams/{id}/mjpeg{query}")))
        .call()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "multipart/x-mixed-replace; boundary=pigweight-frame"
    );
    BufReader::new(resp.into_body().into_reader())
}

/// A server whose library holds `pen.mp4` (`seconds` long, seed 11), with `settings` as its
/// TOML `[api]` section; and the folder it lives in.
fn stream_server(seconds: u32, settings: &str) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let videos = dir.path().join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    synth_video(&videos.join("pen.mp4"), seconds, 11);
    let config = dir.path().join("pigweight.toml");
    std::fs::write(&config, format!("[api]\n{settings}")).unwrap();
    let server = Server::start(&[
        "--videos",
        videos.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    (dir, server)
}

#[test]
fn a_video_played_live_is_served_as_mjpeg_with_counts() {
    let (dir, server) = stream_server(4, "stream_fps = 10\nstream_infer_every = 2\n");
    let video = pigweight_api::video_id("pen.mp4");

    // Bad requests first.
    assert_eq!(post(&server, "{}").0, 400);
    assert_eq!(post(&server, r#"{"url": "ftp://camera/x"}"#).0, 422);
    assert_eq!(post(&server, r#"{"video": "0000000000000000"}"#).0, 404);

    let (status, added) = post(&server, &format!(r#"{{"video": "{video}", "name": "pen 4"}}"#));
    assert_eq!(status, 201, "{added}");
    let id = added["id"].as_str().unwrap().to_owned();
    assert_eq!(added["name"], "pen 4");
    assert_eq!(added["fps"], 10);
    assert_eq!(
        added["source"],
        format!("video pen.mp4 ({video}), in a loop"),
        "no server paths"
    );
    assert_eq!(
        post(&server, &format!(r#"{{"video": "{video}"}}"#)).0,
        409,
        "streamed already"
    );
    wait_for("the stream to go live", || {
        stream(&server, &id)["status"]["state"] == "live"
    });

    // A client at the full rate: JPEG parts of the video's size, ids rising, counts drawn.
    let mut full = watch(&server, &id, "?quality=90");
    let parts = read_parts(&mut full, 2.0);
    assert!(
        (12..=32).contains(&parts.len()),
        "{} parts in 2 s at 10 fps",
        parts.len()
    );
    for part in &parts {
        assert_eq!(part.header("Content-Type"), "image/jpeg");
        assert_eq!(
            part.header("X-Quality"),
            "90",
            "a client that keeps up keeps its quality"
        );
        let image = image::load_from_memory(&part.jpeg).unwrap();
        assert_eq!((image.width(), image.height()), (320, 240));
    }
    let ids: Vec<u64> = parts
        .iter()
        .map(|p| p.header("X-Frame-Id").parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[1] > w[0]), "{ids:?}");
    let counts: Vec<u32> = parts
        .iter()
        .map(|p| p.header("X-Count").parse().unwrap())
        .collect();
    assert!(
        counts.iter().all(|&c| (1..=30).contains(&c)),
        "the pen has pigs: {counts:?}"
    );
    assert_eq!(stream(&server, &id)["clients"], 1);

    // A slow client (2 frames a second): the newest frame each time, frames in between skipped,
    // while the fast one keeps its rate.
    let mut slow = watch(&server, &id, "?fps=2&quality=50");
    let slow_parts = read_parts(&mut slow, 2.0);
    assert!(
        (3..=6).contains(&slow_parts.len()),
        "{} parts in 2 s at 2 fps",
        slow_parts.len()
    );
    let slow_ids: Vec<u64> = slow_parts
        .iter()
        .map(|p| p.header("X-Frame-Id").parse().unwrap())
        .collect();
    assert!(
        slow_ids.windows(2).all(|w| w[1] >= w[0] + 3),
        "frames skipped: {slow_ids:?}"
    );
    let fast_again = read_parts(&mut full, 1.0);
    assert!(
        fast_again.len() >= 6,
        "the fast client slowed down: {}",
        fast_again.len()
    );
    let info = stream(&server, &id);
    assert_eq!(info["clients"], 2);
    assert!(info["inferences"].as_u64().unwrap() > 5, "{info}");
    assert!(info["count"].as_u64().unwrap() >= 1, "{info}");
    let gaps: Vec<f64> = parts
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64())
        .collect();
    assert!(
        gaps.iter().sum::<f64>() / gaps.len() as f64 > 0.05,
        "faster than 10 fps: {gaps:?}"
    );

    // Clients that go away are no longer counted.
    drop(slow);
    drop(full);
    wait_for("clients to be cleaned up", || {
        stream(&server, &id)["clients"] == 0
    });

    // A camera that cannot be reached is retried, with the reason in its state.
    let (status, camera) = post(&server, r#"{"url": "rtsp://user:secret@127.0.0.1:9/cam"}"#);
    assert_eq!(status, 201, "{camera}");
    assert!(!camera["source"].as_str().unwrap().contains("secret"), "{camera}");
    let camera_id = camera["id"].as_str().unwrap().to_owned();
    wait_for("the camera to be retried", || {
        stream(&server, &camera_id)["status"]["state"] == "retrying"
    });
    let retrying = stream(&server, &camera_id);
    assert!(retrying["status"]["reason"].as_str().is_some(), "{retrying}");
    let (_, list) = get(&server.url("/api/streams"));
    assert_eq!(
        serde_json::from_str::<Value>(&list)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Streams outlive the server: started again, it captures them again from its database.
    let (videos, config) = (dir.path().join("videos"), dir.path().join("pigweight.toml"));
    let server = server.restart(&[
        "--videos",
        videos.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    wait_for("the stream live again after a restart", || {
        stream(&server, &id)["status"]["state"] == "live"
    });
    assert_eq!(stream(&server, &id)["name"], "pen 4");
    assert_eq!(stream(&server, &camera_id)["source"], camera["source"]);

    // Removing a stream ends its clients' responses.
    let mut watching = watch(&server, &id, "");
    assert!(!read_parts(&mut watching, 0.3).is_empty());
    for remove in [&id, &camera_id] {
        let resp = agent()
            .delete(&server.url(&format!("/api/streams/{remove}")))
            .call()
            .unwrap();
        assert_eq!(resp.status(), 204);
    }
    let mut rest = Vec::new();
    watching.read_to_end(&mut rest).unwrap();
    assert_eq!(get(&server.url(&format!("/api/streams/{id}"))).0, 404);
}

/// What a stream WebSocket client received.
#[derive(Debug, Default)]
struct Received {
    /// (frame id, count, JPEG bytes) per binary message.
    frames: Vec<(u64, u32, usize)>,
    qualities: Vec<u64>,
    texts: Vec<Value>,
}

fn receive(
    socket: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
    seconds: f64,
) -> Received {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let mut got = Received::default();
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = socket.get_ref() {
        tcp.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    }
    while Instant::now() < until {
        match socket.read() {
            Ok(tungstenite::Message::Binary(data)) => {
                // The documented header: id u64, timestamp f64, count u32, length u32 (LE).
                let id = u64::from_le_bytes(data[0..8].try_into().unwrap());
                let t = f64::from_le_bytes(data[8..16].try_into().unwrap());
                let count = u32::from_le_bytes(data[16..20].try_into().unwrap());
                let len = u32::from_le_bytes(data[20..24].try_into().unwrap()) as usize;
                assert_eq!(data.len(), 24 + len);
                assert!(t > 0.0);
                let image = image::load_from_memory(&data[24..]).unwrap();
                assert_eq!((image.width(), image.height()), (320, 240));
                got.frames.push((id, count, len));
            }
            Ok(tungstenite::Message::Text(text)) => {
                let v: Value = serde_json::from_str(&text).unwrap();
                if v["type"] == "quality" {
                    got.qualities.push(v["quality"].as_u64().unwrap());
                }
                got.texts.push(v);
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }
    got
}

#[test]
fn the_stream_websocket_sends_framed_jpegs_and_adapts_to_each_client() {
    let (_dir, server) = stream_server(4, "stream_fps = 10\n");
    let video = pigweight_api::video_id("pen.mp4");
    let (status, added) = post(&server, &format!(r#"{{"video": "{video}"}}"#));
    assert_eq!(status, 201);
    let id = added["id"].as_str().unwrap().to_owned();
    wait_for("the stream to go live", || {
        stream(&server, &id)["status"]["state"] == "live"
    });
    let ws_url = format!("{}/ws/streams/{id}", server.base.replace("http://", "ws://"));

    // The count WebSocket follows a live stream too.
    let count_url = format!("{}/ws/count?stream={id}", server.base.replace("http://", "ws://"));
    let (mut counts, _) = tungstenite::connect(&count_url).unwrap();
    let update: Value = loop {
        if let tungstenite::Message::Text(text) = counts.read().unwrap() {
            break serde_json::from_str(&text).unwrap();
        }
    };
    assert_eq!(update["type"], "count_update", "{update}");
    assert_eq!(update["source"], "live", "{update}");
    assert!(update["count"].as_u64().unwrap() >= 1, "{update}");
    counts.close(None).unwrap();

    let (mut fast, _) = tungstenite::connect(&ws_url).unwrap();
    let (mut slow, _) = tungstenite::connect(format!("{ws_url}?quality=90")).unwrap();
    // The slow client takes nothing for a while: its socket fills, frames are skipped for it.
    let fast_got = receive(&mut fast, 5.0);
    let slow_got = receive(&mut slow, 3.0);

    assert_eq!(fast_got.texts[0]["type"], "state");
    assert_eq!(fast_got.texts[0]["state"], "live");
    assert!(
        fast_got.texts.iter().any(|t| t["type"] == "count"),
        "{:?}",
        fast_got.texts
    );
    assert!(
        fast_got.frames.len() >= 35,
        "the fast client got {} frames in 5 s",
        fast_got.frames.len()
    );
    assert!(
        fast_got.qualities.is_empty(),
        "the fast client kept its quality: {:?}",
        fast_got.qualities
    );
    let ids: Vec<u64> = fast_got.frames.iter().map(|f| f.0).collect();
    assert!(ids.windows(2).all(|w| w[1] > w[0]));

    let stats: Value = serde_json::from_str(&get(&server.url("/api/streams/stats")).1).unwrap();
    eprintln!("{stats}");
    assert_eq!(stats["clients"], 2, "{stats}");
    let slow_ids: Vec<u64> = slow_got.frames.iter().map(|f| f.0).collect();
    let skipped: u64 = slow_ids.windows(2).map(|w| w[1] - w[0] - 1).sum();
    assert!(skipped > 0, "nothing skipped for the slow client: {slow_ids:?}");
    assert!(
        slow_got.qualities.first().is_some_and(|&q| q < 90),
        "the slow client's quality did not step down: {:?}",
        slow_got.qualities
    );
    assert!(stats["frames_dropped"].as_u64().unwrap() > 0, "{stats}");
}

#[test]
fn a_source_that_drops_is_reopened_and_clients_get_heartbeats_meanwhile() {
    let (_dir, server) = stream_server(2, "stream_fps = 10\nmjpeg_heartbeat_s = 0.2\n");
    // A "camera" over HTTP that hangs up at the end of each take: the server's own file URL,
    // which ends after 2 s of video.
    let video = pigweight_api::video_id("pen.mp4");
    let camera = server.url(&format!("/api/videos/{video}/stream"));
    let (status, added) = post(&server, &format!(r#"{{"url": "{camera}"}}"#));
    assert_eq!(status, 201, "{added}");
    let id = added["id"].as_str().unwrap().to_owned();

    let mut reader = watch(&server, &id, "");
    let parts = read_parts(&mut reader, 6.0);
    let fresh: Vec<u64> = parts
        .iter()
        .filter(|p| p.header("X-Stale") == "0")
        .map(|p| p.header("X-Frame-Id").parse().unwrap())
        .collect();
    let stale = parts.iter().filter(|p| p.header("X-Stale") == "1").count();
    // While the source is down, the last frame comes again as a heartbeat, marked stale; when
    // it is back, new frames follow (ids keep counting across reopenings).
    assert!(
        stale >= 2,
        "no heartbeats while the source was down ({} parts)",
        parts.len()
    );
    let first_stale = parts.iter().position(|p| p.header("X-Stale") == "1").unwrap();
    let after: Vec<u64> = parts[first_stale..]
        .iter()
        .filter(|p| p.header("X-Stale") == "0")
        .map(|p| p.header("X-Frame-Id").parse().unwrap())
        .collect();
    assert!(!after.is_empty(), "the source never came back: {fresh:?}");
    assert!(fresh.windows(2).all(|w| w[1] > w[0]), "{fresh:?}");
    let info = stream(&server, &id);
    assert!(
        info["frames"].as_u64().unwrap() > *fresh.last().unwrap(),
        "{info}"
    );
}

#[test]
fn an_rtsp_camera_is_streamed_and_reconnected_after_it_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let videos = dir.path().join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    let clip = dir.path().join("camera.mp4");
    synth_video(&clip, 30, 12);
    let config = dir.path().join("pigweight.toml");
    std::fs::write(&config, "[api]\nstream_fps = 10\n").unwrap();
    let server = Server::start(&[
        "--videos",
        videos.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let camera = Camera::start("rtsp_serve.py", &clip, port);

    let (status, added) = post(&server, &format!(r#"{{"url": "rtsp://127.0.0.1:{port}/cam"}}"#));
    assert_eq!(status, 201, "{added}");
    let id = added["id"].as_str().unwrap().to_owned();
    wait_for("the camera to go live", || {
        stream(&server, &id)["status"]["state"] == "live"
    });
    let mut reader = watch(&server, &id, "");
    let before = read_parts(&mut reader, 1.5);
    let fresh: Vec<&Part> = before.iter().filter(|p| p.header("X-Stale") == "0").collect();
    assert!(
        fresh.len() >= 5,
        "{} frames in 1.5 s from the camera",
        fresh.len()
    );
    assert!(
        fresh
            .iter()
            .all(|p| p.header("X-Count").parse::<u32>().unwrap() >= 1)
    );

    // The camera goes away: the stream retries, with the reason; the client stays connected.
    drop(camera);
    wait_for("the stream to notice", || {
        stream(&server, &id)["status"]["state"] == "retrying"
    });
    // It comes back: the stream reopens it by itself and frames flow again.
    let _camera = Camera::start("rtsp_serve.py", &clip, port);
    wait_for("the stream to reconnect", || {
        stream(&server, &id)["status"]["state"] == "live"
    });
    let last_before: u64 = fresh.last().unwrap().header("X-Frame-Id").parse().unwrap();
    let after = read_parts(&mut reader, 3.0);
    let newer = after
        .iter()
        .filter(|p| p.header("X-Stale") == "0")
        .filter(|p| p.header("X-Frame-Id").parse::<u64>().unwrap() > last_before + 1)
        .count();
    assert!(newer >= 5, "{newer} new frames after the camera came back");
}
