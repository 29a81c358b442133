//! Support for the end-to-end tests: the real `pigweight` binary, started on a free port, with
//! inputs made by the tests themselves.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)] // test support fails the test on the spot; each test uses part of it

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `pigweight` binary, as Cargo built it for these tests: never a stale one.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pigweight"))
}

/// Runs `pigweight ARGS`, asserts success, returns stdout.
pub fn run(args: &[&str]) -> String {
    let out = Command::new(bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "pigweight {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Makes a small synthetic pen video (320x240, 25 fps) with its ground truth beside it.
pub fn synth_video(path: &Path, seconds: u32, seed: u64) {
    synth_video_sized(path, (320, 240), seconds, seed);
}

/// Makes a synthetic pen video of `width` x `height` (25 fps, a keyframe a second) with its
/// ground truth beside it.
pub fn synth_video_sized(path: &Path, (width, height): (u32, u32), seconds: u32, seed: u64) {
    run(&[
        "synth",
        "video",
        path.to_str().unwrap(),
        "--width",
        &width.to_string(),
        "--height",
        &height.to_string(),
        "--duration",
        &seconds.to_string(),
        "--gop",
        "25",
        "--seed",
        &seed.to_string(),
    ]);
}

/// A running server; killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub base: String,
    /// The server's data folder (its index database), removed with the server.
    pub data: tempfile::TempDir,
}

/// Starts `pigweight` with `args`, its info log (uncoloured) on a pipe at `stderr`.
pub fn spawn<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Child {
    spawn_logging(args, "info")
}

/// [`spawn`] with the log filter `log` (`RUST_LOG`'s syntax).
pub fn spawn_logging<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>, log: &str) -> Child {
    Command::new(bin())
        .args(args)
        .env("RUST_LOG", log)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

impl Server {
    /// Starts `pigweight serve` on 127.0.0.1 with a free port, and waits until it listens.
    pub fn start(extra: &[&str]) -> Self {
        Self::start_on(tempfile::tempdir().unwrap(), extra)
    }

    /// Kills the server (SIGKILL, as a crash would) and starts it again on the same data
    /// folder with `extra`.
    pub fn restart(mut self, extra: &[&str]) -> Self {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let data = tempfile::TempDir::new().unwrap();
        let kept = std::mem::replace(&mut self.data, data);
        Self::start_on(kept, extra)
    }

    fn start_on(data: tempfile::TempDir, extra: &[&str]) -> Self {
        let data_arg = data.path().as_os_str();
        let mut child = spawn(
            [
                OsStr::new("serve"),
                OsStr::new("--bind"),
                OsStr::new("127.0.0.1:0"),
                OsStr::new("--data"),
                data_arg,
            ]
            .into_iter()
            .chain(extra.iter().map(OsStr::new)),
        );
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("address=").nth(1) {
                    let _ = tx.send(addr.split_whitespace().next().unwrap_or("").to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server did not say where it listens within 30 s");
        Self {
            child,
            base: format!("http://{addr}"),
            data,
        }
    }

    /// Stops the server as a service manager does (SIGTERM) and waits for it to exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "stopped with {status}");
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a server on a synthetic video `videos/pen.mp4` of `seconds` under `dir` (made with
/// seed 11 if missing) and waits until its index is complete; returns the video's id. With
/// `--api-key K` in `extra`, asks with that key.
pub fn indexed_server(dir: &Path, seconds: u32, extra: &[&str]) -> (Server, String) {
    let videos = dir.join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    if !videos.join("pen.mp4").exists() {
        synth_video(&videos.join("pen.mp4"), seconds, 11);
    }
    let mut args = vec!["--videos", videos.to_str().unwrap()];
    args.extend_from_slice(extra);
    let server = Server::start(&args);
    let key = extra
        .iter()
        .position(|a| *a == "--api-key")
        .map_or("", |i| extra[i + 1]);
    let agent = agent();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let body = agent
            .get(&server.url("/api/videos"))
            .header("X-API-Key", key)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let list: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if let Some(v) = list.as_array().and_then(|l| l.first())
            && v["index"]["state"] == "done"
        {
            return (server, v["id"].as_str().unwrap().to_owned());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not indexed in time: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `done` every 20 ms; fails the test after 20 s.
pub fn wait_for(what: &str, done: impl FnMut() -> bool) {
    wait_for_secs(what, 20, done);
}

/// Polls `done` every 20 ms; fails the test after `seconds`.
pub fn wait_for_secs(what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An HTTP client that returns error statuses as answers, not errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// GET that returns status and body, whatever the status.
pub fn get(url: &str) -> (u16, String) {
    let mut resp = agent().get(url).call().unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap())
}

/// A whole answer: status, headers and body (none for HEAD).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Vec<u8>,
}

/// `method url` with `headers`, no body.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> Reply {
    send(method, url, headers, None)
}

/// `method url` with `headers` and `body`, whatever the status.
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
    let agent = agent();
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = match body {
        Some(body) => agent.run(req.body(body).unwrap()),
        None => agent.run(req.body(()).unwrap()),
    }
    .unwrap();
    let body = if method == "HEAD" {
        Vec::new()
    } else {
        resp.body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .unwrap()
    };
    Reply {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body,
    }
}

/// The value of header `name`; fails the test when it is missing.
pub fn header<'a>(r: &'a Reply, name: &str) -> &'a str {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// A test camera: `script` from tests/support (`rtsp_serve.py`, `clock_camera.py`) serving
/// `file` at rtsp://127.0.0.1:`port`/cam; killed when dropped.
pub struct Camera(Child);

impl Camera {
    pub fn start(script: &str, file: &Path, port: u16) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/support")
            .join(script);
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(file)
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "the RTSP camera did not start: scripts/setup.sh --test installs what it needs (make test runs it)"
        );
        Self(child)
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
