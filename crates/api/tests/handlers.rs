//! The handlers in-process (see `common`): every answer checked against what the fake videos
//! and the fake model make exactly, with no port, no GStreamer pipeline and no ONNX Runtime.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::{TestApp, pen};
use pigweight_api::ApiConfig;
use pigweight_inference::SmallObjectInput;

#[tokio::test]
async fn the_library_lists_what_the_files_are() {
    let app = TestApp::new(&[("pen.mp4", pen())]);
    let id = TestApp::id("pen.mp4");
    let list = app.get("/api/videos").await;
    assert_eq!(list.status, StatusCode::OK);
    let list = list.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["name"], "pen.mp4");
    let detail = app.get(&format!("/api/videos/{id}")).await.json();
    assert_eq!(
        (
            &detail["width"],
            &detail["height"],
            &detail["frame_count"],
            &detail["keyframe_count"]
        ),
        (&64.into(), &48.into(), &100.into(), &4.into())
    );
    assert_eq!(detail["duration"], 4.0);
    assert_eq!(detail["max_gop"], 25);
    assert!(
        app.get("/api/videos/0000000000000000")
            .await
            .error(404)
            .contains("no video")
    );
}

#[tokio::test]
async fn counts_are_exact_at_every_moment_and_the_index_pins_each_change() {
    // The index answers only from a sample on the very frame until it is complete, so the
    // first answer is exact whatever the indexer has done by then.
    let config = ApiConfig {
        max_sample_distance_s: 0.0,
        ..ApiConfig::default()
    };
    let app = TestApp::with_config(config, &[("pen.mp4", pen())]);
    let id = TestApp::id("pen.mp4");
    // Asked before the index is done: the model (or a sample on this frame) answers.
    let at = app
        .get(&format!("/api/video_file/count_at_time?id={id}&t=1.62"))
        .await
        .json();
    assert_eq!(
        (&at["count"], &at["frame_index"], &at["frame_time"]),
        (&3.into(), &40.into(), &1.6.into())
    );
    app.indexed(&id).await;
    for (t, count, frame) in [
        (0.0, 2, 0),
        (1.59, 2, 39),
        (1.6, 3, 40),
        (2.999, 3, 74),
        (3.0, 1, 75),
        (3.99, 1, 99),
    ] {
        let at = app
            .get(&format!("/api/video_file/count_at_time?id={id}&t={t}"))
            .await
            .json();
        assert_eq!(
            (&at["count"], &at["frame_index"]),
            (&count.into(), &frame.into()),
            "t={t}: {at}"
        );
        assert_ne!(at["source"], "inferred", "the index answers once complete: {at}");
    }
    let next = app.get(&format!("/api/videos/{id}/changes?t=0")).await.json();
    assert_eq!(next["change"]["frame_index"], 40, "{next}");
    assert_eq!(
        (&next["change"]["from"], &next["change"]["to"]),
        (&2.into(), &3.into())
    );
    let next = app.get(&format!("/api/videos/{id}/changes?t=2")).await.json();
    assert_eq!(
        (&next["change"]["frame_index"], &next["change"]["time"]),
        (&75.into(), &3.0.into())
    );
    let back = app
        .get(&format!("/api/videos/{id}/changes?t=2&dir=previous"))
        .await
        .json();
    assert_eq!(back["change"]["frame_index"], 40, "{back}");
    let none = app.get(&format!("/api/videos/{id}/changes?t=3.5")).await.json();
    assert!(none["change"].is_null(), "{none}");
    let series = app.get(&format!("/api/videos/{id}/counts?points=4")).await.json();
    assert_eq!(series["complete"], true);
    let range: Vec<(u64, u64)> = series["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["min"].as_u64().unwrap(), b["max"].as_u64().unwrap()))
        .collect();
    assert_eq!(range, [(2, 2), (2, 3), (3, 3), (1, 1)], "{series}");
    let found = app
        .get(&format!("/api/videos/{id}/detections?t=1.7"))
        .await
        .json();
    assert_eq!((&found["count"], &found["frame_index"]), (&3.into(), &42.into()));
    assert_eq!(found["detections"].as_array().unwrap().len(), 3);
    assert_eq!(found["detections"][0]["class_name"], "pig");
}

#[tokio::test]
async fn while_the_models_backend_is_away_requests_are_told_to_retry_and_the_index_resumes_after() {
    let app = TestApp::backend_away(
        "Triton at http://10.0.0.9:8000: connection refused",
        &[("pen.mp4", pen())],
    );
    let id = TestApp::id("pen.mp4");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    let why = String::from_utf8_lossy(&ready.body);
    assert!(
        why.contains("inference server is unavailable") && why.contains("connection refused"),
        "{why}"
    );
    // Nothing is indexed yet, so the model is asked, and it is away.
    let away = app
        .get(&format!("/api/video_file/count_at_time?id={id}&t=1.62"))
        .await;
    assert_eq!(away.header("retry-after"), "1");
    let message = away.error(503);
    assert!(message.contains("inference server is unavailable"), "{message}");
    assert!(
        !message.contains("10.0.0.9"),
        "where the server is stays in the log: {message}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let status = app.get(&format!("/api/videos/{id}/index")).await.json();
    assert_ne!(status["state"], "failed", "{status}");
    assert_eq!(status["samples"], 0, "{status}");
    assert_eq!(app.inferred.load(std::sync::atomic::Ordering::Relaxed), 0);

    app.outage.end();
    app.indexed(&id).await;
    assert_eq!(app.get("/readyz").await.status, StatusCode::OK);
    for (t, count) in [(0.0, 2), (1.59, 2), (1.6, 3), (2.999, 3), (3.0, 1), (3.99, 1)] {
        let at = app
            .get(&format!("/api/video_file/count_at_time?id={id}&t={t}"))
            .await
            .json();
        assert_eq!(at["count"], count, "t={t}: {at}");
    }
}

#[tokio::test]
async fn bad_numbers_and_unknown_videos_are_json_errors_with_their_status() {
    let app = TestApp::new(&[("pen.mp4", pen())]);
    let id = TestApp::id("pen.mp4");
    let past = app
        .get(&format!("/api/video_file/count_at_time?id={id}&t=99"))
        .await;
    assert!(past.error(422).contains("past the end"), "{}", past.error(422));
    app.get(&format!("/api/video_file/count_at_time?id={id}&t=abc"))
        .await
        .error(400);
    app.get(&format!("/api/video_file/count_at_time?id={id}"))
        .await
        .error(400);
    app.get("/api/video_file/count_at_time?id=nope&t=1")
        .await
        .error(404);
    app.get(&format!("/api/video_file/frame_optimized?id={id}&t=1&width=8"))
        .await
        .error(422);
    app.get(&format!("/api/video_file/frame_optimized?id={id}&t=1&quality=0"))
        .await
        .error(422);
    app.get(&format!("/api/videos/{id}/counts?points=0"))
        .await
        .error(422);
    // The router's own answers are JSON too.
    app.get("/api/nothing-here").await.error(404);
    let wrong = app
        .call(Method::DELETE, "/api/stats", "application/json", "")
        .await;
    wrong.error(405);
    assert!(wrong.header("allow").contains("GET"));
    let body = app
        .call(Method::POST, "/api/streams", "application/json", "{not json")
        .await;
    body.error(400);
    let form = app.call(Method::POST, "/api/streams", "text/plain", "{}").await;
    form.error(415);
    // Path numbers that are not numbers, WebSocket paths asked without a handshake.
    app.get(&format!("/api/videos/{id}/sprites/-1")).await.error(400);
    app.get(&format!("/api/videos/{id}/sprites/x")).await.error(400);
    app.get(&format!("/ws/count?id={id}")).await.error(400);
    app.get("/ws/streams/nope").await.error(400);
    app.get("/api/video_file/count_at_time?id=x&t=zz")
        .await
        .error(400);
    // A JSON body over the limit is 413, whichever operation takes it.
    let big = format!(r#"{{"path":"{}"}}"#, "a".repeat(10 << 20));
    for path in ["/api/streams", "/api/videos"] {
        app.call(Method::POST, path, "application/json", big.clone())
            .await
            .error(413);
    }
}

#[tokio::test]
async fn a_frame_is_the_exact_picture_and_is_encoded_once() {
    let app = TestApp::new(&[("pen.mp4", pen())]);
    let id = TestApp::id("pen.mp4");
    // Lossless and without boxes: every pixel says which frame it is (red = the count, green =
    // the frame number).
    let png = app
        .get(&format!(
            "/api/video_file/frame_optimized?id={id}&t=1.7&format=png&inference=false"
        ))
        .await;
    assert_eq!(png.status, StatusCode::OK);
    assert_eq!(png.header("content-type"), "image/png");
    assert_eq!(png.header("x-frame-index"), "42");
    assert_eq!(png.header("x-frame-time"), "1.680000");
    let picture = image::load_from_memory(&png.body).unwrap().to_rgb8();
    assert_eq!(picture.dimensions(), (64, 48));
    assert!(picture.pixels().all(|p| p.0 == [3, 42, 0]));
    // With boxes: the count of that frame, then the same bytes from the cache.
    let uri = format!("/api/video_file/frame_optimized?id={id}&t=1.7&width=32");
    let first = app.get(&uri).await;
    assert_eq!((first.header("x-count"), first.header("x-cache")), ("3", "miss"));
    let jpeg = image::load_from_memory(&first.body).unwrap();
    assert_eq!((jpeg.width(), jpeg.height()), (32, 24));
    let again = app.get(&uri).await;
    assert_eq!(again.header("x-cache"), "hit");
    assert_eq!(again.body, first.body);
    let etag = first.header("etag").to_owned();
    let current = app.get_with(&uri, &[("if-none-match", &etag)]).await;
    assert_eq!(current.status, StatusCode::NOT_MODIFIED);
    assert!(current.body.is_empty());
    // Dragging: the keyframe at or before the moment.
    let fast = app
        .get(&format!(
            "/api/video_file/frame_optimized?id={id}&t=1.7&mode=fast"
        ))
        .await;
    assert_eq!(fast.header("x-frame-index"), "25");
    let stats = app.get("/api/stats").await.json();
    assert_eq!(stats["frame_images"]["hits"], 1, "{stats}");
    assert_eq!(stats["frame_images"]["misses"], 3, "{stats}");
}

#[tokio::test]
async fn the_file_is_served_by_ranges_and_validators() {
    let app = TestApp::new(&[("pen.mp4", pen())]);
    let id = TestApp::id("pen.mp4");
    let bytes = std::fs::read(app.dir.path().join("videos/pen.mp4")).unwrap();
    let uri = format!("/api/videos/{id}/stream");
    let whole = app.get(&uri).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.body, bytes);
    assert_eq!(whole.header("accept-ranges"), "bytes");
    let part = app.get_with(&uri, &[("range", "bytes=10-19")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, bytes[10..20]);
    assert_eq!(
        part.header("content-range"),
        format!("bytes 10-19/{}", bytes.len())
    );
    let etag = whole.header("etag").to_owned();
    let current = app.get_with(&uri, &[("if-none-match", &etag)]).await;
    assert_eq!(current.status, StatusCode::NOT_MODIFIED);
    let outside = app.get_with(&uri, &[("range", "bytes=99999-")]).await;
    outside.error(416);
    assert_eq!(
        outside.header("content-range"),
        format!("bytes */{}", bytes.len())
    );
    let failed = app.get_with(&uri, &[("if-match", "\"other\"")]).await;
    failed.error(412);
}

#[tokio::test]
async fn text_is_compressed_for_clients_that_ask_and_video_never() {
    let app = TestApp::new(&[("pen.mp4", pen())]);
    let id = TestApp::id("pen.mp4");
    let plain = app.get("/openapi.json").await;
    assert!(plain.headers.get("content-encoding").is_none());
    let gzip = app
        .get_with("/openapi.json", &[("accept-encoding", "gzip")])
        .await;
    assert_eq!(gzip.header("content-encoding"), "gzip");
    assert!(
        gzip.body.len() * 4 < plain.body.len(),
        "{} of {}",
        gzip.body.len(),
        plain.body.len()
    );
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip.body[..]), &mut unpacked).unwrap();
    assert_eq!(unpacked, plain.body);
    let br = app
        .get_with("/openapi.json", &[("accept-encoding", "br;q=1, gzip;q=0.5")])
        .await;
    assert_eq!(br.header("content-encoding"), "br");
    // The video's bytes go as they are, whole and by ranges.
    let uri = format!("/api/videos/{id}/stream");
    let bytes = std::fs::read(app.dir.path().join("videos/pen.mp4")).unwrap();
    for range in [None, Some("bytes=10-19")] {
        let mut headers = vec![("accept-encoding", "gzip, br")];
        headers.extend(range.map(|r| ("range", r)));
        let file = app.get_with(&uri, &headers).await;
        assert!(file.headers.get("content-encoding").is_none(), "{range:?}");
        let want = if range.is_some() {
            &bytes[10..20]
        } else {
            &bytes[..]
        };
        assert_eq!(file.body, want);
    }
}

#[tokio::test]
async fn http2_is_spoken_without_tls_to_clients_that_know_it() {
    let app = TestApp::new(&[("pen.mp4", pen())]);
    let addr = app.serve().await;
    let out = tokio::process::Command::new("curl")
        .args([
            "-s",
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
        ])
        .arg(format!("http://{addr}/api/videos"))
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 200");
}

#[tokio::test]
async fn api_keys_guard_the_api_but_not_health() {
    let config = ApiConfig {
        api_keys: vec!["k-1".into()],
        ..ApiConfig::default()
    };
    let app = TestApp::with_config(config, &[("pen.mp4", pen())]);
    let refused = app.get("/api/videos").await;
    refused.error(401);
    assert_eq!(refused.header("www-authenticate"), "ApiKey");
    assert_eq!(
        app.get_with("/api/videos", &[("x-api-key", "k-1")]).await.status,
        StatusCode::OK
    );
    assert_eq!(app.get("/api/videos?api_key=k-1").await.status, StatusCode::OK);
    app.get_with("/api/videos", &[("x-api-key", "k-2")])
        .await
        .error(401);
    assert!(refused.error(401).contains("X-API-Key"));
    // A key in the query becomes a cookie, for media elements and WebSockets.
    let by_query = app.get("/api/videos?api_key=k-1").await;
    assert!(by_query.header("set-cookie").starts_with("pigweight_key=k-1"));
    assert_eq!(
        app.get_with("/metrics", &[("cookie", "pigweight_key=k-1")])
            .await
            .status,
        StatusCode::OK
    );
    app.get("/metrics").await.error(401);
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_unreadable_file_is_listed_failed_and_its_frames_are_422() {
    let app = TestApp::new(&[("pen.mp4", pen())]);
    std::fs::write(app.dir.path().join("videos/broken.mp4"), b"this is not a video").unwrap();
    let added = app
        .call(
            Method::POST,
            "/api/videos",
            "application/json",
            r#"{"path":"broken.mp4"}"#,
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED);
    let id = TestApp::id("broken.mp4");
    assert_eq!(added.header("location"), format!("/api/videos/{id}"));
    let frame = app
        .get(&format!("/api/video_file/frame_optimized?id={id}&t=0"))
        .await;
    assert!(frame.error(422).contains("not a media file"), "{frame:?}");
    let status = app
        .poll(&format!("/api/videos/{id}/index"), |s| s["state"] == "failed")
        .await;
    assert!(
        status["reason"].as_str().unwrap().contains("not a media file"),
        "{status}"
    );
}

#[test]
fn the_committed_openapi_document_is_the_one_the_code_makes() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json")).unwrap();
    let made = pigweight_api::openapi().to_pretty_json().unwrap();
    let (committed, made): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&committed).unwrap(),
        serde_json::from_str(&made).unwrap(),
    );
    assert!(
        committed == made,
        "openapi/openapi.json is stale: run `make openapi`"
    );
}

