//! The Triton backend against in-process ONNX Runtime, in the same run on the same frames:
//! per image at each batch size (the two interleaved, batch by batch, so drift hits both), the
//! bytes on the wire, and where a Triton batch's time goes (the server's own account from
//! `/v2/models/NAME/stats` against the client's round trip); then how long an interactive
//! request waits while other callers keep Triton busy with background batches, asked at
//! interactive priority and, for contrast, at background priority.
//!
//! ```text
//! cargo bench -p pigweight-inference --bench triton -- --frames DIR --triton URL --model FILE
//!     [--batches 1,8] [--repeats N] [--threads N] [--device cpu|cuda[:N]] [--flooders N]
//!     [--probes N] [--json OUT.json]
//! ```
//! `bench/triton.sh` starts the server, runs this and writes the table.

// A bench binary reports on stdout and should stop on the spot when anything fails.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pigweight_inference::{
    Detector, Device, Image, ModelConfig, OnnxDetector, Priority, Timings, TritonConfig, TritonDetector,
};
use serde::Serialize;

mod common;
use common::{load_frames, ms, ort_lib, percentile};

struct Args {
    frames: PathBuf,
    triton: String,
    model: PathBuf,
    json: Option<PathBuf>,
    batches: Vec<usize>,
    repeats: usize,
    threads: usize,
    flooders: usize,
    probes: usize,
    device: Device,
}

