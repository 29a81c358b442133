//! HLS on the real server: H.264 in MP4 and in Matroska (repackaged), an H.265 MP4 and an
//! MPEG-4 AVI (transcoded by x264) as master and media playlists cut at their keyframes, and segments that
//! hold exactly their frames with the source's timestamps; the compat path answers a playlist or
//! the file by the request; the cache serves a segment again without making it; bad names are
//! 404s. The player on them, in chromium, is `hls_player` below.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Server, get, request, synth_video_sized, wait_for_secs};
use serde_json::Value;

/// Runs a pipeline to its end (`gst-launch-1.0`).
fn gst_launch(line: &str) {
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(line.split(' '))
        .status()
        .unwrap();
    assert!(status.success(), "{line}");
}

/// Encodes `from` again with a GStreamer encoder and muxer.
fn reencode(from: &Path, to: &Path, encode: &str) {
    gst_launch(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! {encode} ! filesink location={}",
        from.display(),
        to.display()
    ));
}

/// The PTS of every video PES packet of an MPEG-TS, in seconds, in stream order; and whether
/// it opens with PAT and PMT.
fn ts_pts(ts: &[u8]) -> (Vec<f64>, bool) {
    assert_eq!(ts.len() % 188, 0, "whole TS packets");
    let mut pts = Vec::new();
    let pid = |p: &[u8]| (usize::from(p[1] & 0x1f) << 8) | usize::from(p[2]);
    let tables_first = ts.len() >= 376 && pid(&ts[..188]) == 0 && pid(&ts[188..376]) != 0;
    for p in ts.chunks(188) {
        assert_eq!(p[0], 0x47, "sync byte");
        let start = p[1] & 0x40 != 0;
        let adaptation = (p[3] >> 4) & 3;
        if adaptation == 2 {
            continue;
        }
        let off = if adaptation == 3 { 5 + usize::from(p[4]) } else { 4 };
        let pes = &p[off..];
        if start && pes.len() > 14 && pes[..3] == [0, 0, 1] && pes[3] >= 0xe0 && pes[7] & 0x80 != 0 {
            let b = &pes[9..14];
            let v = (u64::from(b[0] >> 1) & 7) << 30
                | u64::from(b[1]) << 22
                | u64::from(b[2] >> 1) << 15
                | u64::from(b[3]) << 7
                | u64::from(b[4] >> 1);
            pts.push(v as f64 / 90_000.0);
        }
    }
    (pts, tables_first)
}

fn json(server: &Server, path: &str) -> Value {
    let (status, body) = get(&server.url(path));
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Segment durations of a media playlist.
fn extinf(playlist: &str) -> Vec<f64> {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|l| l.trim_end_matches(',').parse().unwrap())
        .collect()
}

