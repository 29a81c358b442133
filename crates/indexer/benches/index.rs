//! Indexer benchmarks.
//!
//! Index speed: one video indexed from scratch with a real model, pass by pass, as multiples of
//! real time; first with a refinement window of one frame (each bisection step seeks for its
//! frame) as the reference, then with the default window. Query latency: count at t and a 1,000-point series on a synthetic 10-hour index
//! (medians over many random queries). Database size per hour of video.
//!
//! ```text
//! cargo bench -p pigweight-indexer --bench index -- --model M.onnx [--db DIR] VIDEO
//! ```
//! Each pass is timed on its own, so this is a plain `main` and not criterion.

// A bench binary reports on stdout and should stop on the spot when anything fails.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pigweight_decode::{FrameSource, SourceConfig, VideoFile};
use pigweight_indexer::{
    IndexKey, IndexView, IndexerConfig, Job, Location, Pass, Sample, Source, Store, StoredDetection,
    VideoRecord,
};
use pigweight_inference::{CountBand, Detector, ModelConfig, OnnxDetector, Scheduler, SchedulerConfig};
use rand::{RngExt, SeedableRng};

fn ort_lib() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(pigweight_inference::ORT_LIBRARY)
        },
        PathBuf::from,
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn index_speed(model: &Path, video: &Path, db_dir: &Path, indexing: IndexerConfig) -> serde_json::Value {
    let config = ModelConfig {
        path: model.to_owned(),
        ..ModelConfig::default()
    };
    let detector = OnnxDetector::load(&ort_lib(), &config).unwrap();
    let key = IndexKey::new(detector.info(), 1.0);
    let scheduler = Scheduler::start(Box::new(detector), SchedulerConfig::default()).unwrap();
    let db = db_dir.join("bench-index.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let mut store = Store::open(&db).unwrap();
    let started = Instant::now();
    let source = VideoFile::open(video, &SourceConfig::default()).unwrap();
    let duration = source.timeline().duration().as_secs_f64();
    let record = VideoRecord::of(video, &Location::plain(video), &source, &mut store).unwrap();
    let opened = started.elapsed();
    let reads_ahead = indexing.read_ahead > 0;
    let mut job = Job::open(&mut store, &record, Box::new(source), &key, indexing).unwrap();
    if reads_ahead {
        let second = VideoFile::open(video, &SourceConfig::default()).unwrap();
        job.read_ahead(Box::new(second), None);
    }
    let mut passes: Vec<(Pass, Duration, u64)> = Vec::new();
    let mut pass = Pass::Keyframes;
    let mut pass_start = Instant::now();
    let mut samples_at_start = 0;
    loop {
        let p = job.step(&mut store, &scheduler).unwrap();
        if p.pass != pass {
            // The step that moved on also did a batch of the new pass; close enough at this size.
            passes.push((pass, pass_start.elapsed(), p.samples - samples_at_start));
            pass = p.pass;
            pass_start = Instant::now();
            samples_at_start = p.samples;
        }
        if p.pass == Pass::Done {
            break;
        }
    }
    let total = started.elapsed();
    let size = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", db.display())).ok())
        .map(|m| m.len())
        .sum::<u64>();
    let rows: Vec<serde_json::Value> = passes
        .iter()
        .map(|(pass, took, samples)| {
            serde_json::json!({
                "pass": pass, "seconds": took.as_secs_f64(), "samples": samples,
                "x_real_time": duration / took.as_secs_f64(),
            })
        })
        .collect();
    let first_two: f64 = passes.iter().take(2).map(|p| p.1.as_secs_f64()).sum();
    serde_json::json!({
        "video_s": duration,
        "fingerprint_and_open_s": opened.as_secs_f64(),
        "passes": rows,
        "keyframes_plus_regular_x_real_time": duration / first_two,
        "time_to_keyframe_timeline_s": opened.as_secs_f64() + passes[0].1.as_secs_f64(),
        "total_s": total.as_secs_f64(),
        "full_x_real_time": duration / total.as_secs_f64(),
        "db_bytes": size,
        "db_mb_per_hour": size as f64 / 1e6 * 3600.0 / duration,
    })
}

/// A 10-hour index at 25 fps, 1 s interval, with a count change every ~20 s refined to a frame.
fn ten_hours() -> Vec<Sample> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut samples = Vec::new();
    let mut count = 8u32;
    let detections = |n: u32| {
        (0..n)
            .map(|i| StoredDetection {
                bbox: [i as f32 * 50.0, 100.0, i as f32 * 50.0 + 120.0, 180.0],
                score: 0.8,
                class: 0,
                track: Some(i),
            })
            .collect::<Vec<_>>()
    };
    for second in 0..36_000u64 {
        let frame = second * 25;
        if rng.random_range(0..20) == 0 {
            let changed_at = frame - rng.random_range(1..25);
            let next = (count as i64 + rng.random_range(-2..=2)).clamp(0, 20) as u32;
            if next != count && second > 0 {
                samples.push(Sample {
                    frame: changed_at - 1,
                    time: (changed_at - 1) as f64 / 25.0,
                    count,
                    band: CountBand::exact(count),
                    source: Source::Refine,
                    detections: detections(count),
                });
                samples.push(Sample {
                    frame: changed_at,
                    time: changed_at as f64 / 25.0,
                    count: next,
                    band: CountBand::exact(next),
                    source: Source::Refine,
                    detections: detections(next),
                });
                count = next;
            }
        }
        samples.push(Sample {
            frame,
            time: second as f64,
            count,
            band: CountBand::exact(count),
            source: Source::Regular,
            detections: detections(count),
        });
    }
    samples
}

