//! The Triton backend against a real NVIDIA Triton Inference Server (the `tritonserver` binary
//! of PyPI's `nvidia-pytriton`, installed by scripts/fetch-triton.sh), serving the repository
//! `pigweight triton-repo --backend python` writes: the same ONNX file through onnxruntime
//! behind Triton's real protocol, dynamic batcher, priorities and metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Server, agent, get, request, run, synth_video_sized, wait_for_secs};

const MODEL: &str = "pigs";

/// A Triton server on free loopback ports; killed when dropped.
struct Triton {
    child: Option<Child>,
    repository: PathBuf,
    ports: [u16; 3],
}

/// The status `url` answers with, if anything answers there.
fn answers(url: &str) -> Option<u16> {
    agent().get(url).call().ok().map(|r| r.status().as_u16())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Triton {
    /// Picks the ports; starts nothing.
    fn on_free_ports(repository: &Path) -> Self {
        Self {
            child: None,
            repository: repository.to_owned(),
            ports: [free_port(), free_port(), free_port()],
        }
    }

    /// Starts the server and waits until it is ready with every model loaded.
    fn start(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/tritonserver.sh");
        let [http, grpc, metrics] = self.ports.map(|p| p.to_string());
        let child = Command::new(script)
            .arg(&self.repository)
            .args([&http, &grpc, &metrics])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // A group of its own, killed whole: the python backend's stubs with the server.
            .process_group(0)
            .spawn()
            .expect(
                "cannot run scripts/tritonserver.sh (make test installs Triton: scripts/fetch-triton.sh)",
            );
        self.child = Some(child);
        let ready = self.url("/v2/health/ready");
        wait_for_secs("Triton to be ready", 60, || {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("tritonserver exited ({status}); run scripts/fetch-triton.sh");
            }
            answers(&ready) == Some(200)
        });
    }

    /// Kills the server at once, as a crash of its machine would: its python backend's stubs
    /// with it (killed alone, the server left them running, orphaned).
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = format!("-{}", child.id());
            let sent = Command::new("kill").args(["-KILL", "--", &group]).status();
            if !sent.is_ok_and(|s| s.success()) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports[0])
    }

    /// A counter of `model` from Triton's Prometheus metrics.
    fn metric(&self, name: &str, model: &str) -> u64 {
        let (status, body) = get(&format!("http://127.0.0.1:{}/metrics", self.ports[2]));
        assert_eq!(status, 200, "{body}");
        let label = format!("model=\"{model}\"");
        body.lines()
            .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(&label))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .map_or_else(
                || panic!("no {name} for {model} in Triton's metrics"),
                |v| v as u64,
            )
    }
}

