//! What a hostile client tries, on the real server: the count WebSocket's replies, refused
//! uploads sent whole, schemathesis, files cut short, a crash mid-index and the memory budget.
//! (Extreme numbers, error statuses and the file's conditional requests are tested in-process,
//! in crates/api/tests.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Server, get, header, request, send, synth_video};
use serde_json::Value;

/// Streams library video `id` live; returns the stream's id.
fn add_stream(server: &Server, id: &str) -> String {
    let added = send(
        "POST",
        &server.url("/api/streams"),
        &[("Content-Type", "application/json")],
        Some(format!(r#"{{"video":"{id}"}}"#).as_bytes()),
    );
    assert_eq!(added.status, 201, "{}", String::from_utf8_lossy(&added.body));
    let stream: Value = serde_json::from_slice(&added.body).unwrap();
    stream["id"].as_str().unwrap().to_owned()
}

#[test]
fn the_count_websocket_answers_every_bad_message_and_still_sends_the_first_count() {
    let dir = tempfile::tempdir().unwrap();
    // Indexed: the first count then comes from the index at once, racing the replies.
    let (server, id) = common::indexed_server(dir.path(), 3, &[]);
    let url = format!("{}/ws/count?id={id}", server.base.replace("http://", "ws://"));
    const BURST: usize = 50;
    for attempt in 0..8 {
        let (mut socket, _) = tungstenite::connect(&url).unwrap();
        if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = socket.get_ref() {
            tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        }
        // Sent in a burst before anything is read: every one gets its reply, and the first
        // count still comes (the newest-only slot is for count updates alone).
        let bad = [r#"{"type":"jump"}"#, "not json", r#"{"type":"seek","t":1e300}"#];
        for k in 0..BURST {
            socket
                .send(tungstenite::Message::Text(bad[k % bad.len()].into()))
                .unwrap();
        }
        let (mut errors, mut counts) = (0, 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        while (errors < BURST || counts < 1) && Instant::now() < deadline {
            // A read that times out ends the wait: what is missing then never came.
            let Ok(message) = socket.read() else { break };
            if let tungstenite::Message::Text(t) = message {
                let m: Value = serde_json::from_str(&t).unwrap();
                match m["type"].as_str() {
                    Some("error") => errors += 1,
                    Some("count_update") => {
                        assert_eq!(m["t"], 0.0, "attempt {attempt}: {m}");
                        counts += 1;
                    }
                    _ => {}
                }
            }
        }
        assert_eq!((errors, counts), (BURST, 1), "attempt {attempt}");
        socket.close(None).unwrap();
    }
}

/// Sends a whole request as a simple client does (all of the body, then read the answer, like
/// Python's `http.client`), and returns the status line; `None` when sending or reading broke.
fn send_all_then_read(base: &str, head: &str, body_len: usize) -> Option<String> {
    use std::io::{BufRead as _, Write as _};
    let addr = base.trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    tcp.write_all(format!("{head}Host: {addr}\r\nContent-Length: {body_len}\r\n\r\n").as_bytes())
        .ok()?;
    let chunk = vec![7u8; 1 << 16];
    let mut left = body_len;
    while left > 0 {
        let n = left.min(chunk.len());
        tcp.write_all(&chunk[..n]).ok()?;
        left -= n;
    }
    let mut status = String::new();
    std::io::BufReader::new(tcp).read_line(&mut status).ok()?;
    Some(status.trim().to_owned())
}

#[test]
fn a_refused_upload_is_answered_to_a_client_that_sends_it_all_first() {
    let dir = tempfile::tempdir().unwrap();
    let videos = dir.path().join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    synth_video(&videos.join("pen.mp4"), 1, 3);
    let config = dir.path().join("pigweight.toml");
    std::fs::write(&config, "[api]\nmax_upload_mb = 4\n").unwrap();
    let server = Server::start(&[
        "--videos",
        videos.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let mb = 1 << 20;
    for (head, len, status) in [
        // Exists already: refused before a byte is read.
        (
            "POST /api/videos?name=pen.mp4 HTTP/1.1\r\nContent-Type: video/mp4\r\n",
            3 * mb,
            "409",
        ),
        // Declared larger than the limit.
        (
            "POST /api/videos?name=big.mp4 HTTP/1.1\r\nContent-Type: video/mp4\r\n",
            12 * mb,
            "413",
        ),
        // Not a video: read whole, then refused.
        (
            "POST /api/videos?name=junk.mp4 HTTP/1.1\r\nContent-Type: video/mp4\r\n",
            2 * mb,
            "422",
        ),
        // A JSON body over the body limit.
        (
            "POST /api/videos HTTP/1.1\r\nContent-Type: application/json\r\n",
            3 * mb,
            "413",
        ),
    ] {
        let line = send_all_then_read(&server.base, head, len)
            .unwrap_or_else(|| panic!("{head:?}: the connection broke before the answer was read"));
        assert!(
            line.starts_with("HTTP/1.1 ") && line.contains(status),
            "{head:?}: {line}"
        );
    }
    assert!(!videos.join("big.mp4").exists() && !videos.join("junk.mp4").exists());
}

#[test]
fn schemathesis_finds_nothing_against_our_own_document() {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/schemathesis");
    assert!(
        venv.exists(),
        "schemathesis is not installed: run scripts/fixtures.sh (make test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let (server, id) = common::indexed_server(dir.path(), 4, &[]);
    let stream_id = add_stream(&server, &id);
    // Real ids, so the generated requests reach each handler's logic and not only its 404;
    // deletes get an id that names nothing, or the run would delete what it tests.
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            r#"[parameters]
"path.id" = "{id}"
"query.id" = "{id}"

[[operations]]
include-path-regex = "^/(api|ws)/streams/"
parameters = {{ "path.id" = "{stream}" }}

[[operations]]
include-method = "DELETE"
parameters = {{ "path.id" = "0000000000000000" }}
"#,
            stream = stream_id
        ),
    )
    .unwrap();
    let out = std::process::Command::new(&venv)
        .arg("--config-file")
        .arg(&config)
        .args([
            "--no-color",
            "run",
            &server.url("/openapi.json"),
            "--checks",
            "not_a_server_error,status_code_conformance,response_schema_conformance",
            "--max-time",
            "60",
            "--seed",
            "1",
            // An MJPEG stream never ends; tests/streams.rs and the extremes test above cover it.
            "--exclude-path",
            "/api/streams/{id}/mjpeg",
        ])
        // WHEP offers (application/sdp) go out as text (tests/support/schemathesis_hooks.py).
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .env(
            "PYTHONPATH",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support"),
        )
        // Its caches go into the temporary folder, not the checkout.
        .current_dir(dir.path())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{printed}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains(" passed"), "{printed}");
    assert_eq!(get(&server.url("/healthz")).0, 200);
}

/// The list of videos, by name.
fn listed(server: &Server) -> std::collections::HashMap<String, Value> {
    let list: Value = serde_json::from_str(&get(&server.url("/api/videos")).1).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

#[test]
fn the_list_shows_durations_and_a_file_cut_short_without_being_asked() {
    let dir = tempfile::tempdir().unwrap();
    let videos = dir.path().join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    synth_video(&videos.join("whole.mp4"), 4, 21);
    // The first 30% of an mp4 whose index (moov) is at the front: the index promises 10 s.
    let elsewhere = tempfile::tempdir().unwrap();
    synth_video(&elsewhere.path().join("full.mp4"), 10, 22);
    let full = std::fs::read(elsewhere.path().join("full.mp4")).unwrap();
    std::fs::write(videos.join("cut.mp4"), &full[..full.len() * 3 / 10]).unwrap();
    let server = Server::start(&["--videos", videos.to_str().unwrap()]);
    let mut list = listed(&server);
    common::wait_for("both videos to be indexed", || {
        list = listed(&server);
        list.len() == 2 && list.values().all(|v| v["index"]["state"] == "done")
    });
    // Only the list was ever asked for: it says what the indexer learnt.
    assert_eq!(list["whole.mp4"]["duration"], 4.0, "{list:?}");
    assert_eq!(list["whole.mp4"]["truncated_from"], Value::Null);
    let cut = &list["cut.mp4"];
    assert_eq!(cut["truncated_from"], 10.0, "{cut}");
    let readable = cut["duration"].as_f64().unwrap();
    assert!(readable > 0.5 && readable < 5.0, "{cut}");
    assert!(
        cut["index"]["samples"].as_u64().unwrap() > 0,
        "the readable part is indexed: {cut}"
    );
    // The video's own page says the same.
    let id = cut["id"].as_str().unwrap();
    let detail: Value = serde_json::from_str(&get(&server.url(&format!("/api/videos/{id}"))).1).unwrap();
    assert_eq!(detail["truncated_from"], 10.0);
    assert_eq!(detail["duration"], cut["duration"]);
}

#[test]
fn after_a_crash_a_part_indexed_video_answers_from_its_stored_samples_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let videos = dir.path().join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    for (name, seed) in [("a.mp4", 31), ("b.mp4", 32)] {
        common::run(&[
            "synth",
            "video",
            videos.join(name).to_str().unwrap(),
            "--width",
            "640",
            "--height",
            "360",
            "--duration",
            "30",
            "--seed",
            &seed.to_string(),
        ]);
    }
    let settings = |active: usize| {
        let path = dir.path().join(format!("active{active}.toml"));
        std::fs::write(
            &path,
            format!("[indexer]\ninterval = 0.1\nactive_videos = {active}\n"),
        )
        .unwrap();
        path
    };
    let (two, one) = (settings(2), settings(1));
    let args = |config: &std::path::Path| {
        vec![
            "--videos".to_owned(),
            videos.to_str().unwrap().to_owned(),
            "--config".to_owned(),
            config.to_str().unwrap().to_owned(),
        ]
    };
    let first_args = args(&two);
    let server = Server::start(&first_args.iter().map(String::as_str).collect::<Vec<_>>());
    // Both part-indexed, then killed.
    let mut before = listed(&server);
    common::wait_for("both videos to be part-indexed", || {
        before = listed(&server);
        before.len() == 2
            && before
                .values()
                .all(|v| v["index"]["samples"].as_u64().unwrap_or(0) > 0)
    });
    assert!(
        before.values().all(|v| v["index"]["state"] != "done"),
        "indexed before it could be killed: {before:?}"
    );
    // One video at a time now: one resumes, the other waits its turn in the queue.
    let second_args = args(&one);
    let server = server.restart(&second_args.iter().map(String::as_str).collect::<Vec<_>>());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = listed(&server);
        if let Some(waiting) = now
            .values()
            .find(|v| v["index"]["state"] == "queued" && v["index"]["samples"].as_u64() > Some(0))
        {
            let name = waiting["name"].as_str().unwrap();
            let stored = before[name]["index"]["samples"].as_u64().unwrap();
            assert!(
                waiting["index"]["samples"].as_u64().unwrap() >= stored,
                "{waiting} vs {}",
                before[name]
            );
            assert!(
                waiting["duration"]
                    .as_f64()
                    .is_some_and(|d| (d - 30.0).abs() < 0.1),
                "{waiting}"
            );
            let id = waiting["id"].as_str().unwrap();
            let counts: Value =
                serde_json::from_str(&get(&server.url(&format!("/api/videos/{id}/counts?points=10"))).1)
                    .unwrap();
            assert!(
                !counts["buckets"].as_array().unwrap().is_empty(),
                "the stored samples are served: {counts}"
            );
            let at = get(&server.url(&format!("/api/video_file/count_at_time?id={id}&t=0")));
            assert_eq!(at.0, 200, "{}", at.1);
            break;
        }
        assert!(
            now.values().any(|v| v["index"]["state"] == "queued") && Instant::now() < deadline,
            "no queued video ever showed its stored samples: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Resident memory of process `pid`, in bytes.
fn resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb << 10
}

/// An H.264 mp4 of `frames` test-pattern frames of `width` x `height`, made with GStreamer.
fn pattern_video(path: &std::path::Path, width: u32, height: u32, frames: u32, pattern: u32) {
    let status = std::process::Command::new("gst-launch-1.0")
        .args([
            "-q",
            "videotestsrc",
            &format!("num-buffers={frames}"),
            &format!("pattern={pattern}"),
            "!",
        ])
        .arg(format!(
            "video/x-raw,width={width},height={height},framerate=25/1"
        ))
        .args([
            "!",
            "x264enc",
            "speed-preset=ultrafast",
            "key-int-max=5",
            "!",
            "mp4mux",
            "!",
            "filesink",
        ])
        .arg(format!("location={}", path.display()))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "gst-launch-1.0 could not make {}",
        path.display()
    );
}

#[test]
fn large_videos_stay_inside_the_memory_budget_and_give_it_back_when_idle() {
    const BUDGET_MB: u64 = 768;
    let dir = tempfile::tempdir().unwrap();
    let videos = dir.path().join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    for k in 0..4 {
        pattern_video(&videos.join(format!("uhd{k}.mp4")), 3840, 2160, 10, 11 + k);
    }
    // 67 Mpx a frame: past the largest frame decoded (the default takes 4K).
    pattern_video(&videos.join("huge.mp4"), 8192, 8192, 2, 0);
    let config = dir.path().join("pigweight.toml");
    std::fs::write(
        &config,
        format!(
            "memory_budget_mb = {BUDGET_MB}\n[api]\nimage_cache_mb = 32\n[decoder]\nframe_cache_bytes = 67108864\nidle_close_s = 2.0\n[indexer]\nactive_videos = 1\n"
        ),
    )
    .unwrap();
    let server = Server::start(&[
        "--videos",
        videos.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let pid = server.pid();
    let mut list = listed(&server);
    common::wait_for_secs("every video to be indexed or refused", 120, || {
        list = listed(&server);
        list.len() == 5
            && list
                .values()
                .all(|v| matches!(v["index"]["state"].as_str(), Some("done" | "failed")))
    });
    let huge = &list["huge.mp4"];
    assert_eq!(huge["index"]["state"], "failed", "{huge}");
    let reason = huge["index"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("8192x8192") && reason.contains("larger than"),
        "{reason}"
    );
    let refused = get(&server.url(&format!(
        "/api/video_file/frame_optimized?id={}&t=0",
        huge["id"].as_str().unwrap()
    )));
    assert_eq!(refused.0, 422, "{}", refused.1);
    assert!(refused.1.contains("larger than"), "{}", refused.1);

    let stats = || -> Value { serde_json::from_str(&get(&server.url("/api/stats")).1).unwrap() };
    common::wait_for("the indexer's sources to close", || {
        stats()["working_memory_reserved_bytes"] == 0
    });
    let before = resident(pid);
    // Every 4K video viewed, twice over, while a thread watches the resident memory.
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let watching = std::sync::Arc::clone(&watching);
        std::thread::spawn(move || {
            let mut peak = 0;
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(resident(pid));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    for t in ["0.1", "0.3"] {
        for k in 0..4 {
            let id = list[&format!("uhd{k}.mp4")]["id"].as_str().unwrap();
            let url = server.url(&format!(
                "/api/video_file/frame_optimized?id={id}&t={t}&inference=false"
            ));
            let reply = request("GET", &url, &[]);
            assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
            assert_eq!(header(&reply, "content-type"), "image/jpeg");
        }
    }
    let during = stats();
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = watcher.join().unwrap();
    assert!(
        peak.saturating_sub(before) <= BUDGET_MB << 20,
        "resident memory grew by {} MiB, over the {BUDGET_MB} MiB budget",
        (peak - before) >> 20
    );
    assert!(
        during["working_memory_reserved_bytes"].as_u64().unwrap()
            <= during["working_memory_bytes"].as_u64().unwrap()
    );
    // Idle sources close after 2 s, and what they held is given back: the process keeps what
    // its caches hold by design (two 4K frames of the 64 MiB frame cache, ~50 MiB, and the
    // JPEGs) and at most 64 MiB more, where an open 4K source alone holds 400 MiB or more.
    common::wait_for("idle sources to close", || stats()["sources_open"] == 0);
    let cached = || {
        let s = stats();
        s["decoded_frames"]["bytes"].as_u64().unwrap() + s["frame_images"]["bytes"].as_u64().unwrap()
    };
    let settled = Instant::now() + Duration::from_secs(5);
    let (after, kept) = loop {
        let (now, kept) = (resident(pid), cached());
        if now <= before + kept + (64 << 20) || Instant::now() > settled {
            break (now, kept);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        after <= before + kept + (64 << 20),
        "resident memory {} MiB after the idle time, {} MiB before the videos were viewed, {} MiB of it in the caches (peak {} MiB)",
        after >> 20,
        before >> 20,
        kept >> 20,
        peak >> 20
    );
}
