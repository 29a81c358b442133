//! Decode benchmarks: what one open video costs per operation, on real files.
//!
//! For each file given, with a fixed-seed plan of targets: random exact seeks by index, 0.2 s
//! forward scrub steps, keyframe (fast) seeks at random times, sequential decode, keyframes-only
//! reads, and cache hits through [`Decoder`]. Individual operations are timed, so the figures are
//! medians and 95th percentiles, not means; that is why this is a plain `main` and not criterion.
//!
//! The plan (every target index) goes into the JSON output, so `bench/reference.py` can time the
//! Python prototype's approach on exactly the same targets. Before timing, one untimed sequential
//! pass hashes the frames that seeks will land on, so every timed frame is also checked to be the
//! right one.
//!
//! ```text
//! cargo bench -p pigweight-decode --bench decode -- [--json OUT.json] [--frames-dir DIR]
//!     [--seeks N] [--seed S] FILE...
//! ```
//! Files and the JSON path may also come from `PIGWEIGHT_BENCH_FILES` (colon-separated) and
//! `PIGWEIGHT_BENCH_JSON`.

// A bench binary reports on stdout and should stop on the spot when anything fails.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pigweight_decode::{
    Decoder, DecoderConfig, Frame, FrameSource, MemoryBudget, Mode, Read, Size, SourceConfig, Stride, Target,
    VideoFile,
};
use rand::{RngExt, SeedableRng};
use serde::Serialize;

/// Scrub: sequences of this many 0.2 s steps, each from a random start.
const SCRUB_STEP_S: f64 = 0.2;
const SCRUB_STEPS: usize = 15;
/// Repetitions of whole-file reads; the median run is reported.
const READ_RUNS: usize = 3;
const CACHE_HITS: usize = 1000;
/// Frames dumped (subsampled) for the cross-check against OpenCV and PyAV.
const CHECK_FRAMES: usize = 4;
const CHECK_SUBSAMPLE: usize = 4;

struct Args {
    files: Vec<PathBuf>,
    json: Option<PathBuf>,
    frames_dir: Option<PathBuf>,
    seeks: usize,
    seed: u64,
    /// `--decode-all`: decode every frame on the way to a target (no non-reference skipping).
    decode_all: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        files: Vec::new(),
        json: std::env::var_os("PIGWEIGHT_BENCH_JSON").map(PathBuf::from),
        frames_dir: None,
        seeks: 60,
        seed: 7,
        decode_all: false,
    };
    if let Some(files) = std::env::var_os("PIGWEIGHT_BENCH_FILES") {
        args.files.extend(std::env::split_paths(&files));
    }
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => args.json = Some(it.next().expect("--json PATH").into()),
            "--frames-dir" => args.frames_dir = Some(it.next().expect("--frames-dir DIR").into()),
            "--seeks" => args.seeks = it.next().expect("--seeks N").parse().expect("--seeks N"),
            "--decode-all" => args.decode_all = true,
            "--seed" => args.seed = it.next().expect("--seed S").parse().expect("--seed S"),
            // cargo bench adds `--bench`; a filter word from `cargo bench NAME` is a file only if it exists.
            s if s.starts_with("--") => {}
            s => {
                if Path::new(s).exists() {
                    args.files.push(s.into());
                }
            }
        }
    }
    args
}

#[derive(Debug, Serialize)]
struct Summary {
    n: usize,
    median: f64,
    p95: f64,
    mean: f64,
    min: f64,
    max: f64,
}

