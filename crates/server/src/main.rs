//! The `pigweight` binary: serves the API, and exposes the libraries to people and scripts
//! (`probe`, `frame`, `synth`). It is the only place that reads flags and the environment and
//! installs a log subscriber.

mod scans;
mod serve;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use std::ops::ControlFlow;

use pigweight_decode::{FrameSource, Mode, Read, Size, SourceConfig, Stride, Target, VideoFile};
use pigweight_indexer::{
    Database, IndexKey, IndexView, IndexerConfig, Job, Location, Pass, Root, Roots, Sample, Store,
    VideoRecord,
};
use pigweight_inference::{
    Accelerator, BandRule, CountBand, Detector, Device, Evaluation, Image, InstanceKind, ModelConfig,
    ModelFile, ORT_LIBRARY, OnnxDetector, RepositoryBackend, RepositoryOptions, Scheduler, SchedulerConfig,
    Thresholds, TritonConfig, TritonDetector,
};
use pigweight_synth::{Clutter, Coat, Container, DatasetConfig, Floor, Look, VideoConfig};

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
    Index(IndexArgs),
    /// Score a detector on a synthetic video against its ground truth (counts and AP50), as JSON.
    Eval(EvalArgs),
    /// Print the OpenAPI document of the server's API.
    Openapi,
    /// Write a Triton Inference Server model repository for the model (NAME/config.pbtxt and
    /// NAME/1/model.onnx, taking uint8 pixels); docs/triton.md says how to serve it.
    TritonRepo(TritonRepoArgs),
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
struct IndexArgs {
    file: PathBuf,
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

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SeriesFormat {
    Csv,
    Json,
}

#[derive(Debug, Args)]
struct EvalArgs {
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

/// Which detector runs, where, and which detections count.
#[derive(Debug, Args)]
pub(crate) struct ModelArgs {
    /// The YOLO model (.onnx), e.g. an Ultralytics export; default: the sample pig detector.
    #[arg(long)]
    model: Option<PathBuf>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Minimum confidence [default: the model's counting threshold if its metadata has one,
    /// else 0.25].
    #[arg(long)]
    conf: Option<f32>,
    /// NMS overlap threshold [default: the model's if its metadata has one, else 0.7].
    #[arg(long)]
    iou: Option<f32>,
    /// Count only this class (name or id); repeat for several.
    #[arg(long = "class")]
    classes: Vec<String>,
    /// Run a model of dynamic input size at this square size [default: the model's counting
    /// size if its metadata has one, else its training size].
    #[arg(long = "input-size", value_parser = clap::value_parser!(u32).range(32..=4096))]
    input_size: Option<u32>,
    /// Run the frames of videos whose animals are small (typically shorter than
    /// --small-object-length of the frame's short side, judged on a few keyframes) at this
    /// larger square input [default: the model's metadata's `count_imgsz_small`, else none;
    /// 0: none].
    #[arg(long = "small-object-input", value_parser = small_object_input)]
    small_object_input: Option<u32>,
    /// Below which length, as a share of the frame's short side, animals are small [default:
    /// the model's metadata's `count_small_length`, else 0.15].
    #[arg(long = "small-object-length", value_parser = unit_share)]
    small_object_length: Option<f32>,
    /// What makes a count unsure (its band), as JSON with any of the fields below, e.g.
    /// '{"below": 0.3}' [default: models/README.md, "The count band"]: below, above (score
    /// margins under and over the confidence), overlap_iou, edge_px, edge_area, large_area.
    #[arg(long = "band-rule", value_parser = band_rule)]
    band_rule: Option<BandRule>,
    /// libonnxruntime.so (1.31); default: .ort/lib from `make setup`, here or beside the binary.
    #[arg(long = "ort-lib", env = "ORT_DYLIB_PATH")]
    ort_lib: Option<PathBuf>,
    /// Run the model on this Triton Inference Server (KServe v2 over HTTP, e.g.
    /// http://127.0.0.1:8000) instead of in this process; see docs/triton.md.
    #[arg(long, env = "PIGWEIGHT_TRITON")]
    triton: Option<String>,
    /// The model's name on the Triton server [default: the --model file's name without .onnx].
    /// Given without --model, the served model describes itself (the parameters triton-repo
    /// writes).
    #[arg(long = "triton-model", env = "PIGWEIGHT_TRITON_MODEL")]
    triton_model: Option<String>,
}

/// Which backend runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Backend {
    /// ONNX Runtime in this process.
    #[default]
    Ort,
    /// A Triton Inference Server.
    Triton,
}

/// The `[inference]` settings: the backend, and where Triton is when it is the backend.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct InferenceSettings {
    pub(crate) backend: Backend,
    pub(crate) triton: TritonConfig,
}

impl ModelArgs {
    /// Loads the model with the thresholds given, each else the model's own.
    pub(crate) fn load(&self) -> anyhow::Result<OnnxDetector> {
        let library = self.ort_lib.clone().unwrap_or_else(|| shipped(ORT_LIBRARY));
        let config = ModelConfig {
            path: self.model.clone().unwrap_or_else(|| shipped(SAMPLE_MODEL)),
            device: self.device,
            confidence: self.conf,
            iou: self.iou,
            classes: self.classes.clone(),
            input_size: self.input_size,
            small_object_input: self.small_object_input,
            small_object_length: self.small_object_length,
            band: self.band_rule.clone(),
            ..ModelConfig::default()
        };
        Ok(OnnxDetector::load(&library, &config)?)
    }

