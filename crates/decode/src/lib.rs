//! Reading video for pigweight: any frame of a file, exactly and fast, through GStreamer.
//!
//! What it is for: probing a file ([`probe`]), reading the frame at a time or index, exactly or
//! the keyframe before it for scrubbing ([`FrameSource::frame`]), reading in order with a stride
//! or keyframes only for indexing ([`FrameSource::read`]), and serving many callers and videos
//! from a bounded pool of pipelines and a byte-bounded frame cache ([`Decoder`]); and cutting a
//! file into HLS segments at its keyframes ([`cuts`], [`segment`]), repackaged when browsers
//! play its codec and transcoded to H.264 (x264, or NVENC where present) when they do not.
//!
//! What it is not for: inference, pictures (JPEG is the render crate's), or anything async. Every call blocks; run it on a
//! blocking thread. No GStreamer type appears in this crate's API.

mod budget;
mod convert;
mod decoder;
mod error;
#[cfg(feature = "fake")]
pub mod fake;
mod frame;
mod info;
mod live;
mod mp4index;
mod nal;
mod open;
mod pipeline;
mod pool;
mod scan;
mod segment;
mod source;
mod timeline;
mod version;

pub use budget::{MemoryBudget, Reservation, source_bytes, source_bytes_of_pixels};
pub use convert::{I420, Matrix, YuvColour, i420_to_rgb};
pub use decoder::{Decoder, DecoderConfig, DecoderStats};
pub use error::DecodeError;
pub use frame::{Frame, Mode, Picture, Read, Size, Stride, Target};
pub use info::MediaInfo;
pub use live::{LiveConfig, LiveFrames, LiveSource};
pub use open::{GstOpener, Opener};
pub use segment::{Cut, Encoder, Rendition, cuts, segment};
pub use source::{FrameSource, Probed, SourceConfig, VideoFile, probe};
pub use timeline::{Run, Timeline};
pub use version::{FileKey, FileVersion};