impl Drop for Triton {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `pigweight triton-repo` for the sample model, python backend on the CPU (what Triton here can
/// run), with `extra` options.
fn repository(dir: &Path, extra: &[&str]) -> PathBuf {
    let repo = dir.join("repository");
    let mut args = vec![
        "triton-repo",
        repo.to_str().unwrap(),
        "--backend",
        "python",
        "--kind",
        "cpu",
    ];
    args.extend_from_slice(extra);
    run(&args);
    repo
}

fn detect(video: &Path, index: u32, extra: &[&str]) -> serde_json::Value {
    let index = index.to_string();
    let mut args = vec!["detect", video.to_str().unwrap(), "--index", &index];
    args.extend_from_slice(extra);
    serde_json::from_str(&run(&args)).unwrap()
}

/// Runs `pigweight ARGS`, asserts failure, returns stderr.
fn fails(args: &[&str]) -> String {
    let out = Command::new(common::bin()).args(args).output().unwrap();
    assert!(!out.status.success(), "pigweight {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

fn assert_same_detections(ours: &serde_json::Value, triton: &serde_json::Value, frame: u32) {
    assert_eq!(ours["count"], triton["count"], "frame {frame}");
    assert_eq!(ours["count_low"], triton["count_low"], "frame {frame}");
    assert_eq!(ours["count_high"], triton["count_high"], "frame {frame}");
    let (a, b) = (
        ours["detections"].as_array().unwrap(),
        triton["detections"].as_array().unwrap(),
    );
    assert_eq!(a.len(), b.len(), "frame {frame}");
    for (a, b) in a.iter().zip(b) {
        assert_eq!(a["class"], b["class"], "frame {frame}");
        let close = |x: &serde_json::Value, y: &serde_json::Value, tol: f64| {
            (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() <= tol
        };
        assert!(close(&a["score"], &b["score"], 1e-4), "frame {frame}: {a} vs {b}");
        for k in 0..4 {
            assert!(
                close(&a["box"][k], &b["box"][k], 1e-2),
                "frame {frame}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn detections_through_triton_equal_in_process_ones_and_callers_are_batched_together() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("pen.mp4");
    synth_video_sized(&clip, (640, 360), 6, 9701);
    // A long queue delay so that requests from callers started together meet in the batcher.
    let mut triton = Triton::on_free_ports(&repository(dir.path(), &["--queue-delay-us", "400000"]));
    triton.start();
    let url = triton.url("");
    let through = ["--triton", url.as_str()];

    let mut counted = 0;
    for frame in [0, 37, 75, 112, 149] {
        let ours = detect(&clip, frame, &[]);
        let theirs = detect(&clip, frame, &through);
        assert_same_detections(&ours, &theirs, frame);
        counted += ours["count"].as_u64().unwrap();
    }
    assert!(counted > 0, "the clip shows pigs");

    // Six processes at once, one frame each: Triton runs their requests in fewer batches.
    let requests = triton.metric("nv_inference_request_success", MODEL);
    let executions = triton.metric("nv_inference_exec_count", MODEL);
    let callers: Vec<Child> = (0..6)
        .map(|k| {
            let index = (k * 20).to_string();
            Command::new(common::bin())
                .args([
                    "detect",
                    clip.to_str().unwrap(),
                    "--index",
                    &index,
                    "--triton",
                    &url,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut caller in callers {
        assert!(caller.wait().unwrap().success());
    }
    let requests = triton.metric("nv_inference_request_success", MODEL) - requests;
    let executions = triton.metric("nv_inference_exec_count", MODEL) - executions;
    // Two requests per caller: the keyframes its input size is chosen from, then the frame.
    assert_eq!(requests, 12, "two requests per caller");
    assert!(
        executions < requests,
        "{requests} requests from six callers ran in {executions} batches"
    );
}

#[test]
fn a_video_indexed_through_triton_matches_in_process_though_triton_comes_late_and_dies_midway() {
    let dir = tempfile::tempdir().unwrap();
    let videos = dir.path().join("videos");
    std::fs::create_dir_all(&videos).unwrap();
    let clip = videos.join("pen.mp4");
    synth_video_sized(&clip, (640, 360), 24, 9702);
    let straight_db = dir.path().join("straight.db");
    let straight = run(&[
        "index",
        clip.to_str().unwrap(),
        "--db",
        straight_db.to_str().unwrap(),
        "--format",
        "json",
    ]);

    let mut triton = Triton::on_free_ports(&repository(dir.path(), &[]));
    let url = triton.url("");
    // Triton is not up yet: the server starts all the same, and says why it is not ready.
    let server = Server::start(&["--videos", videos.to_str().unwrap(), "--triton", &url]);
    let (status, body) = get(&server.url("/readyz"));
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("Triton") && body.contains(&url), "{body}");
    let list: serde_json::Value = serde_json::from_str(&get(&server.url("/api/videos")).1).unwrap();
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let asked = request(
        "GET",
        &server.url(&format!("/api/videos/{id}/detections?t=1")),
        &[],
    );
    assert_eq!(asked.status, 503, "{}", String::from_utf8_lossy(&asked.body));
    assert!(!common::header(&asked, "retry-after").is_empty());

    let index = |server: &Server| -> serde_json::Value {
        serde_json::from_str(&get(&server.url(&format!("/api/videos/{id}/index"))).1).unwrap()
    };
    triton.start();
    wait_for_secs("the server to be ready", 30, || {
        get(&server.url("/readyz")).0 == 200
    });
    wait_for_secs("indexing through Triton", 60, || {
        index(&server)["samples"].as_u64().unwrap() > 0
    });
    triton.kill();
    let at_kill = index(&server);
    assert_ne!(
        at_kill["state"], "done",
        "the index finished before Triton was killed"
    );
    wait_for_secs("the server to notice", 30, || {
        get(&server.url("/readyz")).0 == 503
    });
    let asked = request(
        "GET",
        &server.url(&format!("/api/videos/{id}/detections?t=2")),
        &[],
    );
    assert_eq!(asked.status, 503, "{}", String::from_utf8_lossy(&asked.body));
    assert!(!common::header(&asked, "retry-after").is_empty());
    std::thread::sleep(Duration::from_secs(2));
    assert_ne!(index(&server)["state"], "failed", "{}", index(&server));

    triton.start();
    wait_for_secs("the index to complete", 180, || index(&server)["state"] == "done");
    let asked = request(
        "GET",
        &server.url(&format!("/api/videos/{id}/detections?t=2")),
        &[],
    );
    assert_eq!(asked.status, 200, "{}", String::from_utf8_lossy(&asked.body));
    let db = server.data.path().join("index.db");
    let served = serde_json::from_str::<serde_json::Value>(&run(&[
        "index",
        clip.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--format",
        "json",
    ]))
    .unwrap();
    drop(server);
    let straight: serde_json::Value = serde_json::from_str(&straight).unwrap();
    assert!(straight.as_array().unwrap().len() > 20, "{straight}");
    assert_eq!(
        served, straight,
        "the index through Triton differs from the in-process one"
    );
}

#[test]
fn a_wrong_model_name_wrong_shapes_another_model_file_and_a_dead_port_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("pen.mp4");
    synth_video_sized(&clip, (640, 360), 2, 9703);
    let repo = repository(dir.path(), &[]);
    // The same model under another name, its output declared for three classes.
    let wrong = repo.join("three-classes");
    std::fs::create_dir_all(wrong.join("1")).unwrap();
    for file in ["1/model.onnx", "1/model.py"] {
        std::fs::copy(repo.join(MODEL).join(file), wrong.join(file)).unwrap();
    }
    let config = std::fs::read_to_string(repo.join(MODEL).join("config.pbtxt")).unwrap();
    let changed = config
        .replace(&format!("name: \"{MODEL}\""), "name: \"three-classes\"")
        .replace("dims: [ 5, -1 ]", "dims: [ 7, -1 ]");
    assert_ne!(changed, config);
    std::fs::write(wrong.join("config.pbtxt"), changed).unwrap();
    let mut triton = Triton::on_free_ports(&repo);
    triton.start();
    let url = triton.url("");
    let v = clip.to_str().unwrap();

    let e = fails(&[
        "detect",
        v,
        "--index",
        "0",
        "--triton",
        &url,
        "--triton-model",
        "nope",
    ]);
    assert!(
        e.contains("\"nope\"") && e.contains(MODEL) && e.contains("three-classes"),
        "{e}"
    );

    // Checked against the local model file, and (without one) against its own metadata.
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/pigs.onnx");
    let (sample, three) = (sample.to_str().unwrap(), ["--triton-model", "three-classes"]);
    let e = fails(
        &[
            &["detect", v, "--index", "0", "--model", sample, "--triton", &url][..],
            &three,
        ]
        .concat(),
    );
    assert!(e.contains("[-1, 7, -1]") && e.contains("[-1, 5, -1]"), "{e}");
    let e = fails(&[&["detect", v, "--index", "0", "--triton", &url][..], &three].concat());
    assert!(e.contains("[-1, 7, -1]") && e.contains("3 class scores"), "{e}");

    let other = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fixtures/anchors_dynamic.onnx");
    let e = fails(&[
        "detect",
        v,
        "--index",
        "0",
        "--model",
        other.to_str().unwrap(),
        "--triton",
        &url,
        "--triton-model",
        MODEL,
    ]);
    assert!(e.contains("not the local one"), "{e}");

    let e = fails(&["eval", v, "--triton", &url]);
    assert!(e.contains("--through-index"), "{e}");

    let dead = format!("http://127.0.0.1:{}", free_port());
    let e = fails(&["detect", v, "--index", "0", "--triton", &dead]);
    assert!(e.contains(&dead) && e.to_lowercase().contains("connect"), "{e}");

    // The server with a dead Triton, chosen in its config file, starts and tells why it is not
    // ready, with the address.
    let config = dir.path().join("pigweight.toml");
    std::fs::write(
        &config,
        format!(
            "[inference]\nbackend = \"triton\"\n\n[inference.triton]\nurl = \"{dead}\"\ntimeout_ms = 5000\n"
        ),
    )
    .unwrap();
    let server = Server::start(&[
        "--videos",
        dir.path().to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let (status, body) = get(&server.url("/readyz"));
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(&dead), "{body}");
}

/// The repositories `triton-repo` writes, read back by the protobuf schema of Triton's own
/// model config (`model_config_pb2` of NVIDIA's tritonclient): what production Triton parses.
#[test]
fn repositories_parse_as_tritons_model_config_for_every_backend_and_accelerator() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let parse = |model: &Path| -> serde_json::Value {
        let script = "import json, sys\n\
            from google.protobuf import text_format, json_format\n\
            from tritonclient.grpc import model_config_pb2 as m\n\
            c = text_format.Parse(open(sys.argv[1]).read(), m.ModelConfig())\n\
            print(json.dumps(json_format.MessageToDict(c)))\n";
        let out = Command::new(root.join(".triton/venv/bin/python"))
            .args(["-c", script])
            .arg(model.join("config.pbtxt"))
            .output()
            .expect("run scripts/fetch-triton.sh");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // Writes a repository; returns the model's folder in it.
    let write = |name: &str, extra: &[&str]| -> PathBuf {
        let repo = dir.path().join(name);
        let mut args = vec!["triton-repo", repo.to_str().unwrap()];
        args.extend_from_slice(extra);
        run(&args);
        let model = extra
            .iter()
            .position(|a| *a == "--name")
            .map_or(MODEL, |i| extra[i + 1]);
        repo.join(model)
    };

    let model = write("default", &[]);
    let c = parse(&model);
    assert_eq!(c["platform"], "onnxruntime_onnx");
    assert_eq!(c["maxBatchSize"], 8);
    assert_eq!(c["input"][0]["name"], "pixels");
    assert_eq!(c["input"][0]["dataType"], "TYPE_UINT8");
    assert_eq!(c["input"][0]["dims"], serde_json::json!(["3", "-1", "-1"]));
    assert_eq!(c["output"][0]["dataType"], "TYPE_FP32");
    assert_eq!(
        c["dynamicBatching"]["preferredBatchSize"],
        serde_json::json!([4, 8])
    );
    assert_eq!(c["dynamicBatching"]["maxQueueDelayMicroseconds"], "2000");
    assert_eq!(c["dynamicBatching"]["priorityLevels"], "2");
    assert_eq!(c["instanceGroup"][0]["kind"], "KIND_GPU");
    let hash = c["parameters"]["pigweight_model_hash"]["stringValue"]
        .as_str()
        .unwrap();
    assert_eq!(hash.len(), 64, "{c}");
    assert!(c["optimization"].is_null(), "{c}");
    assert!(model.join("1/model.onnx").is_file());
    assert!(!model.join("1/model.py").exists());

    let c = parse(&write(
        "tensorrt",
        &[
            "--accelerator",
            "tensorrt-fp32",
            "--max-batch",
            "16",
            "--instances",
            "2",
            "--queue-delay-us",
            "500",
        ],
    ));
    assert_eq!(c["maxBatchSize"], 16);
    assert_eq!(
        c["dynamicBatching"]["preferredBatchSize"],
        serde_json::json!([8, 16])
    );
    assert_eq!(c["dynamicBatching"]["maxQueueDelayMicroseconds"], "500");
    assert_eq!(c["instanceGroup"][0]["count"], 2);
    let trt = &c["optimization"]["executionAccelerators"]["gpuExecutionAccelerator"][0];
    assert_eq!(trt["name"], "tensorrt", "{c}");
    assert_eq!(trt["parameters"]["precision_mode"], "FP32", "{c}");

    let model = write(
        "python",
        &["--backend", "python", "--kind", "cpu", "--name", "pens"],
    );
    let c = parse(&model);
    assert_eq!(c["name"], "pens");
    assert_eq!(c["backend"], "python");
    assert!(c["platform"].is_null(), "{c}");
    assert_eq!(c["instanceGroup"][0]["kind"], "KIND_CPU");
    assert!(model.join("1/model.py").is_file() && model.join("1/model.onnx").is_file());

    let e = fails(&[
        "triton-repo",
        dir.path().join("no").to_str().unwrap(),
        "--accelerator",
        "tensorrt",
        "--kind",
        "cpu",
    ]);
    assert!(
        e.contains("TensorRT runs in Triton's onnxruntime backend on GPU instances only"),
        "{e}"
    );
}