#[tokio::test]
async fn metrics_are_openmetrics_text_with_the_counters_of_stats() {
    let app = TestApp::new(&[("pen.mp4", pen())]);
    let id = TestApp::id("pen.mp4");
    let uri = format!("/api/video_file/frame_optimized?id={id}&t=1&inference=false");
    app.get(&uri).await;
    app.get(&uri).await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics
            .header("content-type")
            .starts_with("application/openmetrics-text")
    );
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    for line in [
        "# TYPE pigweight_frame_image_cache_hits counter",
        "pigweight_frame_image_cache_hits_total 1",
        "pigweight_frame_image_cache_misses_total 1",
        "# TYPE pigweight_sources_open gauge",
        "pigweight_http_requests_total 3",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert_eq!(text.lines().last(), Some("# EOF"));
}

#[tokio::test]
async fn the_frame_table_numbers_frames_as_every_endpoint_does_on_a_variable_rate() {
    // 25 fps, then a stretch at 10 fps, then 25 again.
    let mut pts_ms: Vec<u64> = (0..20).map(|i| i * 40).collect();
    pts_ms.extend((1..=10).map(|i| 760 + i * 100));
    pts_ms.extend((1..=20).map(|i| 1760 + i * 40));
    let video = pigweight_decode::fake::FakeVideo {
        width: 32,
        height: 24,
        pts_ms: pts_ms.clone(),
        gop: 10,
        values: vec![(0, 1)],
    };
    let app = TestApp::new(&[("vfr.mp4", video)]);
    let id = TestApp::id("vfr.mp4");
    let table = app.get(&format!("/api/videos/{id}/frames")).await.json();
    assert_eq!(table["frame_count"], 50);
    let runs = table["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3, "{table}");
    assert_eq!((&runs[1]["first"], &runs[1]["step"]), (&20.into(), &0.1.into()));
    // Frame k's time from the table is the time every other endpoint gives frame k.
    for run in runs {
        let (first, time, step) = (
            run["first"].as_u64().unwrap(),
            run["time"].as_f64().unwrap(),
            run["step"].as_f64().unwrap(),
        );
        for k in 0..run["count"].as_u64().unwrap() {
            let t = time + k as f64 * step;
            assert!((t - pts_ms[(first + k) as usize] as f64 / 1000.0).abs() < 1e-6);
            let at = app
                .get(&format!("/api/video_file/count_at_time?id={id}&t={t}"))
                .await
                .json();
            assert_eq!(at["frame_index"], first + k, "t={t}: {at}");
        }
    }
    app.get("/api/videos/0000000000000000/frames").await.error(404);
}

#[tokio::test]
async fn an_upload_is_checked_as_the_decoder_opens_videos_and_listed() {
    let app = TestApp::new(&[("pen.mp4", pen())]);
    let folder = app.dir.path().join("videos");
    let leftovers = || {
        std::fs::read_dir(&folder)
            .unwrap()
            .filter(|e| {
                !e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".mp4")
            })
            .count()
    };
    let clip = serde_json::to_vec(&pigweight_decode::fake::FakeVideo::constant(
        32,
        24,
        10,
        30,
        10,
        vec![(0, 4)],
    ))
    .unwrap();
    let added = app
        .call(
            Method::POST,
            "/api/videos?name=barn/clip.mp4",
            "video/mp4",
            clip.clone(),
        )
        .await;
    assert_eq!(
        added.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&added.body)
    );
    let id = TestApp::id("barn/clip.mp4");
    assert_eq!(added.json()["id"], id.as_str());
    assert_eq!(std::fs::read(folder.join("barn/clip.mp4")).unwrap(), clip);
    let detail = app.get(&format!("/api/videos/{id}")).await.json();
    assert_eq!(
        (&detail["frame_count"], &detail["duration"]),
        (&30.into(), &3.0.into())
    );
    app.indexed(&id).await;
    let at = app
        .get(&format!("/api/video_file/count_at_time?id={id}&t=2"))
        .await
        .json();
    assert_eq!(at["count"], 4);
    // Again under the same name: refused, the first kept.
    app.call(
        Method::POST,
        "/api/videos?name=barn/clip.mp4",
        "video/mp4",
        clip.clone(),
    )
    .await
    .error(409);
    // Not a video: refused, and nothing left behind.
    let junk = app
        .call(
            Method::POST,
            "/api/videos?name=junk.mp4",
            "video/mp4",
            "not a video",
        )
        .await;
    assert!(junk.error(422).contains("not a readable video"), "{junk:?}");
    assert!(!folder.join("junk.mp4").exists());
    // A frame larger than the decoder takes is refused at the door, by the decoder's own limit.
    let huge = serde_json::to_vec(&pigweight_decode::fake::FakeVideo::constant(
        8192,
        8192,
        10,
        3,
        1,
        vec![],
    ))
    .unwrap();
    let refused = app
        .call(Method::POST, "/api/videos?name=huge.mp4", "video/mp4", huge)
        .await;
    assert!(
        refused.error(422).contains("larger than this server decodes"),
        "{refused:?}"
    );
    assert_eq!(leftovers(), 1, "only the barn folder besides the videos");
    let deleted = app.delete(&format!("/api/videos/{id}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(!folder.join("barn/clip.mp4").exists());
    app.get(&format!("/api/videos/{id}")).await.error(404);
}

/// Every count carries its band: the model's own on the frame it ran on (the fake is unsure of
/// frames whose number ends in 3, one fewer, and 7, one more), the index's between samples, the
/// series' per bucket.
#[tokio::test]
async fn counts_carry_their_band_from_the_model_through_the_index() {
    let app = TestApp::new(&[("pen.mp4", pen())]);
    let id = TestApp::id("pen.mp4");
    for (t, frame, band) in [(1.72, 43, (2, 3)), (1.88, 47, (3, 4)), (1.8, 45, (3, 3))] {
        let found = app
            .get(&format!("/api/videos/{id}/detections?t={t}"))
            .await
            .json();
        assert_eq!(found["frame_index"], frame, "{found}");
        assert_eq!(found["count"], 3, "{found}");
        assert_eq!(
            (
                found["count_low"].as_u64().unwrap(),
                found["count_high"].as_u64().unwrap()
            ),
            band,
            "{found}"
        );
    }
    app.indexed(&id).await;
    let series = app.get(&format!("/api/videos/{id}/counts?points=8")).await.json();
    let buckets = series["buckets"].as_array().unwrap();
    assert!(!buckets.is_empty());
    let mut widened = 0;
    for b in buckets {
        let (low, high) = (
            b["count_low"].as_u64().unwrap(),
            b["count_high"].as_u64().unwrap(),
        );
        assert!(
            low <= b["min"].as_u64().unwrap() && high >= b["max"].as_u64().unwrap(),
            "{b}"
        );
        widened += u32::from(low < b["min"].as_u64().unwrap() || high > b["max"].as_u64().unwrap());
    }
    assert!(widened > 0, "some sample was unsure: {series}");
    // Every moment's band holds its count.
    for k in 0..100 {
        let t = f64::from(k) / 25.0;
        let at = app
            .get(&format!("/api/video_file/count_at_time?id={id}&t={t}"))
            .await
            .json();
        let (low, count, high) = (&at["count_low"], &at["count"], &at["count_high"]);
        assert!(
            low.as_u64() <= count.as_u64() && count.as_u64() <= high.as_u64(),
            "t={t}: {at}"
        );
    }
}

/// With a model that has a larger input for videos of small animals, the indexer and the frames
/// a user asks about run the video's frames at the input chosen for it: by the index, kept with
/// it, or where nothing has indexed the video yet, by the API the same way, once per video.
/// Where the animals are not small, nothing goes in at another input.
#[tokio::test]
async fn frames_go_in_at_the_input_chosen_for_their_video() {
    use std::sync::atomic::Ordering;
    // The fake's animals are 0.09 of a 64x48 frame's width: 0.12 of its short side.
    for (below, small) in [(0.2, true), (0.1, false)] {
        let rule = SmallObjectInput { size: 960, below };
        for indexing in [true, false] {
            let app =
                TestApp::with_small_objects(ApiConfig::default(), rule, indexing, &[("pen.mp4", pen())]);
            let id = TestApp::id("pen.mp4");
            if indexing {
                app.indexed(&id).await;
                // The index's choice is on the wire: the larger input, or the fake's own 640.
                let video = app.get(&format!("/api/videos/{id}")).await.json();
                let chosen = if small { 960 } else { 640 };
                assert_eq!(video["index"]["input_size"], chosen, "below {below}: {video}");
            }
            let indexed = app.own_inputs.load(Ordering::Relaxed);
            assert_eq!(
                indexed > 0,
                small && indexing,
                "below {below}: {indexed} frames indexed at 960"
            );
            for t in [1.7, 2.5, 3.1] {
                let found = app.get(&format!("/api/videos/{id}/detections?t={t}")).await;
                assert_eq!(found.status, 200, "{}", String::from_utf8_lossy(&found.body));
            }
            let asked = app.own_inputs.load(Ordering::Relaxed) - indexed;
            assert_eq!(asked, if small { 3 } else { 0 }, "below {below}");
            // The API chose only where the index had not: once, then from its cache.
            let (misses, hits) = if indexing { (0, 0) } else { (1, 2) };
            let stats = app.get("/api/stats").await.json();
            let inputs = &stats["input_sizes"];
            assert_eq!(
                (&inputs["misses"], &inputs["hits"]),
                (&misses.into(), &hits.into()),
                "indexing {indexing}: {stats}"
            );
        }
    }
}
