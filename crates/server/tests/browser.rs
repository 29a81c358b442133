//! The player in a real browser (Debian's chromium driven by playwright-core from
//! tests/js/browser.mjs) against the real server with the sample model and a synthetic video:
//! what the pages show is checked here against the API and the video's ground truth.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{get, indexed_server};
use serde_json::Value;

/// Seconds of the test video (320x240, 25 fps, a keyframe every 25 frames).
const SECONDS: u32 = 8;
const FPS: f64 = 25.0;

#[test]
fn the_player_in_a_real_browser() {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        js.join("node_modules/playwright-core").exists(),
        "tests/js is not installed: run scripts/fixtures.sh (make test does)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "chromium is missing: run make setup"
    );
    let dir = tempfile::tempdir().unwrap();
    let (server, id) = indexed_server(dir.path(), SECONDS, &[]);
    let truth = pigweight_synth::GroundTruth::load(&dir.path().join("videos/pen.truth.json")).unwrap();
    let shots = js.join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    // A file that is not a video, listed like any other.
    std::fs::write(dir.path().join("videos/broken.mp4"), b"not a video at all").unwrap();
    let broken = pigweight_api::video_id("broken.mp4");
    common::wait_for("the broken file to be listed", || {
        get(&server.url(&format!("/api/videos/{broken}"))).0 != 404
    });
    let upload = dir.path().join("upload-test.mp4");
    std::fs::copy(dir.path().join("videos/pen.mp4"), &upload).unwrap();
    let out = Command::new("node")
        .arg("browser.mjs")
        .args([server.base.as_str(), id.as_str()])
        .arg(&shots)
        .arg(&upload)
        .arg(&broken)
        .current_dir(&js)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "browser.mjs failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["pageErrors"], serde_json::json!([]), "{seen}");

    let api_count = |frame_time: f64| -> Value {
        let (status, body) = get(&server.url(&format!(
            "/api/video_file/count_at_time?id={id}&t={:.6}",
            frame_time + 0.001
        )));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    // A view of one frame: the count shown is the API's count for the very frame shown.
    let check_view = |view: &Value, what: &str| -> u64 {
        let frame_time = view["frameTime"].as_f64().unwrap();
        assert_eq!(
            view["countFrameTime"].as_str().unwrap().parse::<f64>().unwrap(),
            frame_time,
            "{what}: the count is of another frame than the picture: {view}"
        );
        let api = api_count(frame_time);
        assert_eq!(api["frame_index"], view["frame"], "{what}: {view} vs {api}");
        assert_eq!(
            view["count"].as_str().unwrap(),
            api["count"].to_string(),
            "{what}: {view} vs {api}"
        );
        assert_eq!(view["source"], api["source"], "{what}: {view} vs {api}");
        view["frame"].as_u64().unwrap()
    };

    // The library lists the video with its duration and state.
    let library = seen["library"]["text"].as_str().unwrap();
    assert!(
        library.contains("pen.mp4") && library.contains("0:08") && library.contains("indexed"),
        "{library}"
    );

    // The upload landed in the video folder, byte for byte.
    let uploaded = seen["uploaded"]["text"].as_str().unwrap();
    assert!(uploaded.contains("upload-test.mp4"), "{uploaded}");
    assert_eq!(
        std::fs::read(dir.path().join("videos/upload-test.mp4")).unwrap(),
        std::fs::read(&upload).unwrap()
    );

    check_view(&seen["opened"], "opened");
    for drag in seen["drags"].as_array().unwrap() {
        let to = drag["to"].as_f64().unwrap();
        // While dragging: keyframes (fast mode), each with its own count.
        let scrub = check_view(&drag["scrub"], "scrubbing");
        assert_eq!(scrub % 25, 0, "a keyframe while dragging: {drag}");
        // Released: the exact frame under the pointer, its count right by the ground truth, and
        // one box per animal counted.
        let exact = check_view(&drag["exact"], "released");
        let wanted = (to * f64::from(SECONDS) * FPS).round() as i64;
        assert!(
            (exact as i64 - wanted).abs() <= 1,
            "released at frame {exact}, wanted ~{wanted}"
        );
        let count: u32 = drag["exact"]["count"].as_str().unwrap().parse().unwrap();
        assert_eq!(count, truth.frames[exact as usize].count, "frame {exact}: {drag}");
        assert_eq!(drag["exact"]["boxes"], count.to_string(), "boxes drawn: {drag}");
    }

    let hover = &seen["hover"];
    assert_eq!(hover["status"], 200, "{hover}");
    assert_eq!(hover["type"], "image/jpeg", "{hover}");
    assert!(
        hover["url"]
            .as_str()
            .unwrap()
            .contains(&format!("/api/videos/{id}/sprites/")),
        "{hover}"
    );
    assert!(hover["width"].as_u64().unwrap() > 0, "{hover}");
    assert!(hover["text"].as_str().unwrap().contains("pigs"), "{hover}");

    let steps = &seen["steps"];
    let before = check_view(&steps["before"], "before stepping");
    assert_eq!(check_view(&steps["next"], "next frame"), before + 1);
    assert_eq!(check_view(&steps["back"], "previous frame"), before);

    // Playing: the picture moves on; each count shown is the index's for a frame at or before
    // the picture (held until the next change, which arrives ahead of its frame).
    let playing = seen["playing"].as_array().unwrap();
    let times: Vec<f64> = playing.iter().map(|v| v["frameTime"].as_f64().unwrap()).collect();
    assert!(
        times.last().unwrap() - times[0] > 0.8,
        "the picture did not move on: {times:?}"
    );
    let counted: Vec<&Value> = playing.iter().filter(|v| v["count"] != "…").collect();
    assert!(
        counted.len() >= playing.len() - 2,
        "counts missing while playing: {playing:?}"
    );
    for view in counted {
        let picture = view["frameTime"].as_f64().unwrap();
        let stamped: f64 = view["countFrameTime"].as_str().unwrap().parse().unwrap();
        assert!(stamped <= picture + 0.0011, "a count from the future: {view}");
        let (_, body) = get(&server.url(&format!(
            "/api/videos/{id}/counts?from={picture:.3}&to={:.3}&points=1",
            picture + 0.04
        )));
        let bucket = &serde_json::from_str::<Value>(&body).unwrap()["buckets"][0];
        let count: u64 = view["count"].as_str().unwrap().parse().unwrap();
        assert!(
            bucket["min"].as_u64().unwrap() <= count && count <= bucket["max"].as_u64().unwrap(),
            "count {count} shown with the picture at {picture} s, the index says {bucket}"
        );
    }
    check_view(&seen["pausedAfterPlay"], "paused after playing");

    assert_eq!(seen["reconnected"], true);
    assert_eq!(seen["phone"]["overflow"], 0, "wider than a phone: {seen}");
    assert_eq!(seen["phone"]["controls"], true);
    let broken_message = seen["broken"].as_str().unwrap();
    assert!(
        broken_message.contains("broken.mp4") || broken_message.contains("not"),
        "{broken_message}"
    );

    for (live, transport) in [(&seen["live"], "webrtc"), (&seen["liveSocket"], "websocket")] {
        assert_eq!(live["transport"], transport, "{live}");
        assert_eq!(live["listed"], 1, "{live}");
        assert_eq!(live["width"], 320, "{live}");
        assert_eq!(
            live["count"].as_str().unwrap(),
            live["lastCount"].to_string(),
            "{live}"
        );
        assert!(live["lastCount"].as_u64().unwrap() >= 1, "{live}");
    }

    let unknown = seen["unknown"].as_str().unwrap();
    assert!(unknown.contains("Video not found"), "{unknown}");

    let mut latencies: Vec<f64> = seen["scrubLatencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        latencies.len() >= 10,
        "scrubbing showed only {} frames",
        latencies.len()
    );
    latencies.sort_by(f64::total_cmp);
    // A figure, not a check (timing belongs to benchmarks: bench/player.sh).
    eprintln!(
        "scrub: {} frames shown, pointer to picture and count median {:.1} ms",
        latencies.len(),
        latencies[latencies.len() / 2]
    );
}
