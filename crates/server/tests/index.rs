//! `pigweight index` killed with SIGKILL part-way, twice, then run again: the index it ends with
//! has exactly the rows of an uninterrupted run, none lost and none twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use common::{run, spawn_logging};
use pigweight_indexer::{Source, Store};

/// Starts `pigweight index`, with the indexer's debug log, and kills it as soon as a log line
/// contains `marker`.
fn kill_when(args: &[&str], marker: &str) {
    let mut child = spawn_logging(args, "info,pigweight_indexer=debug");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(120);
    for line in stderr.lines() {
        if line.unwrap().contains(marker) {
            break;
        }
        assert!(Instant::now() < deadline, "no {marker:?} in the log");
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "it finished before it could be killed");
}

#[test]
fn an_index_killed_twice_ends_exactly_like_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("pen.mp4");
    let v = video.to_str().unwrap();
    run(&[
        "synth",
        "video",
        v,
        "--width",
        "640",
        "--height",
        "360",
        "--duration",
        "30",
        "--seed",
        "9602",
    ]);
    let straight_db = dir.path().join("straight.db");
    let straight: serde_json::Value = serde_json::from_str(&run(&[
        "index",
        v,
        "--db",
        straight_db.to_str().unwrap(),
        "--format",
        "json",
    ]))
    .unwrap();

    let db = dir.path().join("killed.db");
    let d = db.to_str().unwrap();
    // Once the regular pass has stored its first window (half a second for the whole pass
    // here), and at once into the refinement pass, which takes a tenth of a second with the
    // sample model here.
    kill_when(&["index", v, "--db", d], "bisected a window of the regular pass");
    // Index 1: the one index of this database, which holds one video.
    let regular = Store::open(&db)
        .unwrap()
        .samples(1)
        .unwrap()
        .iter()
        .filter(|s| s.source == Source::Regular)
        .count();
    assert!(regular > 0, "the first run left no regular samples committed");
    kill_when(&["index", v, "--db", d], "pass=Refine");
    let resumed: serde_json::Value =
        serde_json::from_str(&run(&["index", v, "--db", d, "--format", "json"])).unwrap();

    let rows = |v: &serde_json::Value| -> Vec<(u64, u64, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["frame"].as_u64().unwrap(),
                    s["count"].as_u64().unwrap(),
                    s["source"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let (a, b) = (rows(&straight), rows(&resumed));
    assert!(a.len() > 30 + 15, "{} samples", a.len());
    assert_eq!(a, b);

    // CSV: a header and one line per sample.
    let csv = run(&["index", v, "--db", d]);
    assert_eq!(
        csv.lines().next(),
        Some("time,frame,count,source,count_low,count_high")
    );
    assert_eq!(csv.lines().count(), a.len() + 1);
    // Every line's band holds its count.
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let [count, low, high] = [f[2], f[4], f[5]].map(|v| v.parse::<u32>().unwrap());
        assert!(low <= count && count <= high, "{line}");
    }
}

/// `--videos` given relative to the working folder: the library and the indexer still name each
/// video alike, so its index shows through the API (it stayed "queued" before).
#[test]
fn a_video_folder_given_relative_shows_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = std::env::current_dir().unwrap();
    let up: std::path::PathBuf = cwd.components().skip(1).map(|_| "..").collect();
    let relative = up.join(dir.path().strip_prefix("/").unwrap());
    assert!(relative.is_relative() && relative.exists());
    let (server, id) = common::indexed_server(&relative, 2, &[]);
    let index = common::get(&server.url(&format!("/api/videos/{id}/index")));
    assert_eq!(index.0, 200);
    assert!(index.1.contains("\"state\":\"done\""), "{}", index.1);
}
