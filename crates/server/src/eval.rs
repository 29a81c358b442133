//! `pigweight eval`: a detector scored on synthetic videos against their ground truth, on
//! sampled frames (counts and AP50) or through the index, as the product answers.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use pigweight_decode::{FrameSource, Read, Size, SourceConfig, Stride, VideoFile};
use pigweight_indexer::{IndexKey, IndexView, IndexerConfig, Location, Store};
use pigweight_inference::{
    CountBand, Detector, Evaluation, OnnxDetector, Scheduler, SchedulerConfig, Thresholds,
};

use crate::cli::{interval, println_json};
use crate::index::{images_of, index_file, video_input};
use crate::model::{InferenceSettings, ModelArgs};

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// Synthetic videos (from `pigweight synth video`), each with its NAME.truth.json beside it.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Score every N-th frame.
    #[arg(long, default_value_t = 5)]
    every: u64,
    /// Frames per inference batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Score the product's answer instead: index each video exactly as `serve` does (keyframes,
    /// regular and refinement passes) and compare the index's count at every frame with the
    /// truth (exact share, MAE, model runs per frame). `--every` does not apply.
    #[arg(long)]
    through_index: bool,
    /// With --through-index: longest time in seconds between neighbouring samples, as serve's
    /// --interval.
    #[arg(long, default_value_t = pigweight_indexer::IndexerConfig::default().interval, value_parser = interval)]
    interval: f64,
    /// With --through-index: regular frames a second decoder reads ahead of the indexing job,
    /// as serve's `indexer.read_ahead` (0: none).
    #[arg(long, default_value_t = pigweight_indexer::IndexerConfig::default().read_ahead)]
    read_ahead: usize,
    #[command(flatten)]
    model: ModelArgs,
}

/// Counts compared with the truth frame by frame.
#[derive(Debug, Default, Clone, Copy)]
struct CountScore {
    frames: u64,
    exact: u64,
    abs_error: u64,
    signed_error: i64,
    inferred: u64,
    seconds_of_video: f64,
    seconds_indexing: f64,
    band_held: u64,
    band_widths: u64,
}

impl CountScore {
    fn add(&mut self, counted: u32, band: CountBand, truth: u32) {
        self.frames += 1;
        self.band_held += u64::from(band.holds(truth));
        self.band_widths += u64::from(band.width());
        self.exact += u64::from(counted == truth);
        self.abs_error += u64::from(counted.abs_diff(truth));
        self.signed_error += i64::from(counted) - i64::from(truth);
    }

    fn merge(&mut self, other: &CountScore) {
        self.frames += other.frames;
        self.exact += other.exact;
        self.abs_error += other.abs_error;
        self.signed_error += other.signed_error;
        self.inferred += other.inferred;
        self.seconds_of_video += other.seconds_of_video;
        self.seconds_indexing += other.seconds_indexing;
        self.band_held += other.band_held;
        self.band_widths += other.band_widths;
    }

    fn json(&self) -> serde_json::Value {
        let per_frame = |v: f64| {
            if self.frames == 0 {
                0.0
            } else {
                v / self.frames as f64
            }
        };
        serde_json::json!({
            "frames": self.frames,
            "exact": per_frame(self.exact as f64),
            "mae": per_frame(self.abs_error as f64),
            "bias": per_frame(self.signed_error as f64),
            "band_coverage": per_frame(self.band_held as f64),
            "band_width": per_frame(self.band_widths as f64),
            "model_runs_per_frame": per_frame(self.inferred as f64),
            "seconds_indexing": self.seconds_indexing,
            "real_time_factor": self.seconds_of_video / self.seconds_indexing.max(1e-9),
        })
    }
}

