//! Cluster mode on a throwaway PostgreSQL 15: API instances that index nothing
//! (`serve --indexing off`) and `pigweight worker`s sharing leased jobs, each process mapping
//! the same named storage root at a different mount point. A worker killed mid-job and a
//! PostgreSQL restart lose nothing: the final indexes equal single-box SQLite runs sample for
//! sample, and both instances answer alike.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use common::{Server, get, run, spawn, synth_video_sized, wait_for_secs};
use pigweight_indexer::testing::Postgres;

/// Starts `pigweight worker` with `args`; its log goes to the test's output.
fn worker(name: &'static str, args: &[&str]) -> Child {
    let mut child = spawn(["worker"].iter().copied().chain(args.iter().copied()));
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[{name}] {line}");
        }
    });
    child
}

fn list(s: &Server) -> serde_json::Value {
    let (status, body) = get(&s.url("/api/videos"));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn states(s: &Server) -> Vec<String> {
    list(s)
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["index"]["state"].as_str().unwrap_or("none").to_owned())
        .collect()
}

fn link(target: &Path, at: &Path) {
    std::os::unix::fs::symlink(target, at).unwrap();
}

#[test]
fn workers_share_leased_jobs_survive_a_kill_and_a_database_restart_and_every_instance_answers_alike() {
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    std::fs::create_dir_all(share.join("pen")).unwrap();
    let clips = ["pen/a.mp4", "pen/b.mp4", "c.mp4"];
    for (i, clip) in clips.iter().enumerate() {
        synth_video_sized(&share.join(clip), (640, 360), 10, 9900 + i as u64);
    }
    // What one box makes of each, on SQLite.
    let sqlite = dir.path().join("single.db");
    let single: Vec<String> = clips
        .iter()
        .map(|c| {
            let v = share.join(c);
            run(&[
                "index",
                v.to_str().unwrap(),
                "--db",
                sqlite.to_str().unwrap(),
                "--format",
                "json",
            ])
        })
        .collect();

    // Every process mounts the share somewhere else.
    let mounts: Vec<_> = ["api-a", "api-b", "worker-1", "worker-2"]
        .iter()
        .map(|m| {
            let at = dir.path().join(m);
            link(&share, &at);
            format!("barn1={}", at.display())
        })
        .collect();
    let config = dir.path().join("cluster.toml");
    // A short lease, so the killed worker's job is taken over within seconds.
    std::fs::write(&config, "[indexer]\nlease_s = 3.0\nactive_videos = 1\n").unwrap();
    let postgres = Postgres::start();
    let url = postgres.url();
    let config = config.to_str().unwrap();
    let api = |mount: &str| {
        Server::start(&[
            "--indexing",
            "off",
            "--videos",
            mount,
            "--database",
            &url,
            "--config",
            config,
        ])
    };
    let a = api(&mounts[0]);
    let b = api(&mounts[1]);
    // One id per video, whatever the mount point.
    let ids = |s: &Server| -> Vec<(String, String)> {
        let mut ids: Vec<_> = list(s)
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
        ids.sort();
        ids
    };
    assert_eq!(ids(&a).len(), 3);
    assert_eq!(ids(&a), ids(&b));
    // Nobody indexes yet: the videos wait.
    std::thread::sleep(Duration::from_secs(2));
    assert!(states(&a).iter().all(|s| s == "queued"), "{:?}", states(&a));

    let worker_args = |mount: &str, data: &Path| -> Vec<String> {
        [
            "--videos",
            mount,
            "--database",
            &url,
            "--config",
            config,
            "--data",
            data.to_str().unwrap(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    let data1 = tempfile::tempdir().unwrap();
    let data2 = tempfile::tempdir().unwrap();
    let args1 = worker_args(&mounts[2], data1.path());
    let args2 = worker_args(&mounts[3], data2.path());
    let mut w1 = worker("worker-1", &args1.iter().map(String::as_str).collect::<Vec<_>>());
    let mut w2 = worker("worker-2", &args2.iter().map(String::as_str).collect::<Vec<_>>());

    // Both instances follow the workers' progress as it is committed.
    wait_for_secs("indexing seen by both instances", 60, || {
        [&a, &b].iter().all(|s| {
            list(s)
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["index"]["samples"].as_u64() > Some(0))
        })
    });
    // Killed mid-job: its lease runs out and the other worker redoes what it had not committed.
    w1.kill().unwrap();
    w1.wait().unwrap();
    // The database goes away for a moment; every process carries on by itself.
    postgres.restart();
    let started = Instant::now();
    wait_for_secs("every index done on both instances", 240, || {
        states(&a).iter().all(|s| s == "done") && states(&b).iter().all(|s| s == "done")
    });
    eprintln!("done {:.1} s after the kill", started.elapsed().as_secs_f64());
    w2.kill().unwrap();
    w2.wait().unwrap();

    for (name, id) in ids(&a) {
        let counts = |s: &Server| get(&s.url(&format!("/api/videos/{id}/counts?points=400"))).1;
        assert_eq!(counts(&a), counts(&b), "{name}");
        for t in ["0", "3.3", "9.9"] {
            let at = |s: &Server| get(&s.url(&format!("/api/video_file/count_at_time?id={id}&t={t}"))).1;
            assert_eq!(at(&a), at(&b), "{name} at {t}");
        }
    }
    // Sample for sample what one box made: read back from PostgreSQL, nothing indexed again.
    for (clip, expected) in clips.iter().zip(&single) {
        let v = share.join(clip);
        let shared = run(&[
            "index",
            v.to_str().unwrap(),
            "--database",
            &url,
            "--format",
            "json",
        ]);
        assert_eq!(&shared, expected, "{clip}");
    }
}