/// Four videos (8 s, 640x480, a keyframe a second): H.264 in MP4 and in Matroska, H.265 in
/// MP4, MPEG-4 Part 2 in AVI; and a server over them; their ids by name.
fn server_with_four_videos(dir: &Path) -> (Server, Vec<(String, String)>) {
    let videos = dir.join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    let h264 = videos.join("h264.mp4");
    synth_video_sized(&h264, (640, 480), 8, 21);
    reencode(
        &h264,
        &videos.join("h265.mp4"),
        "x265enc speed-preset=ultrafast key-int-max=25 ! h265parse ! mp4mux",
    );
    // The same H.264 stream in Matroska, as NVRs and OBS record it: repackaged as the MP4's is.
    // Its demuxer reads the index at the file's end before it seeks.
    gst_launch(&format!(
        "filesrc location={} ! qtdemux ! h264parse ! matroskamux ! filesink location={}",
        h264.display(),
        videos.join("h264.mkv").display()
    ));
    // MPEG-4 Part 2 in AVI, as older NVRs write it.
    gst_launch(&format!(
        "videotestsrc num-buffers=200 pattern=ball ! video/x-raw,width=640,height=480,framerate=25/1 ! \
         avenc_mpeg4 gop-size=25 bitrate=1500000 ! avimux ! filesink location={}",
        videos.join("mpeg4.avi").display()
    ));
    let server = Server::start(&["--videos", videos.to_str().unwrap()]);
    let mut ids: Vec<(String, String)> = Vec::new();
    // Listed once settled (files just written are listed at once, as being written).
    wait_for_secs("four videos listed", 20, || {
        let list = json(&server, "/api/videos");
        if !list.as_array().unwrap().iter().all(|v| v["index"].is_object()) {
            return false;
        }
        ids = list
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().unwrap().to_owned(),
                    v["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        ids.len() == 4
    });
    ids.sort();
    (server, ids)
}

#[test]
fn every_codec_plays_as_hls_with_the_sources_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let (server, ids) = server_with_four_videos(dir.path());
    for (name, id) in &ids {
        let detail = json(&server, &format!("/api/videos/{id}"));
        let expected_type = match name.as_str() {
            "h264.mp4" => Some("video/mp4; codecs=\"avc1.640028\""),
            "h265.mp4" => Some("video/mp4; codecs=\"hvc1.1.6.L93.B0\""),
            _ => None,
        };
        assert_eq!(detail["browser_type"].as_str(), expected_type, "{name}");
        let master_url = detail["hls"].as_str().unwrap().to_owned();
        let master = request("GET", &server.url(&master_url), &[]);
        assert_eq!(master.status, 200);
        assert_eq!(
            common::header(&master, "content-type"),
            "application/vnd.apple.mpegurl"
        );
        let master = String::from_utf8(master.body).unwrap();
        assert!(
            master.contains("RESOLUTION=640x480,NAME=\"source\"\nsource/index.m3u8"),
            "{name}: {master}"
        );
        assert!(
            master.contains("RESOLUTION=480x360,NAME=\"360p\"\n360p/index.m3u8"),
            "{name}: {master}"
        );

        // Segments of 4 s at the keyframes (one a second), the last one what is left.
        let (frames, duration) = (
            detail["frame_count"].as_u64().unwrap() as usize,
            detail["duration"].as_f64().unwrap(),
        );
        let base = master_url.trim_end_matches("master.m3u8");
        let (status, media) = get(&server.url(&format!("{base}source/index.m3u8")));
        assert_eq!(status, 200);
        let lengths = extinf(&media);
        assert_eq!(lengths.len(), 2, "{name}: {media}");
        assert_eq!(lengths[0], 4.0, "{name}: {media}");
        assert!((lengths[1] - (duration - 4.0)).abs() < 1e-3, "{name}: {media}");
        assert!(media.ends_with("#EXT-X-ENDLIST\n"));

        // Each segment holds its frames (25 a second), stamped as in the file: the second starts
        // 4 s after the first, and each stands alone (PAT and PMT first).
        let mut firsts = Vec::new();
        for (n, rendition) in [(0, "source"), (1, "source"), (1, "360p")] {
            let segment = request("GET", &server.url(&format!("{base}{rendition}/{n}.ts")), &[]);
            assert_eq!(segment.status, 200, "{name} {rendition} {n}");
            assert_eq!(common::header(&segment, "content-type"), "video/mp2t");
            let (pts, tables_first) = ts_pts(&segment.body);
            assert!(tables_first, "{name} {rendition} {n}");
            let expected = if n == 0 { 100 } else { frames - 100 };
            assert_eq!(pts.len(), expected, "{name} {rendition} {n}: frames");
            let first = pts.iter().copied().fold(f64::INFINITY, f64::min);
            let last = pts.iter().copied().fold(0.0, f64::max);
            let span = (expected - 1) as f64 / 25.0;
            assert!(
                (last - first - span).abs() < 0.002,
                "{name} {rendition} {n}: {first}..{last}"
            );
            firsts.push(first);
        }
        assert!((firsts[1] - firsts[0] - 4.0).abs() < 0.002, "{name}: {firsts:?}");
        assert!(
            (firsts[2] - firsts[1]).abs() < 0.002,
            "{name}: renditions agree: {firsts:?}"
        );
    }

    // Served again from the cache: hits, and the next segments were made ahead.
    let before = json(&server, "/api/stats")["hls"].clone();
    let (_, id) = &ids[1];
    let again = request(
        "GET",
        &server.url(&format!("/api/videos/{id}/hls/source/0.ts")),
        &[],
    );
    assert_eq!(again.status, 200);
    let after = json(&server, "/api/stats")["hls"].clone();
    assert_eq!(
        after["cache"]["hits"].as_u64(),
        before["cache"]["hits"].as_u64().map(|h| h + 1),
        "{before} -> {after}"
    );
    assert_eq!(after["cache"]["misses"], before["cache"]["misses"]);
    assert!(after["made"].as_u64().unwrap() >= 9, "{after}");
    assert_eq!(after["failed"], 0);
    assert!(after["realtime_factor"].as_f64().unwrap() > 0.0, "{after}");

    // The compat path: a playlist for a client that asks for one, the file for the others.
    let compat = format!("/api/video_file/stream_hls/{id}");
    let hls = [("Accept", "application/x-mpegURL, */*")];
    let playlist = request("GET", &server.url(&compat), &hls);
    assert!(String::from_utf8_lossy(&playlist.body).starts_with("#EXTM3U"));
    let ranged = request("GET", &server.url(&compat), &[hls[0], ("Range", "bytes=0-99")]);
    assert_eq!((ranged.status, ranged.body.len()), (206, 100));
    let plain = request("GET", &server.url(&compat), &[]);
    assert_eq!(common::header(&plain, "content-type"), "video/mp4");

    // Names that are not there.
    for (path, says) in [
        (
            format!("/api/videos/{id}/hls/999p/index.m3u8"),
            "no rendition 999p",
        ),
        (format!("/api/videos/{id}/hls/source/2.ts"), "no segment 2"),
        (format!("/api/videos/{id}/hls/source/x.ts"), "segments are N.ts"),
        ("/api/videos/0000000000000000/hls/master.m3u8".into(), "no video"),
    ] {
        let (status, body) = get(&server.url(&path));
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body.contains(says), "{path}: {body}");
    }
}

