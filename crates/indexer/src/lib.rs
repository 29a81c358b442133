//! The index of pigweight: for every video, counts, detections and thumbnails sampled along its
//! whole length, computed in the background and kept in SQLite, so "how many pigs at time t" is
//! answered from the index instead of a model run while the user scrubs.
//!
//! What it is for: the background worker ([`Indexer`]) running the coarse-to-fine indexing
//! passes ([`Job`]) into the database ([`Store`]), the input size each video's frames go in
//! at ([`choose_input`]), and the queries over an index ([`IndexView`]). What it is not for: decoding or running models (it drives
//! `pigweight-decode` and `pigweight-inference`), or HTTP.

mod error;
mod infer;
mod job;
mod probe;
mod query;
mod roots;
mod service;
mod sprites;
mod store;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
#[cfg(test)]
mod timelines;

pub use error::IndexError;
pub use job::{IndexerConfig, Job, Progress, SamplePlan, fingerprint, is_interval};
pub use probe::{InputChoice, choose_input, on_scheduler, probe_frames};
pub use query::{Bucket, CountAt, CountStep, IndexView, Provenance};
pub use roots::{Location, Root, Roots};
pub use service::{FollowLag, IndexState, Indexer, Node, ProgressEvent, Status};
pub use sprites::{SPRITE_COLUMNS, SPRITE_ROWS, compose_sheet, sprite_frames, sprite_sheets, sprite_vtt};
pub use store::{
    Database, IndexKey, IndexRow, JobLease, JobOutcome, LeaseHolder, Listener, Notice, Pass, PostgresConfig,
    Sample, Source, Store, Stored, StoredDetection, StreamDef, StreamSource, VideoRecord,
};
