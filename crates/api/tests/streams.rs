//! Live streams in-process (see `common`): the live crate captures a fake video played in a
//! loop (the fake opener's live source, paced at the stream's rate) and counts it with the fake
//! model; the HTTP side is the real one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::TestApp;
use http_body_util::BodyExt as _;
use pigweight_api::ApiConfig;
use pigweight_decode::fake::FakeVideo;
use pigweight_inference::SmallObjectInput;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_played_live_is_counted_served_as_mjpeg_and_removed() {
    let config = ApiConfig {
        stream_fps: 20,
        stream_infer_every: 1,
        max_streams: 2,
        ..ApiConfig::default()
    };
    // Two animals on every frame.
    let app = TestApp::with_config(
        config,
        &[("pen.mp4", FakeVideo::constant(64, 48, 25, 50, 25, vec![(0, 2)]))],
    );
    let video = TestApp::id("pen.mp4");
    let body = format!(r#"{{"video":"{video}","name":"Pen 4"}}"#);
    let added = app
        .call(Method::POST, "/api/streams", "application/json", body.clone())
        .await;
    assert_eq!(
        added.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&added.body)
    );
    let id = added.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(added.json()["name"], "Pen 4");
    assert!(
        app.call(Method::POST, "/api/streams", "application/json", body)
            .await
            .error(409)
            .contains(&id)
    );
    app.call(
        Method::POST,
        "/api/streams",
        "application/json",
        r#"{"url":"ftp://cam/1"}"#,
    )
    .await
    .error(422);
    app.call(Method::POST, "/api/streams", "application/json", "{}")
        .await
        .error(400);
    app.call(
        Method::POST,
        "/api/streams",
        "application/json",
        r#"{"video":"0000000000000000"}"#,
    )
    .await
    .error(404);
    // A camera nobody answers: added, and retried with the reason shown; the password never.
    let camera = app
        .call(
            Method::POST,
            "/api/streams",
            "application/json",
            r#"{"url":"rtsp://admin:pw@cam.invalid/1"}"#,
        )
        .await;
    assert_eq!(camera.status, StatusCode::CREATED);
    let camera = camera.json();
    assert_eq!(camera["source"], "rtsp://***@cam.invalid/1");
    let camera_id = camera["id"].as_str().unwrap().to_owned();
    let retrying = app
        .poll(&format!("/api/streams/{camera_id}"), |s| {
            s["status"]["state"] == "retrying"
        })
        .await;
    assert!(
        retrying["status"]["reason"]
            .as_str()
            .unwrap()
            .contains("no camera answers"),
        "{retrying}"
    );
    app.call(
        Method::POST,
        "/api/streams",
        "application/json",
        r#"{"url":"rtsp://cam2.invalid/1"}"#,
    )
    .await
    .error(422);

    let live = app
        .poll(&format!("/api/streams/{id}"), |s| {
            s["status"]["state"] == "live" && s["count"] == 2
        })
        .await;
    assert_eq!(live["fps"], 20);
    // MJPEG: each part a JPEG of the frame, with its count.
    let response = app.open(&format!("/api/streams/{id}/mjpeg?quality=50")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let kind = response.headers()["content-type"].to_str().unwrap().to_owned();
    let boundary = kind
        .strip_prefix("multipart/x-mixed-replace; boundary=")
        .unwrap()
        .to_owned();
    let mut body = response.into_body();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let part = body.frame().await.unwrap().unwrap().into_data().unwrap();
        let split = part.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(part[..split].to_vec()).unwrap();
        assert!(head.starts_with(&format!("--{boundary}\r\n")), "{head}");
        let field = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .unwrap_or_else(|| panic!("no {name} in {head}"))
                .to_owned()
        };
        assert_eq!(field("Content-Type"), "image/jpeg");
        assert_eq!(field("X-Count"), "2");
        assert_eq!(field("X-Quality"), "50");
        let jpeg = &part[split + 4..part.len() - 2];
        assert_eq!(field("Content-Length"), jpeg.len().to_string());
        let picture = image::load_from_memory(jpeg).unwrap();
        assert_eq!((picture.width(), picture.height()), (64, 48));
        ids.push(field("X-Frame-Id").parse::<u64>().unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let stats = app.get("/api/streams/stats").await.json();
    assert_eq!(stats["clients"], 1, "{stats}");
    // Removed: its capture ends and the client's response finishes.
    let gone = app.delete(&format!("/api/streams/{id}")).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(frame) = body.frame().await {
            frame.unwrap();
        }
    })
    .await;
    assert!(ended.is_ok(), "the MJPEG response did not end");
    app.get(&format!("/api/streams/{id}")).await.error(404);
    let listed = app.get("/api/streams").await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}

/// A live stream's first inferred frames choose the input of the rest, as a file's keyframes
/// choose its own: the fake's animals are small (0.12 of the short side), so after its first
/// five the stream's frames go in at the model's larger input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_of_small_animals_goes_in_at_the_larger_input() {
    use std::sync::atomic::Ordering;
    let config = ApiConfig {
        stream_fps: 20,
        stream_infer_every: 1,
        ..ApiConfig::default()
    };
    let rule = SmallObjectInput {
        size: 960,
        below: 0.2,
    };
    let app = TestApp::with_small_objects(
        config,
        rule,
        true,
        &[("pen.mp4", FakeVideo::constant(64, 48, 25, 50, 25, vec![(0, 2)]))],
    );
    let video = TestApp::id("pen.mp4");
    app.indexed(&video).await;
    let indexed = app.own_inputs.load(Ordering::Relaxed);
    let body = format!(r#"{{"video":"{video}","name":"Pen 5"}}"#);
    let added = app
        .call(Method::POST, "/api/streams", "application/json", body)
        .await;
    assert_eq!(added.status, StatusCode::CREATED);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while app.own_inputs.load(Ordering::Relaxed) == indexed {
        assert!(
            std::time::Instant::now() < deadline,
            "no live frame went in at the larger input"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
