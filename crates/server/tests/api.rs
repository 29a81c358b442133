//! The API on a real port with the sample model and a synthetic video: every endpoint, its
//! errors, ranges against the file's bytes, conditional requests, and the count WebSocket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Reply, Server, get, header, request, send, synth_video, wait_for};
use serde_json::Value;

fn json(server: &Server, path: &str) -> Value {
    let (status, body) = get(&server.url(path));
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Starts a server on a 4 s video and waits until its index is complete.
fn indexed_server(dir: &std::path::Path, extra: &[&str]) -> (Server, String) {
    common::indexed_server(dir, 4, extra)
}

#[test]
fn every_endpoint_of_an_indexed_video() {
    let dir = tempfile::tempdir().unwrap();
    let (server, id) = indexed_server(dir.path(), &[]);
    let file = std::fs::read(dir.path().join("videos/pen.mp4")).unwrap();
    let truth = pigweight_synth::GroundTruth::load(&dir.path().join("videos/pen.truth.json")).unwrap();

    // Index status, alone and in the video.
    let status = json(&server, &format!("/api/videos/{id}/index"));
    assert_eq!(status["state"], "done");
    assert_eq!(status["percent"], 100.0);
    let video = json(&server, &format!("/api/videos/{id}"));
    assert_eq!(video["frame_count"], 100);
    assert_eq!(video["index"]["state"], "done");

    // count_at_time: the index answers; the model on the same exact frame agrees where the
    // index has a sample there.
    for k in 0..20u32 {
        let t = f64::from(k) / 5.0;
        let c = json(&server, &format!("/api/video_file/count_at_time?id={id}&t={t}"));
        let frame = c["frame_index"].as_u64().unwrap();
        assert_eq!(frame, (t * 25.0).round() as u64, "{c}");
        assert_eq!(c["t"], t);
        assert_eq!(c["cached"], true, "a complete index answers: {c}");
        let source = c["source"].as_str().unwrap();
        assert!(["indexed", "interpolated", "held"].contains(&source), "{c}");
        if source == "indexed" {
            assert_eq!(c["nearest_sample_distance"], 0.0);
            let d = json(&server, &format!("/api/videos/{id}/detections?t={t}"));
            assert_eq!(d["count"], c["count"], "{d} vs {c}");
            assert_eq!(
                d["detections"].as_array().unwrap().len() as u64,
                d["count"].as_u64().unwrap()
            );
            assert_eq!(d["detections"][0]["class_name"], "pig", "{d}");
        }
        // The sample model is weaker on this small 320x240 video than on the 720p it is scored
        // on (tests/model.rs); here the counts only have to be about the pen's.
        let truth = i64::from(truth.frames[frame as usize].count);
        assert!(
            (c["count"].as_i64().unwrap() - truth).abs() <= 2,
            "{c} vs truth {truth}"
        );
    }

    // Bad parameters are JSON errors with the right status.
    for (query, status) in [
        (format!("id={id}&t=NaN"), 422),
        (format!("id={id}&t=-1"), 422),
        (format!("id={id}&t=4.5"), 422),
        (format!("id={id}&t=abc"), 400),
        (format!("id={id}"), 400),
        ("id=0123456789abcdef&t=1".to_owned(), 404),
    ] {
        let (got, body) = get(&server.url(&format!("/api/video_file/count_at_time?{query}")));
        assert_eq!(got, status, "{query}: {body}");
        let err: Value = serde_json::from_str(&body).unwrap();
        assert!(!err["error"].as_str().unwrap().is_empty(), "{body}");
    }
    let (_, body) = get(&server.url(&format!("/api/video_file/count_at_time?id={id}&t=4.5")));
    assert!(body.contains("past the end"), "{body}");

    // The frame, with boxes and count.
    let url = server.url(&format!(
        "/api/video_file/frame_optimized?id={id}&t=1.5&quality=80"
    ));
    let first = request("GET", &url, &[]);
    assert_eq!(first.status, 200);
    assert_eq!(header(&first, "content-type"), "image/jpeg");
    assert_eq!(header(&first, "x-frame-index"), "37");
    assert_eq!(header(&first, "x-frame-time"), "1.480000");
    assert_eq!(header(&first, "x-has-inference"), "true");
    assert_eq!(header(&first, "x-cache"), "miss");
    assert!(header(&first, "cache-control").contains("immutable"));
    let detections = json(&server, &format!("/api/videos/{id}/detections?t=1.5"));
    assert_eq!(header(&first, "x-count"), detections["count"].to_string());
    let picture = image::load_from_memory(&first.body).unwrap();
    assert_eq!((picture.width(), picture.height()), (320, 240));
    // Quality 85 snaps to the same level (90): the same bytes, from the cache.
    let again = request("GET", &url.replace("quality=80", "quality=85"), &[]);
    assert_eq!(header(&again, "x-cache"), "hit");
    assert_eq!(again.body, first.body);
    let etag = header(&first, "etag").to_owned();
    let not_modified = request("GET", &url, &[("If-None-Match", &etag)]);
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    // Scaled, and a lossless PNG without boxes that is exactly the decoded frame.
    let small = request("GET", &format!("{url}&width=160&inference=false"), &[]);
    let small = image::load_from_memory(&small.body).unwrap();
    assert_eq!((small.width(), small.height()), (160, 120));
    let png = request("GET", &format!("{url}&format=png&inference=false"), &[]);
    assert_eq!(header(&png, "content-type"), "image/png");
    assert_eq!(header(&png, "x-has-inference"), "false");
    let exact = dir.path().join("f37.png");
    common::run(&[
        "frame",
        dir.path().join("videos/pen.mp4").to_str().unwrap(),
        "--index",
        "37",
        "-o",
        exact.to_str().unwrap(),
    ]);
    assert_eq!(
        image::load_from_memory(&png.body).unwrap().to_rgb8().into_raw(),
        image::open(&exact).unwrap().to_rgb8().into_raw(),
        "the PNG is the exact frame"
    );
    // The fast mode gives the keyframe before (GOP 25: frame 25).
    let fast = request("GET", &format!("{url}&mode=fast&inference=false"), &[]);
    assert_eq!(header(&fast, "x-frame-index"), "25");
    for bad in ["&width=8", "&quality=0", "&format=gif", "&mode=slow"] {
        let r = request("GET", &format!("{url}{bad}"), &[]);
        assert!(matches!(r.status, 400 | 422), "{bad}: {}", r.status);
    }

    // The count series, changes, thumbnails and sprites.
    let series = json(&server, &format!("/api/videos/{id}/counts?points=4"));
    assert_eq!(series["buckets"].as_array().unwrap().len(), 4, "{series}");
    assert_eq!(series["complete"], true);
    let b0 = &series["buckets"][0];
    assert!(b0["min"].as_u64() <= b0["max"].as_u64(), "{series}");
    assert_eq!(
        get(&server.url(&format!("/api/videos/{id}/counts?from=3&to=2"))).0,
        422
    );
    assert_eq!(
        get(&server.url(&format!("/api/videos/{id}/counts?points=0"))).0,
        422
    );
    let change = json(&server, &format!("/api/videos/{id}/changes?t=0"));
    if let Some(c) = change["change"].as_object() {
        let t = c["time"].as_f64().unwrap();
        let before = json(
            &server,
            &format!("/api/video_file/count_at_time?id={id}&t={}", t - 0.04),
        );
        let after = json(&server, &format!("/api/video_file/count_at_time?id={id}&t={t}"));
        assert_eq!(before["count"], c["from"], "{change}");
        assert_eq!(after["count"], c["to"], "{change}");
        let back = json(&server, &format!("/api/videos/{id}/changes?t={t}&dir=previous"));
        assert!(back["change"].is_null() || back["change"]["time"].as_f64().unwrap() < t);
    }
    let thumb = request(
        "GET",
        &server.url(&format!("/api/videos/{id}/thumbnail?t=2")),
        &[],
    );
    assert_eq!(thumb.status, 200);
    assert_eq!(image::load_from_memory(&thumb.body).unwrap().height(), 160);
    let (status, vtt) = get(&server.url(&format!("/api/videos/{id}/thumbnails.vtt")));
    assert_eq!(status, 200);
    assert!(vtt.starts_with("WEBVTT"), "{vtt}");
    assert!(
        vtt.contains(&format!("/api/videos/{id}/sprites/0#xywh=")),
        "{vtt}"
    );
    let sprite = request("GET", &server.url(&format!("/api/videos/{id}/sprites/0")), &[]);
    assert!(image::load_from_memory(&sprite.body).is_ok());
    assert_eq!(get(&server.url(&format!("/api/videos/{id}/sprites/9"))).0, 404);

    // Eight clients asking at once for a frame nobody asked for yet: one decode, one model run,
    // one encoding; everyone gets the same bytes.
    let before = json(&server, "/api/stats");
    let fresh = server.url(&format!(
        "/api/video_file/frame_optimized?id={id}&t=2.5&quality=50&inference=true"
    ));
    let bodies: Vec<Vec<u8>> = std::thread::scope(|s| {
        let asks: Vec<_> = (0..8).map(|_| s.spawn(|| request("GET", &fresh, &[]))).collect();
        asks.into_iter()
            .map(|a| {
                let r = a.join().unwrap();
                assert_eq!(r.status, 200);
                r.body
            })
            .collect()
    });
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    let after = json(&server, "/api/stats");
    let grew = |path: &[&str]| {
        let at = |v: &Value| path.iter().fold(v.clone(), |v, k| v[k].clone()).as_u64().unwrap();
        at(&after) - at(&before)
    };
    assert_eq!(grew(&["inference", "count"]), 1, "{after}");
    assert_eq!(grew(&["frame_images", "misses"]), 1, "{after}");
    assert_eq!(grew(&["frame_images", "hits"]), 7, "{after}");

    // Stats and metrics saw all this.
    let stats = json(&server, "/api/stats");
    assert!(stats["frame_images"]["hits"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["requests"].as_u64().unwrap() > 40, "{stats}");
    let (status, metrics) = get(&server.url("/metrics"));
    assert_eq!(status, 200);
    assert!(
        metrics.contains("pigweight_frame_image_cache_hits_total"),
        "{metrics}"
    );
    assert_eq!(get(&server.url("/readyz")), (200, "ready".to_owned()));

    // The file, by ranges.
    stream_checks(&server, &id, &file);
}

fn stream_checks(server: &Server, id: &str, file: &[u8]) {
    let len = file.len();
    for path in [
        format!("/api/videos/{id}/stream"),
        format!("/api/video_file/stream_hls/{id}"),
    ] {
        let url = server.url(&path);
        let whole = request("GET", &url, &[]);
        assert_eq!(whole.status, 200);
        assert_eq!(whole.body, file);
        assert_eq!(header(&whole, "content-type"), "video/mp4");
        assert_eq!(header(&whole, "accept-ranges"), "bytes");
        let etag = header(&whole, "etag").to_owned();
        let modified = header(&whole, "last-modified").to_owned();
        for (range, from, to) in [
            ("bytes=0-99".to_owned(), 0, 99),
            ("bytes=-100".to_owned(), len - 100, len - 1),
            (format!("bytes={}-", len - 10), len - 10, len - 1),
            (format!("bytes=100-{}", len + 500), 100, len - 1),
        ] {
            let part = request("GET", &url, &[("Range", &range)]);
            assert_eq!(part.status, 206, "{range}");
            assert_eq!(header(&part, "content-range"), format!("bytes {from}-{to}/{len}"));
            assert_eq!(header(&part, "content-length"), (to - from + 1).to_string());
            assert_eq!(part.body, &file[from..=to], "{range}");
        }
        let past = request("GET", &url, &[("Range", &format!("bytes={len}-"))]);
        assert_eq!(past.status, 416);
        assert_eq!(header(&past, "content-range"), format!("bytes */{len}"));
        assert_eq!(
            request("GET", &url, &[("Range", "bytes=zz")]).status,
            200,
            "a bad header is ignored"
        );
        assert_eq!(request("GET", &url, &[("If-None-Match", &etag)]).status, 304);
        assert_eq!(
            request("GET", &url, &[("If-Modified-Since", &modified)]).status,
            304
        );
        assert_eq!(
            request("GET", &url, &[("If-None-Match", "\"other\"")]).status,
            200
        );
        let fresh = request("GET", &url, &[("Range", "bytes=0-9"), ("If-Range", &etag)]);
        assert_eq!(fresh.status, 206);
        let stale = request("GET", &url, &[("Range", "bytes=0-9"), ("If-Range", "\"old\"")]);
        assert_eq!(stale.status, 200);
        assert_eq!(stale.body.len(), len);
        let head = request("HEAD", &url, &[]);
        assert_eq!(head.status, 200);
        assert_eq!(header(&head, "content-length"), len.to_string());
    }
    assert_eq!(get(&server.url("/api/videos/0123456789abcdef/stream")).0, 404);
}

#[test]
fn the_count_websocket_follows_the_player() {
    let dir = tempfile::tempdir().unwrap();
    let (server, id) = indexed_server(dir.path(), &[]);
    let ws_url = format!("{}/ws/count?id={id}", server.base.replace("http://", "ws://"));
    let (mut socket, _) = tungstenite::connect(&ws_url).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = socket.get_ref() {
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let next_update = |socket: &mut tungstenite::WebSocket<_>| -> Value {
        loop {
            let m = socket.read().unwrap();
            if let tungstenite::Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] != "index_progress" {
                    return v;
                }
            }
        }
    };
    // On connecting, the count at the start; read it first, or it may race the first seek's.
    let initial = next_update(&mut socket);
    assert_eq!(
        (&initial["type"], &initial["t"]),
        (&"count_update".into(), &0.0.into()),
        "{initial}"
    );
    for t in [0.5, 3.2, 1.0, 2.04] {
        socket
            .send(tungstenite::Message::Text(
                format!(r#"{{"type":"seek","t":{t}}}"#).into(),
            ))
            .unwrap();
        let update = next_update(&mut socket);
        assert_eq!(update["type"], "count_update", "{update}");
        assert_eq!(update["t"], t);
        let http = json(&server, &format!("/api/video_file/count_at_time?id={id}&t={t}"));
        assert_eq!(update["count"], http["count"], "{update} vs {http}");
        assert_eq!(update["frame_index"], http["frame_index"]);
    }
    socket
        .send(tungstenite::Message::Text(r#"{"type":"seek","t":99}"#.into()))
        .unwrap();
    let err = next_update(&mut socket);
    assert_eq!(err["type"], "error", "{err}");
    // Play at 4x from the start: updates arrive as the count changes, in order, up to the end.
    socket
        .send(tungstenite::Message::Text(
            r#"{"type":"play","t":0,"rate":4}"#.into(),
        ))
        .unwrap();
    let started = Instant::now();
    let mut times = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        let u = next_update(&mut socket);
        let t = u["t"].as_f64().unwrap();
        let http = json(&server, &format!("/api/video_file/count_at_time?id={id}&t={t}"));
        assert_eq!(u["count"], http["count"], "{u}");
        times.push(t);
        if t >= 4.0 {
            break;
        }
    }
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(times.last().copied(), Some(4.0), "{times:?}");
    socket.close(None).unwrap();
}

/// The `.part` files of uploads in progress in `folder`.
fn partial_uploads(folder: &std::path::Path) -> usize {
    std::fs::read_dir(folder)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".part")
        })
        .count()
}

