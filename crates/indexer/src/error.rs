use std::path::PathBuf;

use pigweight_decode::DecodeError;
use pigweight_inference::InferenceError;

/// What can go wrong while indexing or reading an index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The database refused a read or write (disk full, read-only folder, corrupt file).
    #[error("index database: {0}")]
    Database(String),
    /// The database server cannot be reached (restarting, the network away): the work is
    /// retried once it is back, not given up.
    #[error("index database unavailable: {0}")]
    Unavailable(String),
    #[error(
        "the index database {path} was written by a newer pigweight (schema {found}, this one knows {known})"
    )]
    NewerSchema {
        /// The file, or the PostgreSQL server and database.
        path: String,
        found: i64,
        known: i64,
    },
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("making a thumbnail: {0}")]
    Thumbnail(String),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Inference(#[from] InferenceError),
}
