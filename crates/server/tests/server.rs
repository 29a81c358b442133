//! The server on a real port, with a synthetic video.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Server, get, synth_video};

#[test]
fn health_and_video_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let videos = dir.path().join("videos");
    std::fs::create_dir_all(videos.join("pen4")).unwrap();
    synth_video(&videos.join("pen4/morning.mp4"), 4, 11);
    std::fs::write(videos.join("notes.txt"), "not a video").unwrap();
    let truth = pigweight_synth::GroundTruth::load(&videos.join("pen4/morning.truth.json")).unwrap();

    let server = Server::start(&["--videos", videos.to_str().unwrap()]);
    assert_eq!(get(&server.url("/healthz")), (200, "ok".to_owned()));

    let (status, body) = get(&server.url("/api/videos"));
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{body}");
    assert_eq!(list[0]["name"], "pen4/morning.mp4");
    let id = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 16);

    let (status, body) = get(&server.url(&format!("/api/videos/{id}")));
    assert_eq!(status, 200, "{body}");
    let video: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(video["frame_count"], truth.frames.len() as u64);
    assert_eq!(video["width"], 320);
    assert_eq!(video["height"], 240);
    assert!(video["codec"].as_str().unwrap().contains("H.264"), "{body}");
    assert!((video["duration"].as_f64().unwrap() - 4.0).abs() < 1e-6, "{body}");

    // The library is indexed in the background with the sample model, to the end.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let index = loop {
        let (_, body) = get(&server.url(&format!("/api/videos/{id}")));
        let video: serde_json::Value = serde_json::from_str(&body).unwrap();
        if video["index"]["state"] == "done" {
            break video["index"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(index["percent"], 100.0);
    assert!(index["samples"].as_u64().unwrap() >= 4, "{index}");
    assert!(index.get("path").is_none(), "server paths stay private: {index}");

    let (status, body) = get(&server.url("/api/videos/0123456789abcdef"));
    assert_eq!(status, 404);
    let err: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(err["error"].as_str().unwrap().contains("0123456789abcdef"));
    drop(server);

    // Ids survive a restart.
    let server = Server::start(&["--videos", videos.to_str().unwrap()]);
    let (_, body) = get(&server.url("/api/videos"));
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
}

#[test]
fn a_broken_video_is_a_clear_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.mp4"), vec![7u8; 10_000]).unwrap();
    let server = Server::start(&["--videos", dir.path().to_str().unwrap()]);
    let (_, body) = get(&server.url("/api/videos"));
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = list[0]["id"].as_str().unwrap();
    let (status, body) = get(&server.url(&format!("/api/videos/{id}")));
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("not a media file"), "{body}");
    assert_eq!(get(&server.url("/healthz")).0, 200);
}

#[test]
fn a_video_copied_in_while_serving_is_listed_and_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&["--videos", dir.path().to_str().unwrap()]);
    let (_, body) = get(&server.url("/api/videos"));
    assert_eq!(body, "[]");
    // Made elsewhere, then copied in slowly, as over a network share: listed while it is
    // still being written (size 0), indexed once it has stopped changing.
    let elsewhere = tempfile::tempdir().unwrap();
    synth_video(&elsewhere.path().join("late.mp4"), 3, 12);
    let bytes = std::fs::read(elsewhere.path().join("late.mp4")).unwrap();
    let mut copy = std::fs::File::create(dir.path().join("late.mp4")).unwrap();
    let listed_during_copy = bytes.chunks(bytes.len().div_ceil(12)).any(|chunk| {
        use std::io::Write as _;
        copy.write_all(chunk).unwrap();
        copy.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(250));
        let (_, body) = get(&server.url("/api/videos"));
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        list[0]["name"] == "late.mp4" && list[0]["size"] == 0
    });
    // Write the rest (`any` stops at the first listing).
    {
        use std::io::{Seek as _, Write as _};
        copy.seek(std::io::SeekFrom::Start(0)).unwrap();
        copy.write_all(&bytes).unwrap();
    }
    drop(copy);
    assert!(listed_during_copy, "not listed while it was copied in");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, body) = get(&server.url("/api/videos"));
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        if let Some(id) = list.as_array().unwrap().first().and_then(|v| v["id"].as_str()) {
            let (_, body) = get(&server.url(&format!("/api/videos/{id}")));
            let video: serde_json::Value = serde_json::from_str(&body).unwrap();
            if video["index"]["state"] == "done" {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `curl` over HTTPS to `url` (the test's own certificate): "VERSION STATUS" and the body.
fn curl_https(url: &str, cert: &std::path::Path, version: &str) -> (String, String) {
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "--cacert",
            cert.to_str().unwrap(),
            version,
            "-w",
            "\n%{http_version} %{http_code}",
        ])
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.to_owned(), body.to_owned())
}

#[test]
fn with_a_certificate_it_serves_https_over_http2_and_http1() {
    let dir = tempfile::tempdir().unwrap();
    let videos = dir.path().join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args([
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let server = Server::start(&[
        "--videos",
        videos.to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let url = format!("{}/healthz", server.base.replacen("http://", "https://", 1));
    assert_eq!(
        curl_https(&url, &cert, "--http2"),
        ("2 200".to_owned(), "ok".to_owned())
    );
    assert_eq!(
        curl_https(&url, &cert, "--http1.1"),
        ("1.1 200".to_owned(), "ok".to_owned())
    );
    // Plain HTTP on the TLS port is refused; the server goes on.
    assert!(common::agent().get(&server.url("/healthz")).call().is_err());
    assert_eq!(curl_https(&url, &cert, "--http2").0, "2 200");

    // A key that is not the certificate's: a clear error at start.
    let other = dir.path().join("other.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-out",
        ])
        .arg(&other)
        .output()
        .unwrap();
    assert!(made.status.success());
    let out = std::process::Command::new(common::bin())
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--videos",
            videos.to_str().unwrap(),
        ])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&other)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("do not go together"), "{err}");
}
