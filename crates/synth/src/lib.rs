//! Synthetic top-down video of pig pens, with exact ground truth.
//!
//! We have no real farm footage, so this crate makes its own: a pen seen from above (procedural
//! floor, lighting that varies across the frame and drifts over time) with pigs of several coats
//! and sizes that walk, turn, root, rest, touch and partly overlap, and wander in and out of
//! view. Everything follows from a seed, and every frame comes with what is in it: each animal's
//! visible box, full box and visible fraction, and the count.
//!
//! It is for:
//! - the default sample video the server shows ([`render_video`]),
//! - test inputs with known answers ([`Pen`] renders frames in memory, [`GroundTruth::load`]
//!   reads the truth written beside a video),
//! - training data for a pig detector ([`write_dataset`] writes YOLO images and labels).
//!
//! It is not a decoder or a detector, and it makes no claim to photo-realism: it aims to be
//! varied enough that a detector trained on it counts reliably on these synthetic videos.
//!
//! Rendering is pure Rust (tiny-skia); encoding goes through GStreamer (x264).

mod clutter;
mod dataset;
mod encode;
mod error;
mod floor;
mod herd;
mod lighting;
mod look;
mod noise;
mod pen;
mod pig;
mod raster;
mod truth;
mod video;

pub use clutter::Clutter;
pub use dataset::{DatasetConfig, DatasetSummary, write_dataset};
pub use encode::{Container, SpeedPreset};
pub use error::SynthError;
pub use look::{Clothes, Coat, Floor, Look, Prop};
pub use pen::{Pen, RgbaFrame};
pub use truth::{AnimalTruth, FrameTruth, GroundTruth, truth_path};
pub use video::{VideoConfig, render_video};
