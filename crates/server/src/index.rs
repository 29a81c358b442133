//! `pigweight index`: one video indexed to the end in this process, every pass as `serve`
//! runs it, and the helpers `eval --through-index` shares with it.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use pigweight_decode::{FrameSource, Mode, Size, SourceConfig, Target, VideoFile};
use pigweight_indexer::{
    Database, IndexKey, IndexerConfig, Job, Location, Pass, Root, Roots, Sample, Store, VideoRecord,
};
use pigweight_inference::{Detector, Image, Scheduler, SchedulerConfig};

use crate::cli::{interval, print_out, println_json};
use crate::model::{InferenceSettings, ModelArgs};

#[derive(Debug, Args)]
pub(crate) struct IndexArgs {
    file: std::path::PathBuf,
    /// The index database (made if missing): an SQLite file (`PATH` or `sqlite:PATH`) or
    /// `postgres://USER@HOST:PORT/DB`; a run stopped at any point continues from it.
    #[arg(long, alias = "database", default_value = "data/index.db")]
    db: Database,
    /// Longest time in seconds between neighbouring samples (keyframes, and frames that fill
    /// the gaps between them).
    #[arg(long, default_value_t = 1.0, value_parser = interval)]
    interval: f64,
    /// csv or json.
    #[arg(long, default_value = "csv")]
    format: SeriesFormat,
    /// Named storage roots (`NAME=PATH`, as serve's --videos): a file under one is recorded
    /// by its root and the path under it, as the cluster's processes know it, instead of by
    /// its path here.
    #[arg(long = "videos", value_delimiter = ',')]
    roots: Vec<Root>,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SeriesFormat {
    Csv,
    Json,
}

/// Indexes one file to the end in this process and prints every sample.
pub(crate) fn index(args: &IndexArgs) -> anyhow::Result<()> {
    let detector = args.model.detector(&InferenceSettings::default(), true)?;
    let key = IndexKey::new(detector.info(), args.interval);
    let scheduler = Scheduler::start(detector, SchedulerConfig::default())?;
    if let Database::Sqlite(path) = &args.db
        && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
    }
    let mut store = Store::connect(&args.db)?;
    let config = IndexerConfig {
        interval: args.interval,
        ..IndexerConfig::default()
    };
    let roots = Roots::new(args.roots.clone()).map_err(|e| anyhow::anyhow!("--videos: {e}"))?;
    let at = roots.locate(&args.file);
    let (samples, _) = index_file(&mut store, &args.file, &at, &key, config, &scheduler)?;
    match args.format {
        SeriesFormat::Json => println_json(&samples),
        SeriesFormat::Csv => {
            let mut out = String::from("time,frame,count,source,count_low,count_high\n");
            for s in samples {
                let source = serde_json::to_value(s.source)?;
                out.push_str(&format!(
                    "{:.6},{},{},{},{},{}\n",
                    s.time,
                    s.frame,
                    s.count,
                    source.as_str().unwrap_or_default(),
                    s.band.low,
                    s.band.high
                ));
            }
            print_out(&out);
            Ok(())
        }
    }
}

/// The input size `detector` runs the frames of `video` at (`None`: the model's own), chosen as
/// `serve` chooses it.
pub(crate) fn video_input(detector: &mut dyn Detector, video: &mut VideoFile) -> anyhow::Result<Option<u32>> {
    let info = detector.info().clone();
    let frames = pigweight_indexer::probe_frames(video.timeline());
    pigweight_indexer::choose_input(
        &info,
        frames,
        |i| {
            Ok(Arc::new(video.frame(
                Target::Index(i),
                Mode::Fast,
                Size::Native,
            )?))
        },
        |frames| Ok(detector.detect(&images_of(frames.iter().map(|f| &**f), None))?),
    )
    .map(|chosen| chosen.input)
}

/// Decoded frames as the model's images, to run at `input`.
pub(crate) fn images_of<'a>(
    frames: impl Iterator<Item = &'a pigweight_decode::Frame>,
    input: Option<u32>,
) -> Vec<Image<'a>> {
    frames
        .map(|f| Image {
            rgb: &f.data,
            width: f.width,
            height: f.height,
            input,
        })
        .collect()
}

/// Indexes `file` into `store` to the end, exactly as `serve` does (every pass, from where an
/// earlier run stopped); returns the index's samples and the input size its frames went in at
/// (`None`: the model's own).
pub(crate) fn index_file(
    store: &mut Store,
    file: &Path,
    at: &Location,
    key: &IndexKey,
    config: IndexerConfig,
    scheduler: &Scheduler,
) -> anyhow::Result<(Vec<Sample>, Option<u32>)> {
    let source = VideoFile::open(file, &SourceConfig::default())?;
    let record = VideoRecord::of(file, at, &source, store)?;
    let started = std::time::Instant::now();
    let reads_ahead = config.read_ahead > 0;
    let mut job = Job::open(store, &record, Box::new(source), key, config)?;
    if reads_ahead {
        job.read_ahead(Box::new(VideoFile::open(file, &SourceConfig::default())?), None);
    }
    let mut pass = job.index().pass;
    tracing::info!(
        index = job.index().id,
        ?pass,
        samples = job.samples().count(),
        "indexing"
    );
    while !matches!(pass, Pass::Done | Pass::Failed) {
        pass = job.step(store, scheduler)?.pass;
    }
    if let Some(reason) = &job.index().error {
        bail!("{} cannot be indexed: {reason}", file.display());
    }
    tracing::info!(
        samples = job.samples().count(),
        seconds = started.elapsed().as_secs_f64(),
        "indexed"
    );
    Ok((job.samples().cloned().collect(), job.input()))
}