fn parse_args() -> Args {
    let mut args = Args {
        frames: PathBuf::new(),
        triton: String::new(),
        model: PathBuf::new(),
        json: None,
        batches: vec![1, 8],
        repeats: 30,
        threads: 0,
        flooders: 3,
        probes: 30,
        device: Device::Cpu,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--frames" => args.frames = value().into(),
            "--triton" => args.triton = value(),
            "--model" => args.model = value().into(),
            "--json" => args.json = Some(value().into()),
            "--batches" => args.batches = value().split(',').map(|b| b.parse().unwrap()).collect(),
            "--repeats" => args.repeats = value().parse().unwrap(),
            "--threads" => args.threads = value().parse().unwrap(),
            "--flooders" => args.flooders = value().parse().unwrap(),
            "--probes" => args.probes = value().parse().unwrap(),
            "--device" => args.device = value().parse().unwrap(),
            "--bench" => {} // cargo bench passes it
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(
        !args.triton.is_empty() && !args.model.as_os_str().is_empty(),
        "give --triton and --model"
    );
    args
}

fn median(values: &mut [f64]) -> f64 {
    percentile(values, 0.5)
}

/// Requests and nanoseconds the server counts for a model (`/v2/models/NAME/stats`).
#[derive(Debug, Clone, Copy, Default)]
struct ServerStats {
    requests: u64,
    /// From a request's arrival to its response: queue and compute.
    request_ns: u64,
    queue_ns: u64,
    compute_ns: u64,
}

fn server_stats(url: &str, model: &str) -> ServerStats {
    let body = ureq::get(format!("{url}/v2/models/{model}/stats"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let s = &v["model_stats"][0];
    let stat = |k: &str, f: &str| s["inference_stats"][k][f].as_u64().unwrap_or(0);
    ServerStats {
        requests: stat("success", "count"),
        request_ns: stat("success", "ns"),
        queue_ns: stat("queue", "ns"),
        compute_ns: stat("compute_input", "ns") + stat("compute_infer", "ns") + stat("compute_output", "ns"),
    }
}

#[derive(Debug, Serialize)]
struct BatchResult {
    batch: usize,
    /// Per image, medians over the repeats, milliseconds.
    ort_ms: f64,
    triton_ms: f64,
    /// In-process throughput over Triton's (images per second).
    triton_over_ort: f64,
    ort_images_per_s: f64,
    triton_images_per_s: f64,
    /// Triton: our letterbox and request body, the round trip, decoding the answer.
    triton_preprocess_ms: f64,
    triton_round_trip_ms: f64,
    triton_postprocess_ms: f64,
    /// The server's own time per request (arrival to response), and its compute part.
    server_request_ms: f64,
    server_compute_ms: f64,
    /// Of the whole per-image time: what neither side computes (HTTP, copies, the socket).
    transport_share: f64,
    wire_bytes_per_image: f64,
    counts_equal: bool,
}

#[derive(Debug, Serialize)]
struct PriorityResult {
    /// What the probe requests asked for.
    priority: String,
    probes: usize,
    flooders: usize,
    p50_ms: f64,
    p95_ms: f64,
    max_ms: f64,
    /// Background batches of 8 the flooders got done meanwhile.
    background_batches: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    frames: usize,
    frame_size: [u32; 2],
    triton: String,
    threads: usize,
    batches: Vec<BatchResult>,
    idle_probe_ms: f64,
    priorities: Vec<PriorityResult>,
}

fn connect(args: &Args, config: &ModelConfig) -> TritonDetector {
    let triton = TritonConfig {
        url: args.triton.clone(),
        ..TritonConfig::default()
    };
    TritonDetector::connect(&triton, config, true).unwrap()
}

fn main() {
    let args = parse_args();
    let frames = load_frames(&args.frames);
    let (fw, fh) = frames[0].dimensions();
    let image = |i: usize| {
        let f = &frames[i % frames.len()];
        Image {
            rgb: f.as_raw(),
            width: fw,
            height: fh,
            input: None,
        }
    };
    let config = ModelConfig {
        path: args.model.clone(),
        threads: args.threads,
        device: args.device,
        ..ModelConfig::default()
    };
    let mut ort = OnnxDetector::load(&ort_lib(), &config).unwrap();
    let mut triton = connect(&args, &config);
    let model = args.model.file_stem().unwrap().to_string_lossy().into_owned();
    let mut report = Report {
        frames: frames.len(),
        frame_size: [fw, fh],
        triton: args.triton.clone(),
        threads: args.threads,
        batches: Vec::new(),
        idle_probe_ms: 0.0,
        priorities: Vec::new(),
    };

    for &batch in &args.batches {
        let images: Vec<Image<'_>> = (0..batch).map(image).collect();
        for _ in 0..3 {
            ort.detect(&images).unwrap();
            triton.detect(&images).unwrap();
        }
        let total = |t: &Timings| ms(t.preprocess + t.run + t.postprocess) / batch as f64;
        let (mut ort_ms, mut triton_ms) = (Vec::new(), Vec::new());
        let (mut pre, mut trip, mut post) = (Vec::new(), Vec::new(), Vec::new());
        let mut wire = 0usize;
        let mut counts_equal = true;
        let mut server = ServerStats::default();
        for _ in 0..args.repeats {
            let ours = ort.detect(&images).unwrap();
            ort_ms.push(total(&ort.last_timings()));
            let before = server_stats(&args.triton, &model);
            let theirs = triton.detect(&images).unwrap();
            let after = server_stats(&args.triton, &model);
            server.requests += after.requests - before.requests;
            server.request_ns += after.request_ns - before.request_ns;
            server.compute_ns += after.compute_ns - before.compute_ns;
            let t = triton.last_timings();
            triton_ms.push(total(&t));
            pre.push(ms(t.preprocess) / batch as f64);
            trip.push(ms(t.run) / batch as f64);
            post.push(ms(t.postprocess) / batch as f64);
            wire += triton.last_wire_bytes();
            counts_equal &= ours
                .iter()
                .map(|d| d.count())
                .eq(theirs.iter().map(|d| d.count()));
        }
        let per_request = |ns: u64| ns as f64 / 1e6 / server.requests as f64;
        // Requests of at most the server's batch limit: per image, as the client's figures.
        let requests_per_batch = server.requests as f64 / args.repeats as f64;
        let server_request_ms = per_request(server.request_ns) * requests_per_batch / batch as f64;
        let server_compute_ms = per_request(server.compute_ns) * requests_per_batch / batch as f64;
        let (ort_med, triton_med) = (median(&mut ort_ms), median(&mut triton_ms));
        let round_trip = median(&mut trip);
        let result = BatchResult {
            batch,
            ort_ms: ort_med,
            triton_ms: triton_med,
            triton_over_ort: ort_med / triton_med,
            ort_images_per_s: 1e3 / ort_med,
            triton_images_per_s: 1e3 / triton_med,
            triton_preprocess_ms: median(&mut pre),
            triton_round_trip_ms: round_trip,
            triton_postprocess_ms: median(&mut post),
            server_request_ms,
            server_compute_ms,
            transport_share: ((round_trip - server_request_ms) / triton_med).max(0.0),
            wire_bytes_per_image: wire as f64 / (args.repeats * batch) as f64,
            counts_equal,
        };
        eprintln!("{result:?}");
        report.batches.push(result);
    }
    drop(ort);

    // Interactive latency: one image at a time, idle, then while `flooders` other callers
    // keep background batches of 8 in Triton's queue.
    let probe = |triton: &mut TritonDetector, priority: Priority| -> Vec<f64> {
        (0..args.probes)
            .map(|i| {
                let started = Instant::now();
                triton.detect_at(&[image(i)], priority).unwrap();
                let took = ms(started.elapsed());
                std::thread::sleep(Duration::from_millis(50));
                took
            })
            .collect()
    };
    report.idle_probe_ms = median(&mut probe(&mut triton, Priority::Interactive));
    for priority in [Priority::Interactive, Priority::Background] {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let before = server_stats(&args.triton, &model);
        let flooders: Vec<_> = (0..args.flooders)
            .map(|_| {
                let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
                let mut flooder = connect(&args, &config);
                let frames = frames.clone();
                std::thread::spawn(move || {
                    let images: Vec<Image<'_>> = (0..8)
                        .map(|i| {
                            let f = &frames[i % frames.len()];
                            Image {
                                rgb: f.as_raw(),
                                width: f.width(),
                                height: f.height(),
                                input: None,
                            }
                        })
                        .collect();
                    while !stop.load(Ordering::Relaxed) {
                        flooder.detect_at(&images, Priority::Background).unwrap();
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // Let the queue fill before probing.
        std::thread::sleep(Duration::from_secs(2));
        let mut latencies = probe(&mut triton, priority);
        stop.store(true, Ordering::Relaxed);
        for f in flooders {
            f.join().unwrap();
        }
        let after = server_stats(&args.triton, &model);
        let result = PriorityResult {
            priority: format!("{priority:?}"),
            probes: latencies.len(),
            flooders: args.flooders,
            p50_ms: median(&mut latencies),
            p95_ms: percentile(&mut latencies, 0.95),
            max_ms: percentile(&mut latencies, 1.0),
            background_batches: done.load(Ordering::Relaxed),
        };
        eprintln!("{result:?} (server queue {:.0} ms per request)", {
            let n = (after.requests - before.requests).max(1);
            (after.queue_ns - before.queue_ns) as f64 / 1e6 / n as f64
        });
        report.priorities.push(result);
    }

    let json = serde_json::to_string_pretty(&report).unwrap();
    if let Some(path) = &args.json {
        std::fs::write(path, &json).unwrap();
    }
    println!("{json}");
}
