//! Live camera streams for pigweight: capture once, serve many.
//!
//! What it is for: a registry of live sources ([`Streams`]), each read by one thread of its own
//! ([`Live`]) at a fixed rate, counted by the model on the inference crate's cadence with the
//! tracker holding the count in between, and published as the newest frame on a watch channel.
//! A source that fails is reopened with backoff. Viewers hold a [`Subscription`]: it hands them
//! the newest frame when they are ready for one (a slow viewer skips frames, nothing queues),
//! the JPEG of that frame at their quality (encoded once per frame and level, shared by every
//! viewer at that level; a level nobody watches is never encoded), and steps their quality down
//! when they fall behind and up when they keep up easily.
//!
//! Streams are shared by the processes of a cluster through the index database: each is
//! captured by one of them, the holder of its lease, and taken over when that one stops or dies
//! ([`Streams`]).
//!
//! WebRTC viewers share one H.264 encoding of the stream's frames, made while anybody watches
//! ([`Live::webrtc_answer`]).
//!
//! What it is not for: HTTP. The API crate owns the transports (MJPEG, WebSockets, WHEP's
//! requests) and the wire types; this crate knows nothing of either.

mod adapt;
mod capture;
mod error;
mod live;
mod source;
mod streams;
mod subscription;
mod viewer;
mod webrtc;

pub use adapt::Level;
pub use error::LiveError;
pub use live::{Condition, Live, LiveFrame, LiveInfo, SourceStatus};
pub use source::Source;
pub use streams::{LiveSettings, Member, Placed, Remote, StreamFigures, Streams, StreamsFigures};
pub use subscription::Subscription;
pub use viewer::{ClientFigures, ViewerKind};
pub use webrtc::{Answer, WebRtcSettings};
