//! The background indexer on real videos and the real model: it finishes, fails a broken file
//! without stopping, reports progress, serves views and thumbnails, and a restart resumes
//! from the database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{scheduler, video};
use pigweight_decode::{Decoder, DecoderConfig, MemoryBudget};
use pigweight_indexer::{Database, IndexKey, IndexState, Indexer, IndexerConfig, Pass, Provenance};
use pigweight_inference::Scheduler;

/// An indexer on `db` with a decoder of 1 GiB.
fn start(db: &Database, scheduler: Arc<Scheduler>, key: IndexKey, config: IndexerConfig) -> Indexer {
    let decoder = Decoder::new(DecoderConfig::default(), MemoryBudget::new(1 << 30));
    Indexer::start(
        db,
        scheduler,
        key,
        config,
        &decoder,
        pigweight_indexer::Node::default(),
    )
    .unwrap()
}

/// Waits until a job is indexing `path` (its status then tells the file's duration).
fn wait_indexing(indexer: &Indexer, path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(
        indexer.status(path).map(|s| s.state),
        Some(IndexState::Indexing { .. })
    ) {
        assert!(Instant::now() < deadline, "{:?}", indexer.status(path));
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn wait_settled(indexer: &Indexer, paths: &[&Path]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while paths.iter().any(|p| {
        !matches!(
            indexer.status(p).map(|s| s.state),
            Some(IndexState::Done | IndexState::Failed { .. })
        )
    }) {
        assert!(Instant::now() < deadline, "{:?}", indexer.statuses());
        assert!(!indexer.has_failed());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn indexes_in_the_background_and_resumes_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let good = video(dir.path());
    let broken = dir.path().join("broken.mp4");
    std::fs::write(&broken, b"not a video at all").unwrap();
    let db = Database::Sqlite(dir.path().join("index.db"));
    let (scheduler, key) = scheduler();
    let scheduler = Arc::new(scheduler);

    let indexer = start(&db, scheduler.clone(), key.clone(), IndexerConfig::default());
    let mut events = indexer.subscribe();
    indexer.add(&broken);
    indexer.add(&good);
    wait_settled(&indexer, &[&good, &broken]);
    assert!(matches!(
        indexer.status(&broken).unwrap().state,
        IndexState::Failed { .. }
    ));
    let done = indexer.status(&good).unwrap();
    assert_eq!((done.state.clone(), done.percent), (IndexState::Done, 100.0));

    // Progress went through the passes in order.
    let mut passes = Vec::new();
    while let Ok(event) = events.try_recv() {
        if event.status.path == good
            && let IndexState::Indexing { pass } = event.status.state
            && passes.last() != Some(&pass)
        {
            passes.push(pass);
        }
    }
    // The refine pass shows only where refinement is left after the regular pass, which
    // bisects the GOPs whose keyframes disagree while it has them decoded.
    let order = [Pass::Keyframes, Pass::Regular, Pass::Refine];
    assert!(passes.len() >= 2 && order.starts_with(&passes), "{passes:?}");

    let view = indexer.view(&good).unwrap();
    let samples = view.len();
    assert_eq!(samples as u64, done.samples);
    let at = view.count_at(25, 1.0).unwrap();
    assert_eq!(at.provenance, Provenance::Indexed);
    let series = view.series(0.0, 12.0, 24);
    assert_eq!(series.len(), 24);
    assert!(series.iter().all(|b| b.min <= b.max));
    let jpeg = indexer.thumbnail(&good, 25).unwrap().unwrap();
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    // Thumbnails of 12 s (300 frames): keyframes every 2 s (6), a frame halfway between each
    // two and between the last and the end (6), and the last frame; one sheet.
    let thumbs = view.thumbnails().len();
    assert_eq!(thumbs, 13);
    let sheet = indexer.sprite_sheet(&good, 0, 80).unwrap().unwrap();
    let sheet = image::load_from_memory(&sheet).unwrap();
    assert_eq!((sheet.width(), sheet.height()), (284 * 10, 160 * 2));
    assert!(indexer.sprite_sheet(&good, 1, 80).unwrap().is_none());
    let vtt = indexer
        .sprite_vtt(&good, 12.0, &|k| format!("s{k}.jpg"))
        .unwrap()
        .unwrap();
    assert_eq!(vtt.matches(" --> ").count(), thumbs);
    assert!(
        vtt.contains("00:00:11.960 --> 00:00:12.000\ns0.jpg#xywh=568,160,284,160"),
        "{vtt}"
    );
    indexer.shutdown();

    // A restart finds the finished index: nothing is inferred again.
    let before = scheduler.metrics().background.completed;
    let indexer = start(&db, scheduler.clone(), key, IndexerConfig::default());
    indexer.add(&good);
    wait_settled(&indexer, &[&good]);
    assert_eq!(indexer.view(&good).unwrap().len(), samples);
    assert_eq!(scheduler.metrics().background.completed, before);
}

#[test]
fn a_full_disk_stops_indexing_cleanly_and_a_restart_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let good = video(dir.path());
    let db = Database::Sqlite(dir.path().join("index.db"));
    let (scheduler, key) = scheduler();
    let scheduler = Arc::new(scheduler);

    // Room for the schema and a few thumbnails, not for the whole index.
    let tiny = IndexerConfig {
        max_database_mb: Some(0),
        ..IndexerConfig::default()
    };
    let indexer = start(&db, scheduler.clone(), key.clone(), tiny);
    indexer.add(&good);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !indexer.has_failed() {
        assert!(Instant::now() < deadline, "{:?}", indexer.statuses());
        std::thread::sleep(Duration::from_millis(20));
    }
    indexer.shutdown();

    let indexer = start(&db, scheduler, key, IndexerConfig::default());
    indexer.add(&good);
    wait_settled(&indexer, &[&good]);
    assert_eq!(indexer.status(&good).unwrap().state, IndexState::Done);
}

#[test]
fn a_removed_video_stops_indexing_and_leaves_no_status() {
    let dir = tempfile::tempdir().unwrap();
    let good = video(dir.path());
    let (scheduler, key) = scheduler();
    let scheduler = Arc::new(scheduler);
    let indexer = start(
        &Database::Sqlite(dir.path().join("index.db")),
        scheduler.clone(),
        key,
        IndexerConfig::default(),
    );
    indexer.add(&good);
    wait_indexing(&indexer, &good);
    indexer.remove(&good);
    // The worker drops the job at its next turn, after the step it is in (on a loaded machine
    // that step can outlast any fixed wait); then nothing more is asked for it.
    let drained = || {
        let m = scheduler.metrics();
        let b = &m.background;
        (m.queued_background == 0 && b.completed + b.cancelled == b.submitted).then_some(b.submitted)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    let asked = loop {
        std::thread::sleep(Duration::from_millis(1000));
        let now = drained();
        if let Some(asked) = now
            && now == last
        {
            break asked;
        }
        assert!(Instant::now() < deadline, "{:?}", scheduler.metrics());
        last = now;
    };
    assert!(indexer.status(&good).is_none(), "{:?}", indexer.status(&good));
    assert!(indexer.view(&good).is_none());
    assert!(indexer.statuses().is_empty());

    // Added again, it resumes and finishes.
    indexer.add(&good);
    wait_settled(&indexer, &[&good]);
    let done = indexer.status(&good).unwrap();
    assert_eq!(done.state, IndexState::Done);
    // The removed job stopped short of the whole video (besides the keyframes its input size
    // was chosen from).
    let source =
        pigweight_decode::VideoFile::open(&good, &pigweight_decode::SourceConfig::default()).unwrap();
    let probed =
        pigweight_indexer::probe_frames(pigweight_decode::FrameSource::timeline(&source)).len() as u64;
    assert!(
        asked - probed < done.samples,
        "asked {asked} ({probed} to choose the input) of {done:?}"
    );
}

/// A file replaced while it is being indexed is indexed again as it now is: its old index's
/// status and view go at once, and what the index shows in the end is the new file's.
#[test]
fn a_video_replaced_while_it_is_indexed_is_indexed_anew() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pen.mp4");
    let render = |to: &Path, duration_s: f64, seed: u64| {
        let cfg = pigweight_synth::VideoConfig {
            width: 640,
            height: 360,
            duration_s,
            seed,
            pigs: [6, 12],
            ..pigweight_synth::VideoConfig::default()
        };
        pigweight_synth::render_video(&cfg, to).unwrap();
    };
    render(&path, 30.0, 9603);
    let shorter = dir.path().join("shorter.mp4");
    render(&shorter, 6.0, 9604);
    let (scheduler, key) = scheduler();
    let indexer = start(
        &Database::Sqlite(dir.path().join("index.db")),
        Arc::new(scheduler),
        key,
        IndexerConfig::default(),
    );
    indexer.add(&path);
    wait_indexing(&indexer, &path);
    let seconds = |d: Option<f64>| d.map(|d| (d * 10.0).round() / 10.0);
    assert_eq!(seconds(indexer.status(&path).unwrap().duration_s), Some(30.0));

    // Replaced as a copy tool does (written beside, renamed over), and told of it.
    std::fs::rename(&shorter, &path).unwrap();
    indexer.add(&path);
    let now = indexer.status(&path).unwrap();
    assert_eq!(
        (now.state, now.duration_s, now.input),
        (IndexState::Queued, None, None)
    );
    // From here on nothing of the old file shows, even from the step its job was in.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !matches!(indexer.status(&path).map(|s| s.state), Some(IndexState::Done)) {
        let status = indexer.status(&path).unwrap();
        assert!(
            matches!(seconds(status.duration_s), None | Some(6.0)),
            "{status:?}"
        );
        let view = indexer.view(&path);
        assert!(view.is_none_or(|v| v.thumbnails().iter().all(|&(f, _)| f < 150)));
        assert!(Instant::now() < deadline, "{status:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
    wait_settled(&indexer, &[&path]);
    let done = indexer.status(&path).unwrap();
    assert_eq!(
        (done.state.clone(), seconds(done.duration_s)),
        (IndexState::Done, Some(6.0))
    );
    // Samples and thumbnails of the 6 s file's 150 frames, up to its last.
    let view = indexer.view(&path).unwrap();
    assert_eq!(view.len() as u64, done.samples);
    let thumbs: Vec<u64> = view.thumbnails().iter().map(|&(frame, _)| frame).collect();
    assert_eq!(
        (thumbs.first(), thumbs.last()),
        (Some(&0), Some(&149)),
        "{thumbs:?}"
    );
}
