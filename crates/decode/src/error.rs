use std::path::PathBuf;

/// Everything that can go wrong while probing or reading a video.
///
/// GStreamer's own errors are mapped here, at the crate's edge, into kinds a caller can act on:
/// a bad request (`InvalidTime`, `OutOfRange`), a bad file (`NotFound` … `Corrupt`), or a
/// failure of ours or of the machine (`Pipeline`, `Timeout`, `Busy`, `MemoryBusy`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum DecodeError {
    #[error("file not found: {0}")]
    NotFound(PathBuf),
    #[error("file is empty: {0}")]
    Empty(PathBuf),
    #[error("not a media file GStreamer recognises: {0}")]
    NotMedia(PathBuf),
    #[error("the file has no video stream: {0}")]
    NoVideo(PathBuf),
    #[error("no decoder is installed for {codec} in {path}")]
    UnsupportedCodec { path: PathBuf, codec: String },
    #[error("the file is corrupt or truncated: {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("time {0} is not a valid position (it must be a finite number of seconds, >= 0)")]
    InvalidTime(f64),
    #[error("{what} is past the end of the video (it has {frames} frames, {duration:.3} s)")]
    OutOfRange {
        what: String,
        frames: u64,
        duration: f64,
    },
    #[error("frame {index} could not be decoded: {reason}")]
    FrameLost { index: u64, reason: String },
    #[error("requested size {width}x{height} is invalid")]
    InvalidSize { width: u32, height: u32 },
    #[error("timed out after {0:?} waiting for the video pipeline")]
    Timeout(std::time::Duration),
    #[error("all {0} decoders are busy; try again")]
    Busy(usize),
    #[error("decoding memory is all in use ({needed} bytes wanted of a {budget}-byte budget); try again")]
    MemoryBusy { needed: u64, budget: u64 },
    #[error(
        "decoding this video needs about {needed} bytes, more than the whole {budget}-byte memory budget (decoder.memory_budget_mb)"
    )]
    OverBudget { needed: u64, budget: u64 },
    #[error(
        "{path}: frames of {width}x{height} ({pixels} pixels) are larger than this server decodes ({max_pixels} pixels at most; decoder.source.max_frame_pixels)"
    )]
    FrameTooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
        pixels: u64,
        max_pixels: u64,
    },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::sync::Arc<std::io::Error>,
    },
    #[error("GStreamer pipeline failed: {0}")]
    Pipeline(String),
    /// The caller stopped waiting (nobody wants the result any more).
    #[error("cancelled")]
    Cancelled,
}

impl DecodeError {
    /// True when the request itself was wrong (a time or index outside the video, a bad size),
    /// as opposed to the file or the machine.
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            Self::InvalidTime(_) | Self::OutOfRange { .. } | Self::InvalidSize { .. }
        )
    }

    /// True when the file itself cannot be read as a video (missing, not media, no video,
    /// unknown codec, corrupt).
    pub fn is_bad_file(&self) -> bool {
        matches!(
            self,
            Self::NotFound(_)
                | Self::Empty(_)
                | Self::NotMedia(_)
                | Self::NoVideo(_)
                | Self::UnsupportedCodec { .. }
                | Self::Corrupt { .. }
                | Self::FrameTooLarge { .. }
                | Self::OverBudget { .. }
        )
    }
}

pub(crate) fn pipeline_err(e: impl std::fmt::Display) -> DecodeError {
    DecodeError::Pipeline(e.to_string())
}
