//! `pigweight synth`: synthetic pen videos and training datasets with exact ground truth.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand};
use pigweight_synth::{Clothes, Clutter, Coat, Container, DatasetConfig, Floor, Look, Prop, VideoConfig};

use crate::cli::{pair, println_json};

#[derive(Debug, Subcommand)]
pub(crate) enum SynthCommand {
    /// Render and encode a pen video; the ground truth goes beside it as NAME.truth.json.
    Video(SynthVideoArgs),
    /// Write still images with YOLO labels for training a detector.
    Dataset(SynthDatasetArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SynthVideoArgs {
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
    /// How long the shutter stays open for each frame, as a fraction of the frame interval
    /// (0..=1): 0 renders sharp frames, 0.5 a 1/50 s shutter at 25 fps, smearing what moves.
    #[arg(long, default_value_t = VideoConfig::default().shutter)]
    shutter: f32,
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
    /// Range of the pigs' walking pace in body lengths a second, each pig its own, e.g. 1.5,2.5
    /// for a herd on the move (default: 0.3-0.7, drawn from the seed).
    #[arg(long, value_parser = pair::<f32>)]
    pace: Option<[f32; 2]>,
    /// What the people in the pen wear, one of these each: blue, green, orange, grey, white,
    /// pink, black, red, e.g. pink,white for people in a pig's colours (default: the seed's
    /// draw among all eight).
    #[arg(long, value_delimiter = ',')]
    clothes: Vec<Clothes>,
    /// The kinds of prop on the floor (`--props` says how many), one of these each: bucket,
    /// feeder, hose, ball, board, dirt, shadow, pattern, e.g. feeder for troughs only (default:
    /// the seed's draw among all eight).
    #[arg(long, value_delimiter = ',')]
    prop_kinds: Vec<Prop>,
}

impl LookArgs {
    fn look(&self) -> Look {
        Look {
            floor: self.floor,
            coats: self.coats.clone(),
            exposure: self.exposure,
            pace: self.pace,
            clothes: self.clothes.clone(),
            props: self.prop_kinds.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct SynthDatasetArgs {
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

pub(crate) fn run(command: &SynthCommand) -> anyhow::Result<()> {
    match command {
        SynthCommand::Video(args) => synth_video(args),
        SynthCommand::Dataset(args) => synth_dataset(args),
    }
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
        shutter: args.shutter,
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

fn synth_dataset(args: &SynthDatasetArgs) -> anyhow::Result<()> {
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
