//! Inference benchmarks: per-image pre-processing, model run and post-processing at batch
//! 1/2/4/8, and throughput through the batching scheduler, on real models and real frames.
//!
//! Each batch is timed on its own (medians and 95th percentiles, not means), so this is a plain
//! `main` and not criterion. `bench/inference_reference.py` times Python onnxruntime with a
//! cv2/numpy letterbox and decoding on the same models and frames, and `bench/inference.sh`
//! puts both side by side.
//!
//! ```text
//! cargo bench -p pigweight-inference --bench inference -- --frames DIR [--json OUT.json]
//!     [--batches 1,2,4,8] [--repeats N] [--threads N] [--device cpu|cuda[:N]] MODEL.onnx...
//! ```

// A bench binary reports on stdout and should stop on the spot when anything fails.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pigweight_inference::{
    Detector, Device, Image, ModelConfig, OnnxDetector, Priority, Scheduler, SchedulerConfig, SharedImage,
    Timings,
};
use serde::Serialize;

mod common;
use common::{load_frames, ms, ort_lib, percentile};

/// Images pushed through the scheduler for the throughput figure.
const SCHEDULER_IMAGES: usize = 96;

struct Args {
    models: Vec<PathBuf>,
    frames: PathBuf,
    json: Option<PathBuf>,
    batches: Vec<usize>,
    repeats: usize,
    threads: usize,
    device: Device,
}

fn parse_args() -> Args {
    let mut args = Args {
        models: Vec::new(),
        frames: PathBuf::new(),
        json: None,
        batches: vec![1, 2, 4, 8],
        repeats: 30,
        threads: 0,
        device: Device::Cpu,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--frames" => args.frames = it.next().expect("--frames DIR").into(),
            "--json" => args.json = Some(it.next().expect("--json FILE").into()),
            "--batches" => {
                args.batches = it
                    .next()
                    .expect("--batches 1,2,4")
                    .split(',')
                    .map(|b| b.parse().unwrap())
                    .collect();
            }
            "--repeats" => args.repeats = it.next().expect("--repeats N").parse().unwrap(),
            "--threads" => args.threads = it.next().expect("--threads N").parse().unwrap(),
            "--device" => args.device = it.next().expect("--device cpu|cuda[:N]").parse().unwrap(),
            "--bench" => {} // cargo bench passes it
            other if other.starts_with("--") => panic!("unknown option {other}"),
            model => args.models.push(model.into()),
        }
    }
    assert!(!args.models.is_empty(), "give at least one model");
    args
}

#[derive(Debug, Serialize)]
struct BatchResult {
    model: String,
    input: [u32; 2],
    batch: usize,
    /// Per image, median over the repeats, milliseconds.
    preprocess_ms: f64,
    run_ms: f64,
    postprocess_ms: f64,
    total_ms: f64,
    total_p95_ms: f64,
    /// (pre + post) / run.
    overhead: f64,
    images_per_s: f64,
    detections_per_image: f64,
}

#[derive(Debug, Serialize)]
struct SchedulerResult {
    model: String,
    images: usize,
    images_per_s: f64,
    batch_sizes: Vec<u64>,
}

#[derive(Debug, Serialize)]
struct Report {
    device: String,
    frames: usize,
    frame_size: [u32; 2],
    threads: usize,
    batches: Vec<BatchResult>,
    scheduler: Vec<SchedulerResult>,
}

fn main() {
    let args = parse_args();
    let frames = load_frames(&args.frames);
    let (fw, fh) = frames[0].dimensions();
    let mut report = Report {
        device: format!("{:?}", args.device),
        frames: frames.len(),
        frame_size: [fw, fh],
        threads: args.threads,
        batches: Vec::new(),
        scheduler: Vec::new(),
    };
    for model in &args.models {
        let name = model.file_name().unwrap().to_string_lossy().into_owned();
        let config = ModelConfig {
            path: model.clone(),
            threads: args.threads,
            device: args.device,
            ..ModelConfig::default()
        };
        let mut detector = OnnxDetector::load(&ort_lib(), &config).unwrap();
        for &batch in &args.batches {
            let images: Vec<Image<'_>> = (0..batch)
                .map(|i| {
                    let f = &frames[i % frames.len()];
                    Image {
                        rgb: f.as_raw(),
                        width: fw,
                        height: fh,
                        input: None,
                    }
                })
                .collect();
            for _ in 0..3 {
                detector.detect(&images).unwrap();
            }
            let mut runs: Vec<Timings> = Vec::with_capacity(args.repeats);
            let mut detections = 0usize;
            for _ in 0..args.repeats {
                let out = detector.detect(&images).unwrap();
                detections += out.iter().map(|d| d.boxes.len()).sum::<usize>();
                runs.push(detector.last_timings());
            }
            let per_image = |f: &dyn Fn(&Timings) -> Duration| -> Vec<f64> {
                runs.iter().map(|t| ms(f(t)) / batch as f64).collect()
            };
            let pre = percentile(&mut per_image(&|t| t.preprocess), 0.5);
            let run = percentile(&mut per_image(&|t| t.run), 0.5);
            let post = percentile(&mut per_image(&|t| t.postprocess), 0.5);
            let mut totals = per_image(&|t| t.preprocess + t.run + t.postprocess);
            let total = percentile(&mut totals, 0.5);
            let result = BatchResult {
                model: name.clone(),
                input: [runs[0].input.0, runs[0].input.1],
                batch,
                preprocess_ms: pre,
                run_ms: run,
                postprocess_ms: post,
                total_ms: total,
                total_p95_ms: percentile(&mut totals, 0.95),
                overhead: (pre + post) / run,
                images_per_s: 1e3 / total,
                detections_per_image: detections as f64 / (args.repeats * batch) as f64,
            };
            eprintln!("{result:?}");
            report.batches.push(result);
        }

        let max_batch = args.batches.iter().copied().max().unwrap_or(1);
        let scheduler = Scheduler::start(
            Box::new(detector),
            SchedulerConfig {
                max_batch,
                ..SchedulerConfig::default()
            },
        )
        .unwrap();
        let shared: Vec<Arc<Vec<u8>>> = frames.iter().map(|f| Arc::new(f.as_raw().clone())).collect();
        let started = Instant::now();
        let tickets: Vec<_> = (0..SCHEDULER_IMAGES)
            .map(|i| {
                let image = SharedImage {
                    pixels: shared[i % shared.len()].clone(),
                    width: fw,
                    height: fh,
                    input: None,
                };
                scheduler.submit(image, Priority::Background).unwrap()
            })
            .collect();
        for t in tickets {
            t.wait().unwrap();
        }
        let elapsed = started.elapsed();
        let result = SchedulerResult {
            model: name,
            images: SCHEDULER_IMAGES,
            images_per_s: SCHEDULER_IMAGES as f64 / elapsed.as_secs_f64(),
            batch_sizes: scheduler.metrics().batch_sizes,
        };
        eprintln!("{result:?}");
        report.scheduler.push(result);
    }
    let json = serde_json::to_string_pretty(&report).unwrap();
    if let Some(path) = &args.json {
        std::fs::write(path, &json).unwrap();
    }
    println!("{json}");
}