    /// The detector on the backend chosen by `settings`, the flags winning. With
    /// `require_server` false a Triton server that is away is retried in the background.
    pub(crate) fn detector(
        &self,
        settings: &InferenceSettings,
        require_server: bool,
    ) -> anyhow::Result<Box<dyn Detector>> {
        let mut settings = settings.clone();
        if let Some(url) = &self.triton {
            settings.backend = Backend::Triton;
            settings.triton.url = url.clone();
        }
        if self.triton_model.is_some() {
            settings.triton.model = self.triton_model.clone();
        }
        if settings.backend == Backend::Ort {
            return Ok(Box::new(self.load()?));
        }
        if settings.triton.url.is_empty() {
            bail!(
                "the triton backend needs the server's URL: --triton http://HOST:8000 (or [inference.triton] url)"
            );
        }
        // A named Triton model without a file describes itself; else the file (default: the
        // sample model) says what the served model must be.
        let path = match (&self.model, &settings.triton.model) {
            (Some(path), _) => path.clone(),
            (None, Some(_)) => PathBuf::new(),
            (None, None) => shipped(SAMPLE_MODEL),
        };
        let config = ModelConfig {
            path,
            confidence: self.conf,
            iou: self.iou,
            classes: self.classes.clone(),
            input_size: self.input_size,
            small_object_input: self.small_object_input,
            small_object_length: self.small_object_length,
            band: self.band_rule.clone(),
            ..ModelConfig::default()
        };
        Ok(Box::new(TritonDetector::connect(
            &settings.triton,
            &config,
            require_server,
        )?))
    }
}

/// `--small-object-input`: 0 (none) or a square input size.
fn small_object_input(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(v) if v == 0 || (32..=4096).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not 0 or an input size from 32 to 4096")),
    }
}

/// `--band-rule`: JSON of a [`BandRule`]'s fields, each a finite number not below 0.
fn band_rule(s: &str) -> Result<BandRule, String> {
    let rule: BandRule = serde_json::from_str(s).map_err(|e| format!("not a band rule: {e}"))?;
    let fields = [
        rule.below,
        rule.above,
        rule.overlap_iou,
        rule.edge_px,
        rule.edge_area,
        rule.large_area,
    ];
    if fields.iter().all(|v| v.is_finite() && *v >= 0.0) {
        Ok(rule)
    } else {
        Err(format!("{s}: every field must be a number not below 0"))
    }
}

/// A share strictly between 0 and 1.
/// `--interval`: seconds between index samples, a finite number above 0.
pub(crate) fn interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if pigweight_indexer::is_interval(v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds above 0")),
    }
}

fn unit_share(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number between 0 and 1")),
    }
}

/// The sample pig detector (models/README.md).
const SAMPLE_MODEL: &str = "models/pigs-yolov8n.onnx";

/// A file that ships with the checkout, given relative to its root: found from the current
/// folder, else from the binary's place in target/{debug,release}/; the relative path when
/// neither has it (the error then names it).
pub(crate) fn shipped(relative: &str) -> PathBuf {
    let beside_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent()?.parent().map(|root| root.join(relative)));
    [Some(PathBuf::from(relative)), beside_binary]
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(relative))
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
    #[arg(long, value_parser = pair::<u32>)]
    pigs: Option<[u32; 2]>,
    /// Range of the typical pig length as a fraction of the frame's shorter side, e.g. 0.22,0.32.
    #[arg(long, value_parser = pair::<f32>)]
    pig_length: Option<[f32; 2]>,
    /// x264 constant-quality factor (0..=50; higher means smaller files and more artefacts).
    #[arg(long, default_value_t = VideoConfig::default().quality)]
    quality: u32,
    #[command(flatten)]
    clutter: ClutterArgs,
    #[command(flatten)]
    look: LookArgs,
}

/// Things in the pen that are not pigs.
#[derive(Debug, Args)]
struct ClutterArgs {
    /// Fewest and most props on the floor (buckets, feeders, hoses, balls, boards, dirt, hard
    /// shadows, test-pattern cards), e.g. 2,8 (default: none).
    #[arg(long, value_parser = pair::<u32>)]
    props: Option<[u32; 2]>,
    /// Fewest and most people walking through or standing in the pen, e.g. 0,2 (default: none).
    #[arg(long, value_parser = pair::<u32>)]
    people: Option<[u32; 2]>,
}

impl ClutterArgs {
    fn clutter(&self) -> Clutter {
        let none = Clutter::default();
        Clutter {
            props: self.props.unwrap_or(none.props),
            people: self.people.unwrap_or(none.people),
        }
    }
}