fn query_latency() -> serde_json::Value {
    let samples = ten_hours();
    let started = Instant::now();
    let view = IndexView::new(&samples, 0.25);
    let build = started.elapsed();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let count_at: Vec<f64> = (0..20_000)
        .map(|_| {
            let frame = rng.random_range(0..900_000u64);
            let t = Instant::now();
            std::hint::black_box(view.count_at(frame, frame as f64 / 25.0));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    let series: Vec<f64> = (0..2_000)
        .map(|_| {
            let from = rng.random_range(0.0..30_000.0);
            let to = from + rng.random_range(10.0..6_000.0);
            let whole = rng.random_range(0..4) == 0;
            let (from, to) = if whole { (0.0, 36_000.0) } else { (from, to) };
            let t = Instant::now();
            std::hint::black_box(view.series(from, to, 1000));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    serde_json::json!({
        "samples": samples.len(),
        "view_build_ms": build.as_secs_f64() * 1e3,
        "count_at_median_us": median(count_at),
        "series_1000_median_ms": median(series),
    })
}

fn main() {
    let mut model = None;
    let mut db = std::env::temp_dir();
    let mut video = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--model" => model = it.next().map(PathBuf::from),
            "--db" => db = it.next().map(PathBuf::from).unwrap(),
            "--bench" => {}
            other if other.starts_with("--") => panic!("unknown option {other}"),
            path => video = Some(PathBuf::from(path)),
        }
    }
    let mut report = serde_json::json!({ "queries": query_latency() });
    if let (Some(model), Some(video)) = (model, video) {
        // The references: refinement with room for one decoded frame, so each bisection step
        // seeks and decodes its frame on its own (as refinement did before its window), and
        // the job reading alone (no second source reading the regular frames ahead).
        let one_frame = IndexerConfig {
            refine_window_mb: 0,
            read_ahead: 0,
            ..IndexerConfig::default()
        };
        let alone = IndexerConfig {
            read_ahead: 0,
            ..IndexerConfig::default()
        };
        let reference = index_speed(&model, &video, &db, one_frame);
        let alone = index_speed(&model, &video, &db, alone);
        let index = index_speed(&model, &video, &db, IndexerConfig::default());
        let total = |run: &serde_json::Value| run["total_s"].as_f64().unwrap();
        report["full_index_speedup_over_one_frame_window"] = (total(&reference) / total(&index)).into();
        report["full_index_speedup_over_reading_alone"] = (total(&alone) / total(&index)).into();
        report["index_one_frame_window"] = reference;
        report["index_reading_alone"] = alone;
        report["index"] = index;
    }
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