#[test]
fn videos_are_uploaded_registered_and_deleted() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let videos = dir.path().join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    let source = dir.path().join("pen.mp4");
    synth_video(&source, 4, 11);
    let bytes = std::fs::read(&source).unwrap();
    let config = dir.path().join("pigweight.toml");
    std::fs::write(&config, "[api]\nmax_upload_mb = 1\nmax_concurrent_uploads = 1\n").unwrap();
    assert!(bytes.len() < 1 << 20, "the test video must fit the 1 MiB limit");
    let server = Server::start(&[
        "--videos",
        videos.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let post = |query: &str, content_type: &str, body: &[u8]| {
        send(
            "POST",
            &server.url(&format!("/api/videos{query}")),
            &[("Content-Type", content_type)],
            Some(body),
        )
    };
    let error = |r: &Reply| -> String {
        serde_json::from_slice::<Value>(&r.body).unwrap()["error"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    // An upload lands under its name, byte for byte, listed and queued for indexing.
    let up = post("?name=pen2/up.mp4", "video/mp4", &bytes);
    assert_eq!(up.status, 201, "{}", String::from_utf8_lossy(&up.body));
    let added: Value = serde_json::from_slice(&up.body).unwrap();
    let id = added["id"].as_str().unwrap().to_owned();
    assert_eq!(added["name"], "pen2/up.mp4");
    assert_eq!(header(&up, "location"), format!("/api/videos/{id}"));
    assert!(
        ["queued", "indexing"].contains(&added["index"]["state"].as_str().unwrap()),
        "{added}"
    );
    assert_eq!(std::fs::read(videos.join("pen2/up.mp4")).unwrap(), bytes);
    assert_eq!(json(&server, &format!("/api/videos/{id}"))["frame_count"], 100);
    assert_eq!(partial_uploads(&videos), 0);

    // Refused uploads leave nothing behind.
    let again = post("?name=pen2/up.mp4", "video/mp4", &bytes);
    assert_eq!(again.status, 409, "a file is never replaced");
    let garbage = post("?name=bad.mp4", "application/octet-stream", b"not a video at all");
    assert_eq!(garbage.status, 422);
    assert!(
        error(&garbage).contains("not a readable video"),
        "{}",
        error(&garbage)
    );
    assert!(!videos.join("bad.mp4").exists());
    for name in ["../escape.mp4", "/tmp/abs.mp4", "pen2/.hidden.mp4", "notes.txt"] {
        let r = post(&format!("?name={name}"), "video/mp4", &bytes);
        assert_eq!(r.status, 422, "{name}: {}", error(&r));
    }
    assert!(!dir.path().join("escape.mp4").exists());
    assert_eq!(
        post("", "video/mp4", &bytes).status,
        400,
        "an upload needs a name"
    );
    // Over the limit: refused on its declared length before a byte is sent (the client asked
    // for 100-continue), or once the bytes streamed in pass the limit.
    let address = server.base.trim_start_matches("http://").to_owned();
    let upload_head = |name: &str, framing: &str| {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        write!(
            stream,
            "POST /api/videos?name={name} HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n{framing}\r\n"
        )
        .unwrap();
        stream
    };
    let status_line = |stream: std::net::TcpStream| {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stream), &mut line).unwrap();
        line
    };
    let declared = upload_head("big.mp4", "Content-Length: 1048577\r\nExpect: 100-continue\r\n");
    assert!(status_line(declared).starts_with("HTTP/1.1 413"));
    let mut streamed = upload_head("big.mp4", "Transfer-Encoding: chunked\r\n");
    for _ in 0..17 {
        write!(streamed, "10000\r\n").unwrap();
        streamed.write_all(&[0u8; 0x10000]).unwrap();
        write!(streamed, "\r\n").unwrap();
    }
    assert!(status_line(streamed).starts_with("HTTP/1.1 413"));
    assert!(!videos.join("big.mp4").exists());
    assert_eq!(partial_uploads(&videos), 0);

    // One upload at a time here: a second is told to come back; a client that vanishes
    // mid-upload leaves no partial file and frees its place.
    let mut slow = upload_head("slow.mp4", "Transfer-Encoding: chunked\r\n");
    write!(slow, "1000\r\n").unwrap();
    slow.write_all(&bytes[..0x1000]).unwrap();
    slow.write_all(b"\r\n").unwrap();
    slow.flush().unwrap();
    wait_for("the slow upload's partial file", || partial_uploads(&videos) == 1);
    let busy = post("?name=other.mp4", "video/mp4", &bytes);
    assert_eq!(busy.status, 503);
    assert_eq!(header(&busy, "retry-after"), "1");
    drop(slow);
    wait_for("the partial file to go", || partial_uploads(&videos) == 0);
    assert!(!videos.join("slow.mp4").exists());
    assert_eq!(post("?name=other.mp4", "video/mp4", &bytes).status, 201);

    // Registering a file already in the folder lists it at once; links and strangers are refused.
    std::fs::create_dir_all(videos.join("pen3")).unwrap();
    std::fs::copy(&source, videos.join("pen3/reg.mp4")).unwrap();
    let reg = post("", "application/json", br#"{"path": "pen3/reg.mp4"}"#);
    assert_eq!(reg.status, 201, "{}", String::from_utf8_lossy(&reg.body));
    let reg_id = serde_json::from_slice::<Value>(&reg.body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(reg_id, pigweight_api::video_id("pen3/reg.mp4"));
    assert_eq!(
        post("", "application/json", br#"{"path": "pen3/reg.mp4"}"#).status,
        200
    );
    std::os::unix::fs::symlink(&source, videos.join("leak.mp4")).unwrap();
    for (body, status) in [
        (&br#"{"path": "leak.mp4"}"#[..], 422),
        (br#"{"path": "/etc/passwd.mp4"}"#, 422),
        (br#"{"path": "../pen.mp4"}"#, 422),
        (br#"{"path": "pen3/none.mp4"}"#, 404),
        (br#"{"path": 3}"#, 400),
        (br#"{"file": "pen3/reg.mp4"}"#, 400),
    ] {
        let r = post("", "application/json", body);
        assert_eq!(
            r.status,
            status,
            "{}: {}",
            String::from_utf8_lossy(body),
            error(&r)
        );
    }

    // Deleting removes the file and the id.
    let deleted = request("DELETE", &server.url(&format!("/api/videos/{id}")), &[]);
    assert_eq!(deleted.status, 204);
    assert!(!videos.join("pen2/up.mp4").exists());
    assert_eq!(get(&server.url(&format!("/api/videos/{id}"))).0, 404);
    assert_eq!(
        request("DELETE", &server.url(&format!("/api/videos/{id}")), &[]).status,
        404
    );
    let names: Vec<Value> = json(&server, "/api/videos")
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].clone())
        .collect();
    assert_eq!(names, ["other.mp4", "pen3/reg.mp4"]);
}

/// Runs a command to success, or fails the test with its output.
fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_client_generated_from_the_document_calls_the_server() {
    use std::process::Command;
    // Types generated by openapi-typescript from the committed document, tsc checking the
    // client's code against them, then openapi-fetch calls from Node (tests/js/client.mjs).
    let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let tool = |name: &str| js.join("node_modules/.bin").join(name);
    assert!(
        tool("tsc").exists(),
        "tests/js is not installed: run scripts/fixtures.sh (make test does)"
    );
    run_ok(
        Command::new(tool("openapi-typescript"))
            .args(["../../../../openapi/openapi.json", "-o", "generated/schema.d.ts"])
            .current_dir(&js),
    );
    run_ok(Command::new(tool("tsc")).args(["-p", "."]).current_dir(&js));

    let dir = tempfile::tempdir().unwrap();
    let (server, id) = indexed_server(dir.path(), &["--api-key", "k3y"]);
    let frame_out = dir.path().join("frame.jpg");
    let printed = run_ok(
        Command::new("node")
            .arg("client.mjs")
            .args([server.base.as_str(), "k3y"])
            .arg(&frame_out)
            .current_dir(&js),
    );
    let got: Value = serde_json::from_str(&printed).unwrap();
    let key = [("X-API-Key", "k3y")];
    let ours = |path: &str| request("GET", &server.url(path), &key);

    assert_eq!(
        got["videos"],
        serde_json::json!([{"id": id, "name": "pen.mp4", "state": "done"}])
    );
    let count: Value =
        serde_json::from_slice(&ours(&format!("/api/video_file/count_at_time?id={id}&t=1.5")).body).unwrap();
    assert_eq!(got["count"]["count"], count["count"]);
    assert_eq!(got["count"]["source"], count["source"]);
    assert_eq!(
        got["count"]["frame_index"], 37,
        "the frame on screen at 1.5 s of 25 fps"
    );
    let frame = ours(&format!(
        "/api/video_file/frame_optimized?id={id}&t=1.5&quality=70&inference=true"
    ));
    assert_eq!(got["frame"]["status"], 200);
    assert_eq!(got["frame"]["content_type"], "image/jpeg");
    assert_eq!(got["frame"]["frame_index"], "37");
    assert_eq!(got["frame"]["count"], count["count"].to_string());
    assert_eq!(
        std::fs::read(&frame_out).unwrap(),
        frame.body,
        "the same JPEG bytes"
    );
    assert_eq!(got["missing"]["status"], 404);
    assert_eq!(got["missing"]["error"], "no video with id 0000000000000000");
}

#[test]
fn api_keys_guard_the_api() {
    // What a key admits is tested in-process (crates/api/tests/handlers.rs); here, that the
    // flag reaches the server, and that serving beyond loopback without one is refused.
    let dir = tempfile::tempdir().unwrap();
    let videos = dir.path().join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    let server = Server::start(&["--videos", videos.to_str().unwrap(), "--api-key", "s3cret"]);
    assert_eq!(get(&server.url("/api/videos")).0, 401);
    assert_eq!(
        request("GET", &server.url("/api/videos"), &[("X-API-Key", "s3cret")]).status,
        200
    );

    // Not on loopback and no key: refused at start.
    let out = std::process::Command::new(common::bin())
        .args([
            "serve",
            "--bind",
            "0.0.0.0:0",
            "--videos",
            videos.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--api-key"));
}

#[test]
fn the_served_openapi_document_is_the_committed_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&["--videos", dir.path().to_str().unwrap()]);
    let (status, served) = get(&server.url("/openapi.json"));
    assert_eq!(status, 200);
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json")).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&served).unwrap(),
        serde_json::from_str::<Value>(&committed).unwrap(),
        "openapi/openapi.json is stale: run `make openapi`"
    );
    let doc: Value = serde_json::from_str(&served).unwrap();

    // /docs: Swagger UI over the document, everything it loads served from here (no CDN).
    let (status, page) = get(&server.url("/docs"));
    assert_eq!(status, 200);
    assert!(page.contains("url: '/openapi.json'"), "{page}");
    let assets: Vec<&str> = page
        .split(['"', '\''])
        .filter(|s| s.starts_with('/') && (s.ends_with(".js") || s.ends_with(".css")))
        .collect();
    assert_eq!(assets.len(), 2, "{assets:?}");
    for asset in assets {
        let r = request("GET", &server.url(asset), &[]);
        assert_eq!(r.status, 200, "{asset}");
        assert!(r.body.len() > 100_000, "{asset}: {} bytes", r.body.len());
    }
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing from elsewhere"
    );

    for op in [
        "countAtTime",
        "getFrame",
        "listVideos",
        "addVideo",
        "deleteVideo",
        "streamVideo",
        "getCounts",
    ] {
        assert!(
            served.contains(&format!("\"operationId\": \"{op}\"")),
            "{op} missing"
        );
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    // Every reference leads somewhere (generators refuse dangling ones).
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 20);
    for r in refs {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(&r);
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref {r}"
        );
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
