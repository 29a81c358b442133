//! The `pigweight` binary: serves the API, and exposes the libraries to people and scripts
//! (`probe`, `frame`, `detect`, `index`, `eval`, `synth`). It is the only place that reads flags
//! and the environment and installs a log subscriber.

mod cli;
mod eval;
mod index;
mod model;
mod scans;
mod serve;
mod synth;
mod tls;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use pigweight_decode::{FrameSource, Mode, Size, SourceConfig, VideoFile};
use pigweight_inference::{
    Accelerator, Image, InstanceKind, ModelFile, RepositoryBackend, RepositoryOptions,
};

use crate::cli::{println_json, target};
use crate::index::video_input;
use crate::model::{InferenceSettings, ModelArgs, SAMPLE_MODEL, shipped};

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
    /// Index videos from a shared (PostgreSQL) database's jobs, serving nothing: one of a
    /// cluster's workers (docs/cluster.md).
    Worker(serve::WorkerArgs),
    /// Print what a video file is (container, codec, size, duration, exact frame count) as JSON.
    Probe { file: PathBuf },
    /// Write one frame of a video losslessly as PNG.
    Frame(FrameArgs),
    /// Run a detector on one frame and print the detections as JSON.
    Detect(DetectArgs),
    /// Index one video (keyframes, regular samples, refinement) and print its counts.
    Index(index::IndexArgs),
    /// Score a detector on a synthetic video against its ground truth (counts and AP50), as JSON.
    Eval(eval::EvalArgs),
    /// Print the OpenAPI document of the server's API.
    Openapi,
    /// Write a Triton Inference Server model repository for the model (NAME/config.pbtxt and
    /// NAME/1/model.onnx, taking uint8 pixels); docs/triton.md says how to serve it.
    TritonRepo(TritonRepoArgs),
    /// Make synthetic pig-pen videos and datasets with exact ground truth.
    #[command(subcommand)]
    Synth(synth::SynthCommand),
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
    /// The frame on screen at this many seconds after the first frame.
    #[arg(long, conflicts_with = "index", required_unless_present = "index")]
    t: Option<f64>,
    /// The frame at this position (0 is the first).
    #[arg(long)]
    index: Option<u64>,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Debug, Args)]
struct TritonRepoArgs {
    /// The repository folder (made if missing); the model goes in OUT/NAME.
    out: PathBuf,
    /// The YOLO model (.onnx) [default: the sample pig detector].
    #[arg(long)]
    model: Option<PathBuf>,
    /// The model's name in the repository [default: the file's name without .onnx].
    #[arg(long)]
    name: Option<String>,
    /// onnxruntime (Triton's ONNX Runtime backend, as in NGC's image) or python (the same file
    /// through onnxruntime in a python-backend model, for Triton builds without the former).
    #[arg(long, default_value = "onnxruntime")]
    backend: RepositoryBackend,
    /// Largest batch Triton forms and accepts.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1024))]
    max_batch: u64,
    /// Model instances per device.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    instances: u64,
    /// Where the instances run: gpu or cpu.
    #[arg(long, default_value = "gpu")]
    kind: InstanceKind,
    /// How long Triton's batcher waits for more requests to fill a batch, in microseconds.
    #[arg(long, default_value_t = 2_000)]
    queue_delay_us: u64,
    /// none, tensorrt-fp16 (or tensorrt) or tensorrt-fp32: TensorRT through Triton's
    /// onnxruntime backend on GPU instances (docs/triton.md).
    #[arg(long, default_value = "none")]
    accelerator: Accelerator,
}

/// glibc's allocator gives each thread that allocates a heap of its own, up to eight a core;
/// decoded frames (megabytes each) freed on one heap stay resident there while the next ones
/// are made on another, so the process sits well above what it uses. Four heaps keep freed
/// memory together, where it is reused and where `malloc_trim` (when sources close) finds it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // One call into the C allocator's settings, explained below.
fn tune_allocator() {
    // SAFETY: mallopt only changes the allocator's parameters, and this runs first thing in
    // main, before any other thread of ours exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 4);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> anyhow::Result<()> {
    tune_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve::run(args),
        Command::Worker(args) => serve::run_worker(args),
        Command::Openapi => {
            let doc = pigweight_api::openapi().to_pretty_json()?;
            std::io::Write::write_all(&mut std::io::stdout(), format!("{doc}\n").as_bytes())?;
            Ok(())
        }
        Command::Probe { file } => {
            let info = pigweight_decode::probe(&file)?;
            println_json(&info)
        }
        Command::Frame(args) => frame(&args),
        Command::Detect(args) => detect(&args),
        Command::Eval(args) => eval::evaluate(&args),
        Command::Index(args) => index::index(&args),
        Command::TritonRepo(args) => triton_repo(&args),
        Command::Synth(command) => synth::run(&command),
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
    let mut detector = args.model.detector(&InferenceSettings::default(), true)?;
    let mut video = VideoFile::open(&args.file, &SourceConfig::default())?;
    let input = video_input(detector.as_mut(), &mut video)?;
    let frame = video.frame(target, Mode::Exact, Size::Native)?;
    let image = Image {
        rgb: &frame.data,
        width: frame.width,
        height: frame.height,
        input,
    };
    let detections = detector.detect(&[image])?.into_iter().next().unwrap_or_default();
    let info = detector.info();
    println_json(&serde_json::json!({
        "model": { "hash": info.hash, "names": info.names, "device": info.device },
        "input_size": input.unwrap_or(info.input_size.0),
        "frame": { "index": frame.index, "time": video.timeline().time(frame.index) },
        "count": detections.count(),
        "count_low": detections.band.low,
        "count_high": detections.band.high,
        "detections": detections.boxes,
    }))
}

/// Writes a Triton model repository for the model.
fn triton_repo(args: &TritonRepoArgs) -> anyhow::Result<()> {
    let path = args.model.clone().unwrap_or_else(|| shipped(SAMPLE_MODEL));
    let model = ModelFile::read(&path)?;
    let options = RepositoryOptions {
        name: args.name.clone(),
        backend: args.backend,
        max_batch: args.max_batch as usize,
        instances: args.instances as usize,
        kind: args.kind,
        queue_delay_us: args.queue_delay_us,
        accelerator: args.accelerator,
    };
    let folder = pigweight_inference::write_repository(&model, &args.out, &options)?;
    tracing::info!(model = %path.display(), folder = %folder.display(), "Triton model repository written");
    Ok(())
}
