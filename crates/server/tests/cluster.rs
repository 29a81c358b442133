//! Cluster mode on a throwaway PostgreSQL 15: two API instances that index nothing
//! (`serve --indexing off`) behind nginx, and two `pigweight worker`s sharing leased jobs, each
//! process mapping the same named storage root at a different mount point. A worker killed
//! mid-job, a PostgreSQL restart and an API instance killed under its WebSocket clients lose
//! nothing: the clients follow the progress on either instance and reconnect through nginx to
//! the other, the final indexes equal single-box SQLite runs sample for sample, and both
//! instances answer alike; a video uploaded through one instance is listed and indexed by all.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{Server, get, request, run, send, spawn, synth_video_sized, wait_for_secs};
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

/// nginx from Debian as the load balancer in front of `upstreams` (`127.0.0.1:PORT`), on a free
/// loopback port, everything in its own folder; stopped when dropped.
struct Nginx {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(upstreams: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.path().display();
        let servers: String = upstreams
            .iter()
            .map(|u| format!("server {u} max_fails=1 fail_timeout=60s; "))
            .collect();
        let conf = format!(
            "worker_processes 1;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
user root;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  upstream pigweight {{ {servers} }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://pigweight;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_read_timeout 600s;
      proxy_connect_timeout 2s;
      proxy_next_upstream error timeout http_502;
    }}
  }}
}}
"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (scripts/setup.sh --test installs nginx-light)");
        let address = format!("127.0.0.1:{port}");
        wait_for_secs("nginx listening", 10, || TcpStream::connect(&address).is_ok());
        Self {
            child,
            address,
            _dir: dir,
        }
    }
}

