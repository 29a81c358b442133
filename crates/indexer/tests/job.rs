//! Indexing a real synthetic pen video with the shipped pig detector through real ONNX Runtime:
//! the passes cover what they promise, refinement pins every count change to one frame, and a
//! job stopped part-way and started again ends with exactly the rows of an uninterrupted run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{scheduler, video};
use pigweight_decode::{
    DecodeError, Frame, FrameSource, MemoryBudget, Mode, Probed, Read, Size, SourceConfig, Target, VideoFile,
};
use pigweight_indexer::{
    IndexKey, IndexerConfig, Job, Location, Pass, SamplePlan, Source, Store, VideoRecord,
};
use pigweight_inference::{Priority, Scheduler, SharedImage};
use pigweight_synth::{VideoConfig, render_video};

fn open_job(store: &mut Store, path: &Path, key: &IndexKey) -> Job {
    open_job_with(store, path, key, IndexerConfig::default())
}

fn open_job_with(store: &mut Store, path: &Path, key: &IndexKey, config: IndexerConfig) -> Job {
    let source = VideoFile::open(path, &SourceConfig::default()).unwrap();
    let record = VideoRecord::of(path, &Location::plain(path), &source, store).unwrap();
    Job::open(store, &record, Box::new(source), key, config).unwrap()
}

/// Neighbouring samples that disagree on the count are neighbouring frames.
fn assert_changes_pinned(samples: &[pigweight_indexer::Sample]) {
    for pair in samples.windows(2) {
        assert!(
            pair[0].count == pair[1].count || pair[1].frame - pair[0].frame <= 1,
            "counts {} at frame {} and {} at frame {} were not refined",
            pair[0].count,
            pair[0].frame,
            pair[1].count,
            pair[1].frame
        );
    }
}

/// The samples of a finished job, checked: some were refined, and every change is pinned.
fn refined_and_pinned(job: &Job, store: &mut Store) -> Vec<pigweight_indexer::Sample> {
    let samples = store.samples(job.index().id).unwrap();
    assert!(samples.iter().any(|s| s.source == Source::Refine));
    assert_changes_pinned(&samples);
    samples
}

fn run_to_end(job: &mut Job, store: &mut Store, scheduler: &Scheduler) -> usize {
    let mut steps = 0;
    while !matches!(job.step(store, scheduler).unwrap().pass, Pass::Done) {
        steps += 1;
        assert!(steps < 1000, "the job does not finish");
    }
    steps
}

#[test]
fn passes_cover_keyframes_regular_samples_and_pin_count_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = video(dir.path());
    let (scheduler, key) = scheduler();
    let mut store = Store::open(&dir.path().join("index.db")).unwrap();
    let mut job = open_job(&mut store, &path, &key);
    run_to_end(&mut job, &mut store, &scheduler);

    let source = VideoFile::open(&path, &SourceConfig::default()).unwrap();
    let tl = source.timeline();
    let samples = store.samples(job.index().id).unwrap();
    let frames: Vec<u64> = samples.iter().map(|s| s.frame).collect();
    let plan = SamplePlan::new(tl, IndexerConfig::default().interval);
    for k in plan.keyframes.iter().chain(&plan.regular) {
        assert!(frames.contains(k), "planned frame {k} missing");
    }
    // Keyframes and regular samples leave no gap longer than the interval (1 s) plus a frame,
    // and reach the last frame.
    let coarse: Vec<f64> = samples
        .iter()
        .filter(|s| s.source != Source::Refine)
        .map(|s| s.time)
        .collect();
    let frame = tl.time(1).unwrap();
    for pair in coarse.windows(2) {
        assert!(pair[1] - pair[0] <= 1.0 + frame + 1e-9, "samples at {pair:?} s");
    }
    assert_eq!(frames.last(), Some(&(tl.len() - 1)));
    assert_changes_pinned(&samples);
    assert!(
        samples.iter().any(|s| s.source == Source::Refine),
        "nothing to refine in 12 s?"
    );
    for s in &samples {
        assert_eq!(s.count as usize, s.detections.len());
        assert!((s.time - tl.time(s.frame).unwrap()).abs() < 1e-9);
    }
    // Every detection belongs to a track, and the animals keep their ids from one sample to
    // the next (the pen's pigs stay; a few ids change where one is missed or one appears).
    assert!(
        samples
            .iter()
            .flat_map(|s| &s.detections)
            .all(|d| d.track.is_some())
    );
    let (mut kept, mut total) = (0, 0);
    for pair in samples.windows(2) {
        let before: Vec<Option<u32>> = pair[0].detections.iter().map(|d| d.track).collect();
        total += pair[1].detections.len();
        kept += pair[1]
            .detections
            .iter()
            .filter(|d| before.contains(&d.track))
            .count();
    }
    assert!(
        kept * 10 >= total * 9,
        "only {kept} of {total} detections kept their track"
    );
    let ids: std::collections::HashSet<u32> = samples
        .iter()
        .flat_map(|s| &s.detections)
        .filter_map(|d| d.track)
        .collect();
    let most = samples.iter().map(|s| s.detections.len()).max().unwrap();
    assert!(
        ids.len() <= most * 2,
        "{} tracks for at most {most} pigs at once",
        ids.len()
    );
    // Every keyframe and regular sample has its thumbnail, 160 px high.
    for s in samples.iter().filter(|s| s.source != Source::Refine) {
        let jpeg = store
            .thumbnail(job.index().video_id, s.frame)
            .unwrap()
            .expect("thumbnail");
        let img = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((img.width(), img.height()), (284, 160));
    }
}