/// What of the scene's look is fixed rather than drawn from the seed.
#[derive(Debug, Args)]
struct LookArgs {
    /// The floor: concrete, slatted, straw or dirt (default: each scene's own from the seed).
    #[arg(long)]
    floor: Option<Floor>,
    /// The coats the pigs wear, drawn evenly: pink, spotted, dark, red, belted, e.g. dark,belted
    /// (default: each scene's own mix from the seed).
    #[arg(long, value_delimiter = ',')]
    coats: Vec<Coat>,
    /// Range of the light's exposure, 1 being the scene's light as drawn (0.8-1.12), e.g.
    /// 0.3,0.45 for a dim barn (default: drawn from the seed).
    #[arg(long, value_parser = pair::<f32>)]
    exposure: Option<[f32; 2]>,
}

impl LookArgs {
    fn look(&self) -> Look {
        Look {
            floor: self.floor,
            coats: self.coats.clone(),
            exposure: self.exposure,
        }
    }
}

#[derive(Debug, Args)]
struct SynthDatasetArgs {
    /// Output folder (images/, labels/, visible/, data.yaml).
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
    /// Fewest and most pigs in each scene's pen, e.g. 10,22 (default: 0,15).
    #[arg(long, value_parser = pair::<u32>)]
    pigs: Option<[u32; 2]>,
    /// Range of a scene's typical pig length as a fraction of the image's shorter side, e.g.
    /// 0.12,0.3 (default: 0.14,0.42).
    #[arg(long, value_parser = pair::<f32>)]
    pig_length: Option<[f32; 2]>,
    /// Range of the moment, in seconds of herd movement, each image is caught at, e.g. 0,60
    /// (default: 0,3). Crowded herds press together and lie over each other later on.
    #[arg(long, value_parser = pair::<f32>)]
    moment: Option<[f32; 2]>,
    /// Range of each image's JPEG quality, e.g. 20,60 (default: 40,95).
    #[arg(long, value_parser = pair::<u8>)]
    jpeg_quality: Option<[u8; 2]>,
    /// Probability that an image is motion-blurred (default: 0.3).
    #[arg(long)]
    motion_blur: Option<f32>,
    /// Probability that an image's pen holds no pigs at all (default: 0).
    #[arg(long)]
    empty: Option<f32>,
    #[command(flatten)]
    clutter: ClutterArgs,
    #[command(flatten)]
    look: LookArgs,
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
        Command::Eval(args) => evaluate(&args),
        Command::Index(args) => index(&args),
        Command::TritonRepo(args) => triton_repo(&args),
        Command::Synth(SynthCommand::Video(args)) => synth_video(&args),
        Command::Synth(SynthCommand::Dataset(args)) => {
            let defaults = DatasetConfig::default();
            let cfg = DatasetConfig {
                train_images: args.train,
                val_images: args.val,
                width: args.width,
                height: args.height,
                seed: args.seed,
                pigs: args.pigs.unwrap_or(defaults.pigs),
                pig_length: args.pig_length.unwrap_or(defaults.pig_length),
                moment: args.moment.unwrap_or(defaults.moment),
                jpeg_quality: args.jpeg_quality.unwrap_or(defaults.jpeg_quality),
                motion_blur: args.motion_blur.unwrap_or(defaults.motion_blur),
                empty: args.empty.unwrap_or(defaults.empty),
                clutter: args.clutter.clutter(),
                look: args.look.look(),
                ..defaults
            };
            let summary = pigweight_synth::write_dataset(&cfg, &args.out)?;
            println_json(&summary)
        }
    }
}

#[allow(clippy::print_stdout)] // printing the answer is this command's job
fn print_out(text: &str) {
    print!("{text}");
}

fn println_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    print_out(&format!("{}\n", serde_json::to_string_pretty(value)?));
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

/// Indexes one file to the end in this process and prints every sample.
fn index(args: &IndexArgs) -> anyhow::Result<()> {
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
fn video_input(detector: &mut dyn Detector, video: &mut VideoFile) -> anyhow::Result<Option<u32>> {
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
fn images_of<'a>(
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
fn index_file(
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

/// `eval --through-index`: indexes each video as `serve` does, in a throwaway database, and
/// scores the index's count at every frame.
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
fn evaluate(args: &EvalArgs) -> anyhow::Result<()> {
    if args.through_index {
        return evaluate_through_index(args);
    }
    /// AP is measured over the whole precision-recall curve, so keep weak detections too.
    const CURVE_CONFIDENCE: f32 = 0.001;
    if args.model.triton.is_some() {
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

/// Parses `LOW,HIGH`.
fn pair<T: std::str::FromStr>(s: &str) -> Result<[T; 2], String>
where
    T::Err: std::fmt::Display,
{
    let (lo, hi) = s
        .split_once(',')
        .ok_or_else(|| format!("expected LOW,HIGH, got {s:?}"))?;
    let parse = |v: &str| v.trim().parse::<T>().map_err(|e| format!("{v:?}: {e}"));
    Ok([parse(lo)?, parse(hi)?])
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
        pigs: args.pigs.unwrap_or(defaults.pigs),
        pig_length: args.pig_length.unwrap_or(defaults.pig_length),
        quality: args.quality,
        clutter: args.clutter.clutter(),
        look: args.look.look(),
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
