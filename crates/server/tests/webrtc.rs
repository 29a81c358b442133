//! WebRTC live view (WHEP) end to end: what the endpoint refuses, and chromium watching an RTSP
//! camera by WebRTC with its count, the latency from the camera's clock to the browser's frame
//! measured (against the WebSocket's JPEGs), the session counted among the stream's clients and
//! gone after the page leaves, or after its browser is killed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Camera, Server, agent, free_port, header, send, synth_video, wait_for, wait_for_secs};
use serde_json::Value;

fn json(server: &Server, path: &str) -> Value {
    let body = agent()
        .get(&server.url(path))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

/// A server with `settings` in its `[api]` section and a stream of `source`; the stream's id
/// once it is live.
fn server_with_stream(dir: &Path, settings: &str, source: &str) -> (Server, String) {
    let videos = dir.join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    synth_video(&videos.join("pen.mp4"), 4, 11);
    let config = dir.join("pigweight.toml");
    std::fs::write(&config, format!("[api]\n{settings}")).unwrap();
    let server = Server::start(&[
        "--videos",
        videos.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let body = if source.contains("://") {
        format!(r#"{{"url": "{source}"}}"#)
    } else {
        format!(r#"{{"video": "{}"}}"#, pigweight_api::video_id(source))
    };
    let added = send(
        "POST",
        &server.url("/api/streams"),
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    );
    assert_eq!(added.status, 201, "{}", String::from_utf8_lossy(&added.body));
    let id = serde_json::from_slice::<Value>(&added.body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for("the stream to go live", || {
        json(&server, &format!("/api/streams/{id}"))["status"]["state"] == "live"
    });
    (server, id)
}

#[test]
fn whep_refuses_what_it_cannot_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (server, id) = server_with_stream(dir.path(), "stream_fps = 10\n", "pen.mp4");
    let whep = server.url(&format!("/api/streams/{id}/whep"));
    let sdp = [("Content-Type", "application/sdp")];
    let error = |r: &common::Reply| serde_json::from_slice::<Value>(&r.body).unwrap()["error"].clone();

    let r = send("POST", &whep, &[("Content-Type", "text/plain")], Some(b"v=0\r\n"));
    assert_eq!(r.status, 415, "{}", error(&r));
    let r = send("POST", &whep, &sdp, Some(b"this is not SDP"));
    assert_eq!(r.status, 400, "{}", error(&r));
    // Video, but only VP8: nothing this server sends.
    let vp8 = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
               m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=recvonly\r\na=rtpmap:96 VP8/90000\r\n";
    let r = send("POST", &whep, &sdp, Some(vp8.as_bytes()));
    assert_eq!(r.status, 400, "{}", error(&r));
    assert!(error(&r).as_str().unwrap().contains("H.264"), "{}", error(&r));
    let r = send(
        "POST",
        &server.url("/api/streams/0000000000000000/whep"),
        &sdp,
        Some(vp8.as_bytes()),
    );
    assert_eq!(r.status, 404);
    let r = send("DELETE", &format!("{whep}/nosuchsession"), &[], None);
    assert_eq!(r.status, 404, "{}", error(&r));
    // No trickle ICE: PATCH on a session is not a method it takes.
    let r = send(
        "PATCH",
        &format!("{whep}/nosuchsession"),
        &[("Content-Type", "application/trickle-ice-sdpfrag")],
        Some(b"a=x"),
    );
    assert_eq!(r.status, 405);
    assert!(header(&r, "allow").contains("DELETE"));
    // Nobody watches: no WebRTC client is listed.
    let stats = json(&server, "/api/streams/stats");
    assert_eq!(stats["clients"], 0, "{stats}");
}

#[test]
fn chromium_watches_a_camera_by_webrtc_with_its_count() {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        js.join("node_modules/playwright-core").exists(),
        "tests/js is not installed: run scripts/fixtures.sh (make test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("camera.mp4");
    synth_video(&clip, 4, 12);
    let port = free_port();
    let _camera = Camera::start("clock_camera.py", &clip, port);
    let (server, id) = server_with_stream(
        dir.path(),
        "stream_fps = 30\nstream_rtsp_latency_ms = 50\n",
        &format!("rtsp://127.0.0.1:{port}/cam"),
    );

    let watch = |transport: &str| {
        let (base, id, transport, js) = (server.base.clone(), id.clone(), transport.to_owned(), js.clone());
        std::thread::spawn(move || {
            let out = Command::new("node")
                .args(["whep.mjs", &base, &id, "90", &transport])
                .current_dir(&js)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "whep.mjs failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(seen["error"], Value::Null, "{seen}");
            assert_eq!(seen["pageErrors"], serde_json::json!([]), "{seen}");
            assert_eq!(seen["transport"], transport.as_str(), "{seen}");
            seen
        })
    };
    // The camera's clock, read from 90 frames: the median and 95th percentile of its latency.
    let latency = |seen: &Value| {
        let mut ms: Vec<f64> = seen["latencyMs"]["found"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(
            ms.len(),
            90,
            "{} frames whose clock did not read",
            seen["latencyMs"]["unread"]
        );
        ms.sort_by(f64::total_cmp);
        // A real picture of the camera, arriving in order and within a second (the goal, under
        // 300 ms, is a benchmark's: bench/RESULTS.md).
        assert!(ms[0] > 0.0 && ms[85] < 1000.0, "latency {ms:?}");
        (ms[45], ms[85])
    };

    let watcher = watch("webrtc");
    // While the page watches: a WebRTC client among the stream's, sent frames.
    wait_for("a WebRTC viewer", || {
        json(&server, "/api/streams/stats")["streams"][0]["clients"]
            .as_array()
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c["kind"] == "webrtc" && c["frames_sent"].as_u64() > Some(10))
            })
    });
    let seen = watcher.join().unwrap();
    let shown = &seen["shown"];
    assert_eq!(
        (shown["width"].as_u64(), shown["height"].as_u64()),
        (Some(640), Some(360)),
        "{seen}"
    );
    assert_eq!(
        (shown["videoHidden"].as_bool(), shown["canvasHidden"].as_bool()),
        (Some(false), Some(true))
    );
    // The synthetic pen has pigs in view: the page shows the stream's count.
    assert!(shown["count"].as_u64().unwrap() >= 1, "{seen}");
    let webrtc = latency(&seen);
    // The page left the stream: its session is hung up and the shared encoding stopped.
    wait_for("the WebRTC viewer to go", || {
        json(&server, "/api/streams/stats")["streams"][0]["clients"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["kind"] != "webrtc"))
    });

    // A viewer that vanishes without hanging up (its browser killed) goes quiet: no RTCP for
    // 15 s ends its session.
    let out = Command::new("node")
        .args(["whep.mjs", &server.base, &id, "0", "vanish"])
        .current_dir(&js)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["transport"],
        "webrtc"
    );
    let webrtc_viewers = || {
        json(&server, "/api/streams/stats")["streams"][0]["clients"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] == "webrtc")
            .count()
    };
    assert_eq!(webrtc_viewers(), 1);
    wait_for_secs("the vanished WebRTC viewer to go", 40, || webrtc_viewers() == 0);

    // The same camera over the stream WebSocket (JPEGs on a canvas): the reference.
    let seen = watch("websocket").join().unwrap();
    assert_eq!(seen["shown"]["canvasHidden"], false, "{seen}");
    let websocket = latency(&seen);
    eprintln!(
        "latency, camera clock to the browser's frame (median, p95): WebRTC {:.0} ms, {:.0} ms; \
         WebSocket JPEGs {:.0} ms, {:.0} ms",
        webrtc.0, webrtc.1, websocket.0, websocket.1
    );
}