/// The regular pass decodes each GOP whose keyframes disagree on the count once and bisects it
/// while it has it: when the pass ends, every change between those keyframes is pinned to a
/// frame, and the samples it made there are those a refine pass would have made.
/// A video whose pigs are small in the frame is indexed at the model's larger input, one of big
/// pigs and an empty pen at its own; the samples are what the model finds at the chosen input.
#[test]
fn small_pigs_are_indexed_at_the_larger_input() {
    let dir = tempfile::tempdir().unwrap();
    let (scheduler, key) = scheduler();
    let rule = scheduler
        .info()
        .small_objects
        .expect("the sample model has a larger input for small pigs");
    let mut store = Store::open(&dir.path().join("index.db")).unwrap();
    let videos = [
        ("far", [8, 14], [0.11, 0.15], Some(rule.size)),
        ("near", [3, 6], [0.32, 0.42], None),
        ("empty", [0, 0], [0.2, 0.3], None),
    ];
    for (i, (name, pigs, pig_length, expected)) in videos.into_iter().enumerate() {
        let path = dir.path().join(format!("{name}.mp4"));
        let config = VideoConfig {
            width: 960,
            height: 540,
            duration_s: 4.0,
            seed: 9620 + i as u64,
            pigs,
            pig_length,
            ..VideoConfig::default()
        };
        render_video(&config, &path).unwrap();
        let mut job = open_job(&mut store, &path, &key);
        assert_eq!(job.input(), None, "chosen before the first step");
        let started = scheduler.metrics().background.submitted;
        // Through the keyframes pass (a step leaves its keyframes at the model for the next to
        // store; the regular pass's steps store all they infer).
        while job.step(&mut store, &scheduler).unwrap().pass == Pass::Keyframes {}
        assert_eq!(job.input(), expected, "{name}");
        // The choice is kept with the index: the job opened again (a restart, another worker)
        // goes on at it without running the model on the probes again.
        assert_eq!(job.index().input, Some(expected), "{name}");
        let submitted = || scheduler.metrics().background.submitted;
        let samples = |store: &mut Store| store.samples(job.index().id).unwrap().len();
        // The probes are the first keyframes' samples where the model's own input stays: the
        // model ran once per sample. At the larger input, they are five runs more.
        let probes = match expected {
            Some(_) => {
                let source = VideoFile::open(&path, &SourceConfig::default()).unwrap();
                pigweight_indexer::probe_frames(source.timeline()).len()
            }
            None => 0,
        };
        assert_eq!(
            submitted() - started,
            (samples(&mut store) + probes) as u64,
            "{name}: model runs of the keyframes pass"
        );
        let (runs, held) = (submitted(), samples(&mut store));
        let mut again = open_job(&mut store, &path, &key);
        assert_eq!(again.index().input, Some(expected), "{name}: read back");
        again.step(&mut store, &scheduler).unwrap();
        assert_eq!(again.input(), expected, "{name}");
        assert_eq!(
            submitted() - runs,
            (samples(&mut store) - held) as u64,
            "{name}: the model ran on the step's new samples alone"
        );

        // The first keyframe's sample is the model's answer at that input.
        let sample = store.samples(job.index().id).unwrap().remove(0);
        let mut source = VideoFile::open(&path, &SourceConfig::default()).unwrap();
        let frame = source
            .frame(Target::Index(sample.frame), Mode::Fast, Size::Native)
            .unwrap();
        let image = SharedImage {
            width: frame.width,
            height: frame.height,
            input: expected,
            pixels: Arc::new(frame),
        };
        let found = scheduler.detect_blocking(image, Priority::Background).unwrap();
        let stored: Vec<[f32; 4]> = sample.detections.iter().map(|d| d.bbox).collect();
        let direct: Vec<[f32; 4]> = found.boxes.iter().map(|d| d.bbox).collect();
        assert_eq!(stored, direct, "{name}");
    }
}