/// The ground truth beside `file` (`NAME.truth.json`), refused unless it describes the video:
/// as many frames, of the same size.
fn truth_of(file: &Path, video: &dyn FrameSource) -> anyhow::Result<pigweight_synth::GroundTruth> {
    let path = file.with_extension("truth.json");
    let truth = pigweight_synth::GroundTruth::load(&path)?;
    let (frames, (width, height)) = (video.timeline().len(), video.native_size());
    let described = (truth.frames.len() as u64, truth.width, truth.height);
    if described != (frames, width, height) || truth.frame_count != frames {
        bail!(
            "{} describes {} frames of {}x{} (frame_count {}), but {} has {frames} of {width}x{height}: \
             not this video's truth",
            path.display(),
            described.0,
            described.1,
            described.2,
            truth.frame_count,
            file.display()
        );
    }
    Ok(truth)
}

/// `eval --through-index`: indexes each video as `serve` does, in a throwaway database, and
/// scores the index's count at every frame.
fn evaluate_through_index(args: &EvalArgs) -> anyhow::Result<()> {
    let detector = args.model.detector(&InferenceSettings::default(), true)?;
    let info = detector.info().clone();
    let key = IndexKey::new(&info, args.interval);
    let scheduler = Scheduler::start(detector, SchedulerConfig::default())?;
    let scratch = tempfile::tempdir()?;
    let mut store = Store::open(&scratch.path().join("index.db"))?;
    let config = IndexerConfig {
        interval: args.interval,
        read_ahead: args.read_ahead,
        ..IndexerConfig::default()
    };
    let mut pooled = CountScore::default();
    let mut videos = Vec::new();
    for file in &args.files {
        let truth = truth_of(file, &VideoFile::open(file, &SourceConfig::default())?)?;
        let started = std::time::Instant::now();
        let runs = scheduler.metrics().background.submitted;
        let (samples, input) = index_file(
            &mut store,
            file,
            &Location::plain(file),
            &key,
            config.clone(),
            &scheduler,
        )?;
        let mut score = CountScore {
            // Every model run: the samples', and the probes' where they are not samples.
            inferred: scheduler.metrics().background.submitted - runs,
            seconds_indexing: started.elapsed().as_secs_f64(),
            seconds_of_video: truth.frames.len() as f64 * f64::from(truth.fps_den) / f64::from(truth.fps_num),
            ..CountScore::default()
        };
        let view = IndexView::new(&samples, 0.25);
        // Wrong frames as runs: [first, last, counted, truth].
        let mut wrong: Vec<[u64; 4]> = Vec::new();
        for frame in &truth.frames {
            let at = view
                .count_at(frame.index, frame.time)
                .with_context(|| format!("{}: the index is empty", file.display()))?;
            let counted = at.count;
            score.add(counted, at.band, frame.count);
            if counted != frame.count {
                let (c, t) = (u64::from(counted), u64::from(frame.count));
                match wrong.last_mut() {
                    Some(run) if run[1] + 1 == frame.index && run[2] == c && run[3] == t => {
                        run[1] = frame.index
                    }
                    _ => wrong.push([frame.index, frame.index, c, t]),
                }
            }
        }
        pooled.merge(&score);
        videos.push(serde_json::json!({
            "video": file, "input_size": input.unwrap_or(info.input_size.0),
            "summary": score.json(), "wrong_runs": wrong,
        }));
    }
    println_json(&serde_json::json!({
        "model": { "path": info.path, "hash": info.hash, "input_size": info.input_size },
        "mode": "through_index",
        "interval": args.interval,
        "confidence": info.thresholds.confidence,
        "iou": info.thresholds.iou,
        "summary": pooled.json(),
        "videos": videos,
    }))
}

