//! The `pigweight` binary: serves the API, and exposes the libraries to people and scripts
//! (`probe`, `frame`, `synth`). It is the only place that reads flags and the environment and
//! installs a log subscriber.

mod library;
mod serve;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use pigweight_decode::{FrameSource, Mode, Size, SourceConfig, Target, VideoFile};
use pigweight_inference::{Detector, Device, Image, ModelConfig, OnnxDetector, Thresholds};
use pigweight_synth::{Container, DatasetConfig, VideoConfig};

#[derive(Debug, Parser)]
#[command(name = "pigweight", version, about = "Counts pigs in farm video.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API and the player.
    Serve(serve::ServeArgs),
    /// Print what a video file is (container, codec, size, duration, exact frame count) as JSON.
    Probe { file: PathBuf },
    /// Write one frame of a video losslessly as PNG.
    Frame(FrameArgs),
    /// Run a detector on one frame and print the detections as JSON.
    Detect(DetectArgs),
    /// Make synthetic pig-pen videos and datasets with exact ground truth.
    #[command(subcommand)]
    Synth(SynthCommand),
}

#[derive(Debug, Args)]
struct FrameArgs {
    file: PathBuf,
    /// The frame on screen at this many seconds after the first frame.
    #[arg(long, conflicts_with = "index", required_unless_present = "index")]
    t: Option<f64>,
    /// The frame at this position (0 is the first).
    #[arg(long)]
    index: Option<u64>,
    /// The keyframe at or before it instead (cheap; what scrubbing shows).
    #[arg(long)]
    fast: bool,
    /// Scale to this width (height follows the aspect ratio).
    #[arg(long)]
    width: Option<u32>,
    /// Output PNG file.
    #[arg(short, long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct DetectArgs {
    file: PathBuf,
    /// The YOLO model (.onnx), e.g. an Ultralytics export.
    #[arg(long)]
    model: PathBuf,
    /// The frame on screen at this many seconds after the first frame.
    #[arg(long, conflicts_with = "index", required_unless_present = "index")]
    t: Option<f64>,
    /// The frame at this position (0 is the first).
    #[arg(long)]
    index: Option<u64>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Minimum confidence.
    #[arg(long, default_value_t = 0.25)]
    conf: f32,
    /// NMS overlap threshold.
    #[arg(long, default_value_t = 0.7)]
    iou: f32,
    /// Count only this class (name or id); repeat for several.
    #[arg(long = "class")]
    classes: Vec<String>,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// Where ONNX Runtime's library is.
#[derive(Debug, Args)]
struct RuntimeArgs {
    /// libonnxruntime.so (1.31); default: .ort/lib from `make setup`, here or beside the binary.
    #[arg(long = "ort-lib", env = "ORT_DYLIB_PATH")]
    ort_lib: Option<PathBuf>,
}

impl RuntimeArgs {
    fn library(&self) -> PathBuf {
        const LIB: &str = ".ort/lib/libonnxruntime.so.1.31.1";
        if let Some(path) = &self.ort_lib {
            return path.clone();
        }
        // target/{debug,release}/pigweight -> the checkout's .ort/lib.
        let beside_binary = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent()?.parent()?.parent().map(|root| root.join(LIB)));
        [Some(PathBuf::from(LIB)), beside_binary]
            .into_iter()
            .flatten()
            .find(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from(LIB))
    }
}

#[derive(Debug, Subcommand)]
enum SynthCommand {
    /// Render and encode a pen video; the ground truth goes beside it as NAME.truth.json.
    Video(SynthVideoArgs),
    /// Write still images with YOLO labels for training a detector.
    Dataset(SynthDatasetArgs),
}

#[derive(Debug, Args)]
struct SynthVideoArgs {
    /// Output file (.mp4 or .mkv).
    out: PathBuf,
    #[arg(long, default_value_t = 1280)]
    width: u32,
    #[arg(long, default_value_t = 720)]
    height: u32,
    #[arg(long, default_value_t = 25)]
    fps: u32,
    /// Seconds.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Frames from one keyframe to the next.
    #[arg(long, default_value_t = 50)]
    gop: u32,
    /// B-frames between reference frames (0 for none).
    #[arg(long, default_value_t = 2)]
    bframes: u32,
    /// Fewest and most pigs in the pen, e.g. 6,12.
    #[arg(long, value_delimiter = ',', num_args = 2)]
    pigs: Option<Vec<u32>>,
}