/// The player in chromium (tests/js/hls.mjs) on the four files: the H.264 MP4 as the file
/// itself, the others through hls.js; each plays, seeks and shows the count of the paused frame
/// as the API gives it for that very frame; HLS starts on the 360p rendition and the quality
/// menu switches to the source one.
#[test]
fn the_player_plays_every_codec_in_chromium() {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        js.join("node_modules/playwright-core").exists(),
        "tests/js is not installed: run scripts/fixtures.sh (make test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let (server, ids) = server_with_four_videos(dir.path());
    let out = Command::new("node")
        .arg("hls.mjs")
        .arg(&server.base)
        .args(ids.iter().map(|(_, id)| id))
        .current_dir(&js)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hls.mjs failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["pageErrors"], serde_json::json!([]), "{seen}");
    for (name, id) in &ids {
        let video = &seen["videos"][id];
        let expected = if name == "h264.mp4" { "file" } else { "hls" };
        assert_eq!(video["playback"], expected, "{name}: {video}");
        // The file at its size; HLS starts on the lowest rendition, and may have moved up.
        let sizes = if expected == "file" {
            vec![serde_json::json!([640, 480])]
        } else {
            vec![serde_json::json!([480, 360]), serde_json::json!([640, 480])]
        };
        assert!(sizes.contains(&video["size"]), "{name}: {video}");
        let mut views = vec![
            &video["opened"],
            &video["afterPlay"],
            &video["seeked"]["before"],
            &video["seeked"]["after"],
        ];
        if expected == "hls" {
            views.push(&video["quality"]["after"]);
        }
        for view in views {
            // The count shown is the API's count of the frame shown.
            let t = view["frameTime"].as_f64().unwrap();
            let api = json(
                &server,
                &format!("/api/video_file/count_at_time?id={id}&t={:.6}", t + 0.001),
            );
            assert_eq!(api["frame_index"], view["frame"], "{name}: {view} vs {api}");
            assert_eq!(
                view["count"].as_str().unwrap(),
                api["count"].to_string(),
                "{name}: {view} vs {api}"
            );
            assert_eq!(view["message"], "", "{name}: {view}");
        }
        assert!(
            video["afterPlay"]["frameTime"].as_f64().unwrap() > 1.4,
            "{name}: {video}"
        );
        // +1 s twice from where playing stopped, then one frame on.
        let (before, after) = (&video["seeked"]["before"], &video["seeked"]["after"]);
        let moved = before["frameTime"].as_f64().unwrap() - video["afterPlay"]["frameTime"].as_f64().unwrap();
        assert!((moved - 2.0).abs() < 0.05, "{name}: {video}");
        assert_eq!(
            after["frame"].as_u64(),
            before["frame"].as_u64().map(|f| f + 1),
            "{name}: {video}"
        );
        if expected == "hls" {
            let quality = &video["quality"];
            let mut levels: Vec<&str> = quality["levels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap())
                .collect();
            let chosen = levels[quality["level"].as_u64().unwrap() as usize];
            assert_eq!(chosen, "source", "{name}: {quality}");
            assert_eq!(
                quality["size"],
                serde_json::json!([640, 480]),
                "{name}: {quality}"
            );
            levels.sort_unstable();
            assert_eq!(levels, ["360p", "source"], "{name}: {quality}");
        }
        eprintln!(
            "{name}: {expected}, first frame after {} ms",
            video["firstFrameMs"]
        );
    }
    // Each player reported how it went: its first picture, its path, the switch to 360p.
    let stats = json(&server, "/api/stats");
    assert_eq!(stats["hls"]["failed"], 0, "{stats}");
    let playback = &stats["playback"];
    assert_eq!(playback["total"]["sessions"], 4, "{playback}");
    assert_eq!(playback["total"]["hls_sessions"], 3, "{playback}");
    for (name, id) in &ids {
        let video = playback["videos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{name}: {playback}"));
        assert_eq!(video["sessions"], 1, "{name}: {video}");
        let first = video["mean_first_frame_ms"].as_f64().unwrap();
        assert!(first > 0.0 && first < 30_000.0, "{name}: {video}");
        let hls = name != "h264.mp4";
        assert_eq!(video["hls_sessions"], u64::from(hls), "{name}: {video}");
        assert_eq!(video["switches"].as_u64().unwrap() >= 1, hls, "{name}: {video}");
    }
    let metrics = get(&server.url("/metrics")).1;
    assert!(
        metrics.contains("pigweight_playback_sessions_total 4"),
        "{metrics}"
    );
}