/// Runs the model on every `--every`-th frame of synthetic videos, through the same decode and
/// inference as the server, and scores counts and boxes against each video's ground truth:
/// per video and pooled over all of them.
pub(crate) fn evaluate(args: &EvalArgs) -> anyhow::Result<()> {
    if args.through_index {
        return evaluate_through_index(args);
    }
    /// AP is measured over the whole precision-recall curve, so keep weak detections too.
    const CURVE_CONFIDENCE: f32 = 0.001;
    if args.model.runs_on_triton() {
        bail!(
            "the sampled score (AP over the whole curve) runs the model in process; through Triton, score with --through-index"
        );
    }
    let mut detector = args.model.load()?;
    let counting = detector.info().thresholds.clone();
    detector.set_thresholds(Thresholds {
        confidence: CURVE_CONFIDENCE.min(counting.confidence),
        ..counting.clone()
    });
    let batch = detector
        .info()
        .max_batch
        .unwrap_or(args.batch)
        .clamp(1, args.batch.max(1));
    let mut pooled = Evaluation::new(counting.confidence, 0.5);
    let started = std::time::Instant::now();
    let videos = args
        .files
        .iter()
        .map(|file| evaluate_video(&mut detector, file, args.every.max(1), batch, &mut pooled))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let info = detector.info();
    println_json(&serde_json::json!({
        "model": { "path": info.path, "hash": info.hash, "input_size": info.input_size },
        "every": args.every,
        "confidence": counting.confidence,
        "iou": counting.iou,
        "seconds": started.elapsed().as_secs_f64(),
        "summary": pooled.summary(),
        "videos": videos,
    }))
}

/// Scores one video (its truth beside it as `NAME.truth.json`) into `pooled`; returns its own
/// summary and the frames whose count was wrong, with the detections it counted there.
fn evaluate_video(
    detector: &mut OnnxDetector,
    file: &Path,
    every: u64,
    batch_size: usize,
    pooled: &mut Evaluation,
) -> anyhow::Result<serde_json::Value> {
    let truth_path = file.with_extension("truth.json");
    let mut video = VideoFile::open(file, &SourceConfig::default())?;
    let truth = truth_of(file, &video)?;
    let input = video_input(detector, &mut video)?;
    let mut eval = Evaluation::new(pooled.count_confidence(), 0.5);
    let mut wrong = Vec::new();
    let mut score = |batch: &mut Vec<pigweight_decode::Frame>| -> anyhow::Result<()> {
        let images = images_of(batch.iter(), input);
        for (frame, found) in batch.iter().zip(detector.detect(&images)?) {
            // Down to the curve's confidence; the band is what the product gives at the
            // counting one.
            let detections = found.boxes;
            let band = detector
                .info()
                .band
                .apply(
                    detections.clone(),
                    pooled.count_confidence(),
                    frame.width,
                    frame.height,
                )
                .band;
            let expected = truth
                .frames
                .get(frame.index as usize)
                .with_context(|| format!("frame {} is not in {}", frame.index, truth_path.display()))?;
            let boxes: Vec<[f32; 4]> = expected
                .animals
                .iter()
                .filter(|a| a.visible_fraction >= truth.count_threshold)
                .map(|a| a.bbox)
                .collect();
            pooled.add(&detections, &boxes);
            pooled.add_band(band, expected.count);
            eval.add_band(band, expected.count);
            let counted = eval.add(&detections, &boxes);
            if counted != expected.count {
                let counted_boxes: Vec<_> = eval
                    .counted(&detections)
                    .map(|d| serde_json::json!({ "box": d.bbox, "score": d.score }))
                    .collect();
                wrong.push(serde_json::json!({
                    "index": frame.index, "time": expected.time, "truth": expected.count, "counted": counted,
                    "band": [band.low, band.high],
                    "detections": counted_boxes,
                }));
            }
        }
        batch.clear();
        Ok(())
    };
    let mut batch = Vec::with_capacity(batch_size);
    let mut failure = None;
    video.read(Read::every(Stride::Frames(every)), Size::Native, &mut |frame| {
        batch.push(frame);
        if batch.len() == batch_size
            && let Err(e) = score(&mut batch)
        {
            failure = Some(e);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    score(&mut batch)?;
    Ok(serde_json::json!({
        "video": file, "input_size": input.unwrap_or(detector.info().input_size.0),
        "summary": eval.summary(), "wrong_counts": wrong,
    }))
}
