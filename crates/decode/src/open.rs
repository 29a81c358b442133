//! What opens videos: the seam between GStreamer and the layers that read video, so that those
//! layers can be tested on fakes.

use std::path::Path;
use std::sync::Arc;

use crate::error::DecodeError;
use crate::live::{LiveConfig, LiveFrames, LiveSource};
use crate::source::{FrameSource, Probed, SourceConfig, VideoFile};

/// What opens video files and live sources: GStreamer ([`GstOpener`]) in the product; tests of
/// the layers above give one of their own (see the `fake` feature's `FakeOpener`).
pub trait Opener: Send + Sync + std::fmt::Debug {
    /// Opens `path`, learning its facts and frame table.
    fn open(&self, path: &Path, config: &SourceConfig) -> Result<Box<dyn FrameSource>, DecodeError>;
    /// Opens another source for a file whose facts are known.
    fn reopen(
        &self,
        path: &Path,
        probed: &Arc<Probed>,
        config: &SourceConfig,
    ) -> Result<Box<dyn FrameSource>, DecodeError>;
    /// Opens a live source: a camera URL, or a file played in a loop at its real rate.
    fn open_live(&self, source: &str, config: &LiveConfig) -> Result<Box<dyn LiveFrames>, DecodeError>;
}

/// Opens files as [`VideoFile`]s, through GStreamer.
#[derive(Debug, Clone, Copy, Default)]
pub struct GstOpener;

impl Opener for GstOpener {
    fn open(&self, path: &Path, config: &SourceConfig) -> Result<Box<dyn FrameSource>, DecodeError> {
        Ok(Box::new(VideoFile::open(path, config)?))
    }

    fn reopen(
        &self,
        path: &Path,
        probed: &Arc<Probed>,
        config: &SourceConfig,
    ) -> Result<Box<dyn FrameSource>, DecodeError> {
        Ok(Box::new(VideoFile::reopen(path, Arc::clone(probed), config)?))
    }

    fn open_live(&self, source: &str, config: &LiveConfig) -> Result<Box<dyn LiveFrames>, DecodeError> {
        Ok(Box::new(LiveSource::open(source, config)?))
    }
}