impl Drop for Nginx {
    /// SIGTERM, on which the master stops its worker and exits; SIGKILL (only where that
    /// cannot be sent) would leave the worker running, orphaned.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        if !sent.is_ok_and(|s| s.success()) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A WebSocket client following a video's counts through `url` as the player does: it seeks to
/// 5 s on every connection and whenever `seek` changes, and connects again (through the load
/// balancer, to whichever instance is up) when its connection is lost. Returns every
/// connection's messages.
fn follow(
    url: String,
    seek: Arc<AtomicU32>,
    stop: Arc<AtomicU32>,
) -> std::thread::JoinHandle<Vec<Vec<serde_json::Value>>> {
    std::thread::spawn(move || {
        let mut connections = Vec::new();
        while stop.load(Ordering::Relaxed) == 0 {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut socket = loop {
                match tungstenite::connect(&url) {
                    Ok((socket, _)) => break socket,
                    Err(e) => {
                        assert!(Instant::now() < deadline, "reconnecting to {url}: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            };
            if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = socket.get_mut() {
                tcp.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            }
            let mut messages = Vec::new();
            let mut sought = u32::MAX;
            loop {
                if stop.load(Ordering::Relaxed) != 0 {
                    break;
                }
                let now = seek.load(Ordering::Relaxed);
                if now != sought {
                    sought = now;
                    let asked = r#"{"type":"seek","t":5.0}"#;
                    if socket.send(tungstenite::Message::text(asked)).is_err() {
                        break;
                    }
                }
                match socket.read() {
                    Ok(tungstenite::Message::Text(text)) => {
                        let mut message: serde_json::Value = serde_json::from_str(&text).unwrap();
                        message["seek"] = now.into();
                        messages.push(message);
                    }
                    Ok(tungstenite::Message::Close(_)) => break,
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
            connections.push(messages);
        }
        connections
    })
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
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
    // Uploaded later through one instance.
    let upload = dir.path().join("upload.mp4");
    synth_video_sized(&upload, (640, 360), 10, 9909);
    // What one box makes of each, on SQLite.
    let sqlite = dir.path().join("single.db");
    let single_box = |v: &Path| {
        let (v, db) = (v.to_str().unwrap(), sqlite.to_str().unwrap());
        run(&["index", v, "--db", db, "--format", "json"])
    };
    let single: Vec<String> = clips.iter().map(|c| single_box(&share.join(c))).collect();
    let single_upload = single_box(&upload);

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
    let api_args = |mount: &str| -> Vec<String> {
        [
            "--indexing",
            "off",
            "--videos",
            mount,
            "--database",
            &url,
            "--config",
            config,
        ]
        .map(String::from)
        .to_vec()
    };
    let api = |mount: &str| Server::start(&strs(&api_args(mount)));
    let a = api(&mounts[0]);
    let b = api(&mounts[1]);
    let host = |s: &Server| s.base.trim_start_matches("http://").to_owned();
    let nginx = Nginx::start(&[&host(&a), &host(&b)]);
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
    // An upload through one instance lands on the shared storage and is listed by both.
    let bytes = std::fs::read(&upload).unwrap();
    let reply = send(
        "POST",
        &b.url("/api/videos?name=pen/up.mp4"),
        &[("Content-Type", "video/mp4")],
        Some(&bytes),
    );
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    assert!(share.join("pen/up.mp4").is_file());
    wait_for_secs("the upload listed by the other instance", 20, || {
        ids(&a).len() == 4
    });
    assert_eq!(ids(&a), ids(&b));
    // Four players follow the first video through nginx (round robin: two on each instance).
    let followed = ids(&a)[0].1.clone();
    let (seek, stop) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let url = format!("ws://{}/ws/count?id={followed}", nginx.address);
            let client = follow(url, seek.clone(), stop.clone());
            std::thread::sleep(Duration::from_millis(50));
            client
        })
        .collect();
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
    let mut w1 = worker("worker-1", &strs(&args1));
    let mut w2 = worker("worker-2", &strs(&args2));

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
    // An API instance dies under its players: they connect again, through nginx, to the other.
    // (Started again straight away on another port, out of nginx's sight, for the comparison.)
    let a = a.restart(&strs(&api_args(&mounts[0])));
    wait_for_secs("every index done on both instances", 240, || {
        states(&a).iter().all(|s| s == "done") && states(&b).iter().all(|s| s == "done")
    });
    eprintln!("done {:.1} s after the kill", started.elapsed().as_secs_f64());
    // The instance that never went away showed the workers' commits as they came.
    let metrics = get(&b.url("/metrics")).1;
    let figure = |name: &str| -> f64 {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}: {metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let shown = figure("pigweight_index_follow_shown_total");
    assert!(shown > 0.0, "{metrics}");
    eprintln!(
        "commits shown on the other instance: {shown}, mean {:.0} ms, max {} ms",
        figure("pigweight_index_follow_lag_ms_sum_total") / shown,
        figure("pigweight_index_follow_lag_ms_max")
    );
    w2.kill().unwrap();
    w2.wait().unwrap();

    // The players ask once more, now that the index is done: the answer of the instance that
    // is left, whichever they started on.
    seek.store(1, Ordering::Relaxed);
    let final_at = get(&b.url(&format!("/api/video_file/count_at_time?id={followed}&t=5")));
    let final_at: serde_json::Value = serde_json::from_str(&final_at.1).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(1, Ordering::Relaxed);
    let followed_by: Vec<Vec<Vec<serde_json::Value>>> =
        clients.into_iter().map(|c| c.join().unwrap()).collect();
    let reconnected = followed_by.iter().filter(|c| c.len() > 1).count();
    assert_eq!(
        reconnected, 2,
        "the two players on the killed instance connect again"
    );
    for (i, connections) in followed_by.iter().enumerate() {
        let all: Vec<&serde_json::Value> = connections.iter().flatten().collect();
        assert!(
            all.iter()
                .any(|m| m["type"] == "index_progress" && m["state"] == "indexing"),
            "player {i} saw the indexing progress: {all:?}"
        );
        let last = all
            .iter()
            .rev()
            .find(|m| m["type"] == "count_update" && m["seek"] == 1)
            .unwrap_or_else(|| panic!("player {i}: no count after the last seek: {all:?}"));
        for field in ["count", "count_low", "count_high", "frame_index", "source"] {
            assert_eq!(last[field], final_at[field], "player {i}: {field}");
        }
    }

    for (name, id) in ids(&a) {
        let counts = |s: &Server| get(&s.url(&format!("/api/videos/{id}/counts?points=400"))).1;
        assert_eq!(counts(&a), counts(&b), "{name}");
        for t in ["0", "3.3", "9.9"] {
            let at = |s: &Server| get(&s.url(&format!("/api/video_file/count_at_time?id={id}&t={t}"))).1;
            assert_eq!(at(&a), at(&b), "{name} at {t}");
        }
    }
    // Sample for sample what one box made: read back from PostgreSQL, nothing indexed again.
    let root = format!("barn1={}", share.display());
    let read_back = |v: &Path| {
        let v = v.to_str().unwrap();
        run(&[
            "index",
            v,
            "--database",
            &url,
            "--videos",
            &root,
            "--format",
            "json",
        ])
    };
    for (clip, expected) in clips.iter().zip(&single) {
        assert_eq!(&read_back(&share.join(clip)), expected, "{clip}");
    }
    assert_eq!(read_back(&share.join("pen/up.mp4")), single_upload, "the upload");
    // Still named by root and path (the command was given the root): a new instance at yet
    // another mount point, with no worker left, shows every index done from the database.
    let late = dir.path().join("api-late");
    link(&share, &late);
    let c = api(&format!("barn1={}", late.display()));
    wait_for_secs("a new instance showing the stored indexes", 20, || {
        states(&c).len() == 4 && states(&c).iter().all(|s| s == "done")
    });
    assert_eq!(ids(&c), ids(&b));
}

#[test]
fn workers_and_api_only_instances_refuse_a_database_nobody_else_shares() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    for (args, says) in [
        (
            vec!["worker", "--videos", data, "--data", data],
            "pigweight worker takes its jobs",
        ),
        (
            vec!["serve", "--indexing", "off", "--videos", data, "--data", data],
            "--indexing off leaves the indexing",
        ),
    ] {
        let out = Command::new(common::bin())
            .args(&args)
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(says) && err.contains("postgres://"),
            "{args:?}: {err}"
        );
    }
}

/// The first `n` parts of an MJPEG response at `url`: (frame id, count) from their headers.
fn mjpeg_parts(url: &str, n: usize) -> Vec<(u64, u32)> {
    let mut resp = common::agent().get(url).call().unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    let reader = BufReader::new(resp.body_mut().as_reader());
    let mut parts = Vec::new();
    let mut frame = None;
    for line in reader.split(b'\n').map_while(Result::ok) {
        let line = String::from_utf8_lossy(&line);
        if let Some(id) = line.strip_prefix("X-Frame-Id: ") {
            frame = Some(id.trim().parse().unwrap());
        } else if let Some(count) = line.strip_prefix("X-Count: ") {
            parts.push((frame.take().unwrap(), count.trim().parse().unwrap()));
            if parts.len() == n {
                break;
            }
        }
    }
    parts
}

/// The binary frames' (frame id, count) and the text messages of a stream WebSocket at `url`,
/// until `n` frames came.
fn socket_frames(url: &str, n: usize) -> (Vec<(u64, u32)>, Vec<serde_json::Value>) {
    let (mut socket, _) = tungstenite::connect(url).unwrap();
    let (mut frames, mut texts) = (Vec::new(), Vec::new());
    while frames.len() < n {
        match socket.read().unwrap() {
            tungstenite::Message::Binary(b) => frames.push((
                u64::from_le_bytes(b[0..8].try_into().unwrap()),
                u32::from_le_bytes(b[16..20].try_into().unwrap()),
            )),
            tungstenite::Message::Text(t) => texts.push(serde_json::from_str(&t).unwrap()),
            _ => {}
        }
    }
    let _ = socket.close(None);
    (frames, texts)
}

fn json(s: &Server, path: &str) -> serde_json::Value {
    let (status, body) = get(&s.url(path));
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Ids of the streams a process captures itself (its figures cover only those).
fn captured(s: &Server) -> Vec<String> {
    json(s, "/api/streams/stats")["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| st["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_live_stream_is_captured_by_one_instance_watched_through_any_and_taken_over_when_it_dies() {
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    std::fs::create_dir_all(&share).unwrap();
    synth_video_sized(&share.join("pen.mp4"), (320, 180), 6, 9920);
    let config = dir.path().join("cluster.toml");
    // A short lease: a dead instance's stream is taken over within seconds.
    std::fs::write(&config, "[api]\nstream_lease_s = 2.0\nstream_fps = 10\n").unwrap();
    let postgres = Postgres::start();
    let url = postgres.url();
    let args = |mount: &str| -> Vec<String> {
        let at = dir.path().join(mount);
        if !at.exists() {
            link(&share, &at);
        }
        let videos = format!("barn1={}", at.display());
        let config = config.to_str().unwrap();
        [
            "--indexing",
            "off",
            "--videos",
            &videos,
            "--database",
            &url,
            "--config",
            config,
        ]
        .map(String::from)
        .to_vec()
    };
    let a = Server::start(&strs(&args("api-a")));
    let b = Server::start(&strs(&args("api-b")));
    let host = |s: &Server| s.base.trim_start_matches("http://").to_owned();
    let nginx = Nginx::start(&[&host(&a), &host(&b)]);
    let video = list(&a)[0]["id"].as_str().unwrap().to_owned();
    wait_for_secs("the video listed by B too", 20, || {
        list(&b)[0]["id"] == video.as_str()
    });

    // Added through A: A captures it, and only A.
    let body = serde_json::json!({ "video": video, "name": "pen 4" }).to_string();
    let reply = send(
        "POST",
        &a.url("/api/streams"),
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    );
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    let added: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    let id = added["id"].as_str().unwrap().to_owned();
    let owner_a = added["captured_by"].as_str().unwrap().to_owned();
    // Added again through B: the cluster has it already.
    let again = send(
        "POST",
        &b.url("/api/streams"),
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    );
    assert_eq!(again.status, 409, "{}", String::from_utf8_lossy(&again.body));
    wait_for_secs("the stream live on A", 20, || {
        json(&a, &format!("/api/streams/{id}"))["status"]["state"] == "live"
    });
    assert_eq!(captured(&a), std::slice::from_ref(&id));
    assert!(captured(&b).is_empty(), "B opens nothing");

    // B lists it as A tells it, and serves its viewers from A: MJPEG, the stream socket and
    // the count socket.
    let listed = json(&b, "/api/streams");
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["captured_by"], owner_a.as_str());
    assert_eq!(listed[0]["name"], "pen 4");
    assert_eq!(listed[0]["status"]["state"], "live");
    let parts = mjpeg_parts(&b.url(&format!("/api/streams/{id}/mjpeg")), 3);
    assert_eq!(parts.len(), 3);
    assert!(parts.windows(2).all(|w| w[0].0 < w[1].0), "{parts:?}");
    let ws = |s: &Server, path: &str| format!("ws://{}{path}", host(s));
    let (frames, texts) = socket_frames(&ws(&b, &format!("/ws/streams/{id}")), 3);
    assert_eq!(frames.len(), 3);
    assert_eq!(texts[0]["type"], "state", "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|t| t["type"] == "count" && t["count"].as_u64().is_some()),
        "{texts:?}"
    );
    let (mut counts, _) = tungstenite::connect(ws(&b, &format!("/ws/count?stream={id}"))).unwrap();
    let update = loop {
        if let tungstenite::Message::Text(t) = counts.read().unwrap() {
            let m: serde_json::Value = serde_json::from_str(&t).unwrap();
            if m["type"] == "count_update" {
                break m;
            }
        }
    };
    assert_eq!(update["source"], "live", "{update}");
    let _ = counts.close(None);
    // Viewers through the load balancer, on either instance.
    for _ in 0..2 {
        let lb = format!("http://{}/api/streams/{id}/mjpeg", nginx.address);
        assert_eq!(mjpeg_parts(&lb, 2).len(), 2);
    }
    // A was the only one to open the video all along.
    assert!(captured(&b).is_empty());

    // A dies: its lease runs out and B takes the stream over; viewers through nginx see it.
    let killed = Instant::now();
    let a_args = args("api-a");
    drop(a);
    wait_for_secs("B capturing the stream", 20, || {
        captured(&b) == std::slice::from_ref(&id)
    });
    let info = json(&b, &format!("/api/streams/{id}"));
    assert_ne!(info["captured_by"], owner_a.as_str(), "{info}");
    let owner_b = info["captured_by"].as_str().unwrap().to_owned();
    eprintln!(
        "stream taken over {:.1} s after its instance died",
        killed.elapsed().as_secs_f64()
    );
    let lb = format!("http://{}/api/streams/{id}/mjpeg", nginx.address);
    assert_eq!(mjpeg_parts(&lb, 2).len(), 2);

    // A comes back: the stream stays B's, and A serves it from B.
    let a = Server::start(&strs(&a_args));
    std::thread::sleep(Duration::from_secs(3));
    assert!(captured(&a).is_empty(), "a camera is opened once");
    assert_eq!(json(&a, "/api/streams")[0]["captured_by"], owner_b.as_str());
    assert_eq!(
        mjpeg_parts(&a.url(&format!("/api/streams/{id}/mjpeg")), 2).len(),
        2
    );

    // Removed through A: B stops capturing it; nobody lists it.
    let removed = request("DELETE", &a.url(&format!("/api/streams/{id}")), &[]);
    assert_eq!(removed.status, 204);
    wait_for_secs("B to stop the stream", 10, || captured(&b).is_empty());
    for s in [&a, &b] {
        assert_eq!(json(s, "/api/streams"), serde_json::json!([]));
        let (status, _) = get(&s.url(&format!("/api/streams/{id}")));
        assert_eq!(status, 404);
    }
}

/// Who holds the walking lease of each root: (lease, holder).
fn walkers(database: &str) -> Vec<(String, String)> {
    let mut store = pigweight_indexer::Store::connect(&database.parse().unwrap()).unwrap();
    store
        .leases("scan:")
        .unwrap()
        .into_iter()
        .map(|l| (l.name, l.owner))
        .collect()
}

fn names(s: &Server) -> Vec<String> {
    let mut names: Vec<String> = list(s)
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn each_root_is_walked_by_one_instance_and_the_others_list_it_from_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    std::fs::create_dir_all(&share).unwrap();
    synth_video_sized(&share.join("a.mp4"), (320, 180), 2, 9930);
    // Files appear on the share as an NVR writes them: whole, by a rename.
    let drop_in = |name: &str, seed: u64| {
        let made = dir.path().join(format!("made-{name}"));
        synth_video_sized(&made, (320, 180), 2, seed);
        std::fs::rename(&made, share.join(name)).unwrap();
    };
    let config = dir.path().join("cluster.toml");
    std::fs::write(&config, "[indexer]\nlease_s = 2.0\n[api]\nrescan_s = 1\n").unwrap();
    let postgres = Postgres::start();
    let url = postgres.url();
    let args = |mount: &str| -> Vec<String> {
        let at = dir.path().join(mount);
        link(&share, &at);
        let videos = format!("barn1={}", at.display());
        let config = config.to_str().unwrap();
        [
            "--indexing",
            "off",
            "--videos",
            &videos,
            "--database",
            &url,
            "--config",
            config,
        ]
        .map(String::from)
        .to_vec()
    };
    let a = Server::start(&strs(&args("api-a")));
    let b = Server::start(&strs(&args("api-b")));
    let first = walkers(&url);
    assert_eq!(first.len(), 1, "one walker: {first:?}");
    // The walker queues what it finds; the other lists it from the database.
    wait_for_secs("a.mp4 on the other instance", 20, || names(&b) == ["a.mp4"]);

    // A file the walker finds is listed by the other from the database; one deleted leaves both.
    drop_in("b.mp4", 9931);
    wait_for_secs("b.mp4 on both instances", 20, || {
        names(&a) == ["a.mp4", "b.mp4"] && names(&b) == ["a.mp4", "b.mp4"]
    });
    std::fs::remove_file(share.join("a.mp4")).unwrap();
    wait_for_secs("a.mp4 gone from both instances", 20, || {
        names(&a) == ["b.mp4"] && names(&b) == ["b.mp4"]
    });

    // The walker dies: the other takes the root over within a lease, and walks it.
    drop(a);
    wait_for_secs("another walker", 20, || {
        let now = walkers(&url);
        now.len() == 1 && now != first
    });
    drop_in("c.mp4", 9932);
    wait_for_secs("c.mp4 found by the new walker", 20, || {
        names(&b) == ["b.mp4", "c.mp4"]
    });
    // Stopped cleanly, a walker lets go at once: the next instance walks from the start.
    b.stop();
    assert!(walkers(&url).is_empty());
    let c = Server::start(&strs(&args("api-c")));
    assert_eq!(walkers(&url).len(), 1);
    assert_eq!(names(&c), ["b.mp4", "c.mp4"]);
}
