//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while making synthetic video, ground truth or datasets.
///
/// Foreign errors (GStreamer, the image encoder) are turned into text at the point where they
/// happen, so no foreign type leaks through this enum.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// A configuration value is out of range; the text says which and why.
    #[error("invalid synth config: {0}")]
    InvalidConfig(String),

    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A ground-truth file could not be parsed or written.
    #[error("ground truth JSON {path}: {source}")]
    Json {
        /// The JSON file involved.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },

    /// The GStreamer encoding pipeline could not be built or reported an error while running.
    #[error("video encoding failed: {0}")]
    Encode(String),

    /// A dataset image could not be encoded.
    #[error("image encoding failed for {path}: {message}")]
    Image {
        /// The image being written.
        path: PathBuf,
        /// What the encoder said.
        message: String,
    },
}

impl SynthError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