/// Nearest-rank percentiles of `xs` (any unit).
fn summarize(xs: &[f64]) -> Summary {
    assert!(!xs.is_empty());
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = |p: f64| s[((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
    Summary {
        n: s.len(),
        median: if s.len() % 2 == 1 {
            s[s.len() / 2]
        } else {
            (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
        },
        p95: rank(0.95),
        mean: s.iter().sum::<f64>() / s.len() as f64,
        min: s[0],
        max: s[s.len() - 1],
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn hash(data: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

/// Targets of every measurement, chosen up front so another program can replay them.
#[derive(Debug, Serialize)]
struct Plan {
    seed: u64,
    random_indices: Vec<u64>,
    /// Each sequence: the frame index of every `frame(Time(t0 + k * 0.2))`, k = 0..=SCRUB_STEPS.
    scrub_times: Vec<Vec<f64>>,
    scrub_indices: Vec<Vec<u64>>,
    keyframe_times: Vec<f64>,
    /// The keyframe at or before each of `keyframe_times`.
    keyframe_indices: Vec<u64>,
    check_indices: Vec<u64>,
}

fn make_plan(video: &VideoFile, seeks: usize, seed: u64) -> Plan {
    let tl = video.timeline();
    let duration = video.info().duration;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let random_indices: Vec<u64> = (0..seeks).map(|_| rng.random_range(0..tl.len())).collect();
    let span = SCRUB_STEP_S * SCRUB_STEPS as f64;
    let sequences = seeks.div_ceil(SCRUB_STEPS);
    let scrub_times: Vec<Vec<f64>> = (0..sequences)
        .map(|_| {
            let t0 = rng.random_range(0.0..(duration - span - 0.1).max(0.01));
            (0..=SCRUB_STEPS).map(|k| t0 + k as f64 * SCRUB_STEP_S).collect()
        })
        .collect();
    let scrub_indices = scrub_times
        .iter()
        .map(|ts| ts.iter().map(|&t| tl.index_at(t).unwrap()).collect())
        .collect();
    let keyframe_times: Vec<f64> = (0..seeks).map(|_| rng.random_range(0.0..duration)).collect();
    let keyframe_indices = keyframe_times
        .iter()
        .map(|&t| tl.keyframe_at_or_before(tl.index_at(t).unwrap()))
        .collect();
    let check_indices = random_indices.iter().copied().take(CHECK_FRAMES).collect();
    Plan {
        seed,
        random_indices,
        scrub_times,
        scrub_indices,
        keyframe_times,
        keyframe_indices,
        check_indices,
    }
}

#[derive(Debug, Serialize)]
struct SeekSample {
    index: u64,
    /// Frames from the keyframe at or before the target to the target.
    from_keyframe: u64,
    ms: f64,
}

#[derive(Debug, Serialize)]
struct ReadRuns {
    frames: u64,
    /// Seconds per run.
    runs_s: Vec<f64>,
    median_s: f64,
}

impl ReadRuns {
    fn fps(&self) -> f64 {
        self.frames as f64 / self.median_s
    }
}

#[derive(Debug, Serialize)]
struct FileReport {
    file: String,
    path: PathBuf,
    width: u32,
    height: u32,
    frames: u64,
    duration_s: f64,
    fps: f64,
    keyframes: u64,
    max_gop: u64,
    open_ms: f64,
    /// Failed attempts before `VideoFile::open` succeeded (should be empty).
    open_failures: Vec<String>,
    sequential: ReadRuns,
    sequential_fps: f64,
    sequential_ms_per_frame: f64,
    keyframes_read: ReadRuns,
    keyframes_per_s: f64,
    keyframes_video_s_per_s: f64,
    random_exact: Vec<SeekSample>,
    random_exact_ms: Summary,
    scrub_first_ms: Vec<f64>,
    scrub_steps: Vec<SeekSample>,
    scrub_step_ms: Summary,
    /// Median frames advanced per scrub step.
    scrub_median_advance: f64,
    /// Median sequential ms per frame times `scrub_median_advance`.
    scrub_sequential_equivalent_ms: f64,
    scrub_vs_sequential: f64,
    keyframe_seek: Vec<SeekSample>,
    keyframe_seek_ms: Summary,
    cache_miss_ms: f64,
    cache_hit_us: Summary,
    /// Frames whose pixels differ from the same frame of the sequential pass (should be 0).
    mismatches: u64,
    plan: Plan,
    check_frames: Vec<CheckFrame>,
}

/// A frame dumped for the cross-check: raw RGB, every `CHECK_SUBSAMPLE`-th pixel and row.
#[derive(Debug, Serialize)]
struct CheckFrame {
    index: u64,
    path: PathBuf,
    width: usize,
    height: usize,
}

fn subsample(frame: &Frame) -> (Vec<u8>, usize, usize) {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let (sw, sh) = (w.div_ceil(CHECK_SUBSAMPLE), h.div_ceil(CHECK_SUBSAMPLE));
    let mut out = Vec::with_capacity(sw * sh * 3);
    for y in (0..h).step_by(CHECK_SUBSAMPLE) {
        for x in (0..w).step_by(CHECK_SUBSAMPLE) {
            out.extend_from_slice(&frame.data[(y * w + x) * 3..][..3]);
        }
    }
    (out, sw, sh)
}

fn time_read(video: &mut VideoFile, read: Read) -> ReadRuns {
    let mut runs_s = Vec::new();
    let mut frames = 0;
    for _ in 0..READ_RUNS {
        let mut n = 0u64;
        let started = Instant::now();
        video
            .read(read, Size::Native, &mut |f| {
                std::hint::black_box(&f);
                n += 1;
                ControlFlow::Continue(())
            })
            .unwrap();
        runs_s.push(started.elapsed().as_secs_f64());
        if frames != 0 {
            assert_eq!(n, frames, "runs read different frame counts");
        }
        frames = n;
    }
    let median_s = summarize(&runs_s).median;
    ReadRuns {
        frames,
        runs_s,
        median_s,
    }
}

fn bench_file(path: &Path, args: &Args) -> FileReport {
    let config = SourceConfig {
        skip_non_reference: !args.decode_all,
        ..SourceConfig::default()
    };
    // Opening sometimes fails with a spurious "typefind stopped reading the file" (see
    // bench/RESULTS.md); retry, and count it so the report shows it.
    let mut open_failures = Vec::new();
    let (mut video, open_ms) = loop {
        let started = Instant::now();
        match VideoFile::open(path, &config) {
            Ok(video) => break (video, ms(started.elapsed())),
            Err(e) if open_failures.len() < 3 => {
                open_failures.push(format!("{e} (after {:.0} ms)", ms(started.elapsed())));
            }
            Err(e) => panic!("{}: {e} (after {open_failures:?})", path.display()),
        }
    };
    let info = video.info().clone();
    let plan = make_plan(&video, args.seeks, args.seed);
    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
    let from_keyframe = |video: &VideoFile, i: u64| i - video.timeline().keyframe_at_or_before(i);

    // Untimed: hash every frame a timed operation will land on, and dump the check frames.
    let mut wanted: BTreeSet<u64> = plan.random_indices.iter().copied().collect();
    wanted.extend(plan.scrub_indices.iter().flatten());
    wanted.extend(&plan.keyframe_indices);
    let mut expected: HashMap<u64, u64> = HashMap::new();
    let mut check_frames = Vec::new();
    video
        .read(Read::all(), Size::Native, &mut |f| {
            if wanted.contains(&f.index) {
                expected.insert(f.index, hash(&f.data));
            }
            if let (Some(dir), true) = (&args.frames_dir, plan.check_indices.contains(&f.index)) {
                let (data, width, height) = subsample(&f);
                let out = dir.join(format!("{stem}.ours.{}.rgb", f.index));
                std::fs::write(&out, data).unwrap();
                check_frames.push(CheckFrame {
                    index: f.index,
                    path: out,
                    width,
                    height,
                });
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(expected.len(), wanted.len(), "the sequential pass missed frames");
    let mut mismatches = 0u64;
    let mut check = |f: &Frame, index: u64| {
        assert_eq!(f.index, index, "asked for frame {index}, got {}", f.index);
        if expected[&index] != hash(&f.data) {
            mismatches += 1;
        }
    };

    let sequential = time_read(&mut video, Read::all());
    assert_eq!(sequential.frames, info.frame_count);
    let seq_ms_per_frame = sequential.median_s * 1e3 / sequential.frames as f64;

    // Random exact seeks; the first one (from wherever the reads left the pipeline) warms up.
    video
        .frame(Target::Index(info.frame_count / 2), Mode::Exact, Size::Native)
        .unwrap();
    let mut random_exact = Vec::new();
    for &index in &plan.random_indices {
        let started = Instant::now();
        let f = video
            .frame(Target::Index(index), Mode::Exact, Size::Native)
            .unwrap();
        let ms = ms(started.elapsed());
        check(&f, index);
        random_exact.push(SeekSample {
            index,
            from_keyframe: from_keyframe(&video, index),
            ms,
        });
    }

    // Scrub: the first frame of each sequence is a seek, the rest are the steps.
    let mut scrub_first_ms = Vec::new();
    let mut scrub_steps = Vec::new();
    let mut advances = Vec::new();
    for (times, indices) in plan.scrub_times.iter().zip(&plan.scrub_indices) {
        for (k, (&t, &index)) in times.iter().zip(indices).enumerate() {
            let started = Instant::now();
            let f = video.frame(Target::Time(t), Mode::Exact, Size::Native).unwrap();
            let ms = ms(started.elapsed());
            check(&f, index);
            if k == 0 {
                scrub_first_ms.push(ms);
            } else {
                advances.push((index - indices[k - 1]) as f64);
                scrub_steps.push(SeekSample {
                    index,
                    from_keyframe: from_keyframe(&video, index),
                    ms,
                });
            }
        }
    }
    let scrub_step_ms = summarize(&scrub_steps.iter().map(|s| s.ms).collect::<Vec<_>>());
    let scrub_median_advance = summarize(&advances).median;
    let scrub_sequential_equivalent_ms = seq_ms_per_frame * scrub_median_advance;

    let mut keyframe_seek = Vec::new();
    for (&t, &index) in plan.keyframe_times.iter().zip(&plan.keyframe_indices) {
        let started = Instant::now();
        let f = video.frame(Target::Time(t), Mode::Fast, Size::Native).unwrap();
        let ms = ms(started.elapsed());
        check(&f, index);
        keyframe_seek.push(SeekSample {
            index,
            from_keyframe: 0,
            ms,
        });
    }

    let keyframes_read = time_read(&mut video, Read::every(Stride::Keyframes));
    assert_eq!(keyframes_read.frames, info.keyframe_count);
    drop(video);

    // Cache hits: one miss fills the entry, then the same frame again and again.
    let decoder = Decoder::new(DecoderConfig::default(), MemoryBudget::new(1 << 30));
    let index = plan.random_indices[0];
    let get = || {
        decoder
            .frame(path, Target::Index(index), Mode::Exact, Size::Native)
            .unwrap()
    };
    let (first, cache_miss_ms) = loop {
        let started = Instant::now();
        match decoder.frame(path, Target::Index(index), Mode::Exact, Size::Native) {
            Ok(frame) => break (frame, ms(started.elapsed())),
            Err(e) if open_failures.len() < 6 => {
                open_failures.push(format!("{e} (after {:.0} ms)", ms(started.elapsed())));
            }
            Err(e) => panic!("{}: {e} (after {open_failures:?})", path.display()),
        }
    };
    check(&first, index);
    let hits: Vec<f64> = (0..CACHE_HITS)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(get());
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    let stats = decoder.stats();
    assert_eq!(stats.cache_hits, CACHE_HITS as u64, "cache hits");

    let random_exact_ms = summarize(&random_exact.iter().map(|s| s.ms).collect::<Vec<_>>());
    let keyframe_seek_ms = summarize(&keyframe_seek.iter().map(|s| s.ms).collect::<Vec<_>>());
    FileReport {
        file: path.file_name().unwrap().to_string_lossy().into_owned(),
        path: path.to_owned(),
        width: info.width,
        height: info.height,
        frames: info.frame_count,
        duration_s: info.duration,
        fps: info.fps,
        keyframes: info.keyframe_count,
        max_gop: info.max_gop,
        open_ms,
        open_failures,
        sequential_fps: sequential.fps(),
        sequential_ms_per_frame: seq_ms_per_frame,
        sequential,
        keyframes_per_s: keyframes_read.fps(),
        keyframes_video_s_per_s: info.duration / keyframes_read.median_s,
        keyframes_read,
        random_exact,
        random_exact_ms,
        scrub_first_ms,
        scrub_vs_sequential: scrub_step_ms.median / scrub_sequential_equivalent_ms,
        scrub_steps,
        scrub_step_ms,
        scrub_median_advance,
        scrub_sequential_equivalent_ms,
        keyframe_seek,
        keyframe_seek_ms,
        cache_miss_ms,
        cache_hit_us: summarize(&hits),
        mismatches,
        plan,
        check_frames,
    }
}

fn print_table(reports: &[FileReport]) {
    println!(
        "| file | size | GOP | exact seek median / p95 (ms) | scrub step median (ms) | scrub / sequential | keyframe seek median / p95 (ms) | sequential (fps) | keyframes-only (kf/s; video s/s) | cache hit median / p95 (µs) | mismatches |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in reports {
        println!(
            "| {} | {}x{} | {} | {:.1} / {:.1} | {:.2} | {:.2} | {:.2} / {:.2} | {:.0} | {:.0}; {:.0} | {:.1} / {:.1} | {} |",
            r.file,
            r.width,
            r.height,
            r.max_gop,
            r.random_exact_ms.median,
            r.random_exact_ms.p95,
            r.scrub_step_ms.median,
            r.scrub_vs_sequential,
            r.keyframe_seek_ms.median,
            r.keyframe_seek_ms.p95,
            r.sequential_fps,
            r.keyframes_per_s,
            r.keyframes_video_s_per_s,
            r.cache_hit_us.median,
            r.cache_hit_us.p95,
            r.mismatches,
        );
    }
}

fn main() {
    let args = parse_args();
    if args.files.is_empty() {
        println!("decode bench: no input files (pass paths, or set PIGWEIGHT_BENCH_FILES); nothing to do");
        return;
    }
    if let Some(dir) = &args.frames_dir {
        std::fs::create_dir_all(dir).unwrap();
    }
    let mut reports = Vec::new();
    for path in &args.files {
        println!("decode bench: {}", path.display());
        reports.push(bench_file(path, &args));
    }
    print_table(&reports);
    if let Some(json) = &args.json {
        let doc = serde_json::json!({
            "tool": "pigweight-decode bench",
            "source_config": format!("{:?}", SourceConfig::default()),
            "files": reports,
        });
        std::fs::write(json, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        println!("decode bench: wrote {}", json.display());
    }
}