#[derive(Debug, Args)]
struct SynthDatasetArgs {
    /// Output folder (images/, labels/, data.yaml).
    out: PathBuf,
    #[arg(long, default_value_t = 1000)]
    train: u32,
    #[arg(long, default_value_t = 200)]
    val: u32,
    #[arg(long, default_value_t = 640)]
    width: u32,
    #[arg(long, default_value_t = 360)]
    height: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve::run(args),
        Command::Probe { file } => {
            let info = pigweight_decode::probe(&file)?;
            println_json(&info)
        }
        Command::Frame(args) => frame(&args),
        Command::Detect(args) => detect(&args),
        Command::Synth(SynthCommand::Video(args)) => synth_video(&args),
        Command::Synth(SynthCommand::Dataset(args)) => {
            let cfg = DatasetConfig {
                train_images: args.train,
                val_images: args.val,
                width: args.width,
                height: args.height,
                seed: args.seed,
                ..DatasetConfig::default()
            };
            let summary = pigweight_synth::write_dataset(&cfg, &args.out)?;
            println_json(&summary)
        }
    }
}

#[allow(clippy::print_stdout)] // printing the answer is this command's job
fn println_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The frame a command names with `--t` or `--index`.
fn target(t: Option<f64>, index: Option<u64>) -> anyhow::Result<Target> {
    match (t, index) {
        (Some(t), None) => Ok(Target::Time(t)),
        (None, Some(i)) => Ok(Target::Index(i)),
        _ => bail!("give exactly one of --t and --index"),
    }
}

fn frame(args: &FrameArgs) -> anyhow::Result<()> {
    let target = target(args.t, args.index)?;
    let mode = if args.fast { Mode::Fast } else { Mode::Exact };
    let size = args.width.map_or(Size::Native, Size::Width);
    let mut video = VideoFile::open(&args.file, &SourceConfig::default())?;
    let frame = video.frame(target, mode, size)?;
    image::save_buffer_with_format(
        &args.out,
        &frame.data,
        frame.width,
        frame.height,
        image::ColorType::Rgb8,
        image::ImageFormat::Png,
    )
    .with_context(|| format!("writing {}", args.out.display()))?;
    tracing::info!(index = frame.index, pts = ?frame.pts, keyframe = frame.keyframe, out = %args.out.display(), "frame written");
    Ok(())
}

fn detect(args: &DetectArgs) -> anyhow::Result<()> {
    let target = target(args.t, args.index)?;
    let config = ModelConfig {
        path: args.model.clone(),
        device: args.device,
        thresholds: Thresholds {
            confidence: args.conf,
            iou: args.iou,
            ..Thresholds::default()
        },
        classes: args.classes.clone(),
        ..ModelConfig::default()
    };
    let mut detector = OnnxDetector::load(&args.runtime.library(), &config)?;
    let mut video = VideoFile::open(&args.file, &SourceConfig::default())?;
    let frame = video.frame(target, Mode::Exact, Size::Native)?;
    let image = Image {
        rgb: &frame.data,
        width: frame.width,
        height: frame.height,
    };
    let detections = detector.detect(&[image])?.into_iter().next().unwrap_or_default();
    let info = detector.info();
    println_json(&serde_json::json!({
        "model": { "hash": info.hash, "names": info.names, "device": info.device },
        "frame": { "index": frame.index, "time": video.timeline().time(frame.index) },
        "count": detections.len(),
        "detections": detections,
    }))
}

fn synth_video(args: &SynthVideoArgs) -> anyhow::Result<()> {
    let container = match args.out.extension().and_then(|e| e.to_str()) {
        Some("mp4") => Container::Mp4,
        Some("mkv") => Container::Mkv,
        _ => bail!("the output must end in .mp4 or .mkv"),
    };
    let defaults = VideoConfig::default();
    let cfg = VideoConfig {
        width: args.width,
        height: args.height,
        fps_num: args.fps,
        fps_den: 1,
        duration_s: args.duration,
        seed: args.seed,
        gop: args.gop,
        bframes: args.bframes,
        container,
        pigs: match args.pigs.as_deref() {
            Some(&[lo, hi]) => [lo, hi],
            _ => defaults.pigs,
        },
        ..defaults
    };
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let started = std::time::Instant::now();
    let truth = pigweight_synth::render_video(&cfg, &args.out)?;
    tracing::info!(
        out = %args.out.display(),
        frames = truth.frames.len(),
        seconds = started.elapsed().as_secs_f64(),
        "synthetic video written"
    );
    Ok(())
}

/// Whether `path` looks like a video by its name (the library only lists those).
fn is_video_name(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("mp4" | "m4v" | "mov" | "mkv" | "webm" | "avi")
    )
}