#[test]
fn the_regular_pass_pins_the_changes_between_disagreeing_keyframes() {
    let dir = tempfile::tempdir().unwrap();
    let path = video(dir.path());
    let (scheduler, key) = scheduler();
    let mut store = Store::open(&dir.path().join("index.db")).unwrap();
    let mut job = open_job(&mut store, &path, &key);
    let mut after_regular = None;
    loop {
        let progress = job.step(&mut store, &scheduler).unwrap();
        if progress.pass == Pass::Regular && progress.done == progress.total {
            after_regular = Some(store.samples(job.index().id).unwrap());
        }
        if progress.pass == Pass::Done {
            break;
        }
    }
    let after_regular = after_regular.expect("the regular pass ended");
    let keyframes: Vec<_> = after_regular
        .iter()
        .filter(|s| s.source == Source::Keyframe)
        .collect();
    let mut gops = 0;
    for pair in keyframes.windows(2).filter(|p| p[0].count != p[1].count) {
        gops += 1;
        let inside: Vec<_> = after_regular
            .iter()
            .filter(|s| (pair[0].frame..=pair[1].frame).contains(&s.frame))
            .cloned()
            .collect();
        assert!(inside.iter().any(|s| s.source == Source::Refine));
        assert_changes_pinned(&inside);
    }
    assert!(gops > 0, "no keyframes disagree in 12 s?");
    // The finished index holds the same samples there: refinement added only elsewhere.
    let all = refined_and_pinned(&job, &mut store);
    for s in &after_regular {
        assert!(
            all.iter()
                .any(|t| (t.frame, t.count, t.source) == (s.frame, s.count, s.source))
        );
    }

    // With room for one decoded frame only (no GOP fits: refinement decodes a frame per
    // bisection step, in the refine pass) every change is pinned too, at the same frames.
    let mut store = Store::open(&dir.path().join("one-frame.db")).unwrap();
    let config = IndexerConfig {
        refine_window_mb: 0,
        ..IndexerConfig::default()
    };
    let mut job = open_job_with(&mut store, &path, &key, config);
    run_to_end(&mut job, &mut store, &scheduler);
    let one_frame = refined_and_pinned(&job, &mut store);
    let changes = |samples: &[pigweight_indexer::Sample]| -> Vec<(u64, u32, u32)> {
        samples
            .windows(2)
            .filter(|p| p[0].count != p[1].count)
            .map(|p| (p[1].frame, p[0].count, p[1].count))
            .collect()
    };
    assert_eq!(changes(&all), changes(&one_frame));
}

/// Windows reserved from a memory budget are given back after each step, and a budget with no
/// room beside what must stay free gives one-frame windows that still pin every change.
#[test]
fn refinement_windows_come_out_of_the_memory_budget_and_go_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = video(dir.path());
    let (scheduler, key) = scheduler();
    for (limit, keep_free) in [(1u64 << 30, 0u64), (64 << 20, 64 << 20)] {
        let budget = MemoryBudget::new(limit);
        let mut store = Store::open(&dir.path().join(format!("index-{keep_free}.db"))).unwrap();
        let mut job =
            open_job(&mut store, &path, &key).with_memory(std::sync::Arc::clone(&budget), keep_free);
        run_to_end(&mut job, &mut store, &scheduler);
        assert_eq!(budget.used(), 0, "a window was not given back");
        refined_and_pinned(&job, &mut store);
    }
}

#[test]
fn a_stopped_job_resumes_without_gaps_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let path = video(dir.path());
    let (scheduler, key) = scheduler();

    let straight = {
        let mut store = Store::open(&dir.path().join("straight.db")).unwrap();
        let mut job = open_job(&mut store, &path, &key);
        run_to_end(&mut job, &mut store, &scheduler);
        store.samples(job.index().id).unwrap()
    };

    let db = dir.path().join("resumed.db");
    // Stop after a few steps in each pass: dropping everything, as a killed process would.
    for stop_after in [1, 3, 5] {
        let mut store = Store::open(&db).unwrap();
        let mut job = open_job(&mut store, &path, &key);
        for _ in 0..stop_after {
            job.step(&mut store, &scheduler).unwrap();
        }
    }
    let mut store = Store::open(&db).unwrap();
    let mut job = open_job(&mut store, &path, &key);
    run_to_end(&mut job, &mut store, &scheduler);
    let resumed = store.samples(job.index().id).unwrap();
    assert_eq!(resumed.len(), straight.len());
    for (a, b) in resumed.iter().zip(&straight) {
        assert_eq!((a.frame, a.count, a.source), (b.frame, b.count, b.source));
    }
}

/// A source that counts the frames asked of it, and fails from the `.2`-th on.
#[derive(Debug)]
struct Counted(VideoFile, Arc<AtomicUsize>, usize);

impl FrameSource for Counted {
    fn probed(&self) -> &Arc<Probed> {
        self.0.probed()
    }
    fn frame(&mut self, target: Target, mode: Mode, size: Size) -> Result<Frame, DecodeError> {
        if self.1.fetch_add(1, Ordering::Relaxed) >= self.2 {
            return Err(DecodeError::Pipeline("broken on purpose".into()));
        }
        self.0.frame(target, mode, size)
    }
    fn read(
        &mut self,
        read: Read,
        size: Size,
        each: &mut dyn FnMut(Frame) -> ControlFlow<()>,
    ) -> Result<(), DecodeError> {
        self.0.read(read, size, each)
    }
}

/// A second source reads the regular frames ahead: the index is the same, frame for frame
/// and box for box, with every sample's thumbnail, the model runs no more often, and the
/// source's memory goes back when the regular pass ends. A second source that breaks part-way
/// leaves the rest to the job, with the same index. (The thread reads the GOPs whose keyframes
/// disagree in turn with the job, whole, and the job bisects on them.)
#[test]
fn regular_frames_read_ahead_make_the_same_index_with_no_model_run_more() {
    let dir = tempfile::tempdir().unwrap();
    let path = video(dir.path());
    let (scheduler, key) = scheduler();
    let runs = || scheduler.metrics().background.submitted;
    let (alone, alone_runs) = {
        let mut store = Store::open(&dir.path().join("alone.db")).unwrap();
        let mut job = open_job(&mut store, &path, &key);
        let before = runs();
        run_to_end(&mut job, &mut store, &scheduler);
        (store.samples(job.index().id).unwrap(), runs() - before)
    };

    for fails_after in [usize::MAX, 3] {
        let budget = MemoryBudget::new(1 << 30);
        let asked = Arc::new(AtomicUsize::new(0));
        let second = Counted(
            VideoFile::open(&path, &SourceConfig::default()).unwrap(),
            Arc::clone(&asked),
            fails_after,
        );
        let mut store = Store::open(&dir.path().join(format!("ahead-{fails_after}.db"))).unwrap();
        let mut job = open_job(&mut store, &path, &key);
        job.read_ahead(Box::new(second), budget.try_reserve(64 << 20));
        let before = runs();
        loop {
            let progress = job.step(&mut store, &scheduler).unwrap();
            match progress.pass {
                Pass::Keyframes => {
                    assert_eq!(asked.load(Ordering::Relaxed), 0, "read ahead of the regular pass")
                }
                Pass::Regular => {}
                _ => assert_eq!(budget.used(), 0, "the second source's memory was not given back"),
            }
            if progress.pass == Pass::Done {
                break;
            }
        }
        assert!(asked.load(Ordering::Relaxed) > 3, "nothing was read ahead");
        if fails_after == usize::MAX {
            // More frames than the regular ones: GOPs whose keyframes disagree were read whole.
            let regular = alone.iter().filter(|s| s.source == Source::Regular).count();
            assert!(
                asked.load(Ordering::Relaxed) > regular,
                "no GOP was read ahead whole"
            );
        }
        let ahead = store.samples(job.index().id).unwrap();
        assert_eq!(runs() - before, alone_runs, "model runs");
        assert_eq!(ahead.len(), alone.len());
        for (a, b) in ahead.iter().zip(&alone) {
            assert_eq!(
                (a.frame, a.count, a.source, a.band),
                (b.frame, b.count, b.source, b.band)
            );
            let boxes =
                |s: &pigweight_indexer::Sample| s.detections.iter().map(|d| d.bbox).collect::<Vec<_>>();
            assert_eq!(boxes(a), boxes(b), "frame {}", a.frame);
            if a.source != Source::Refine {
                assert!(
                    store.thumbnail(job.index().video_id, a.frame).unwrap().is_some(),
                    "no thumbnail at frame {}",
                    a.frame
                );
            }
        }
    }
}
