//! Detection for pigweight: YOLO models exported by Ultralytics, run through ONNX Runtime.
//!
//! What it is for: fitting frames into the model input exactly as Ultralytics does
//! ([`Letterbox`], [`Preprocessor`]), decoding the output layouts of the common YOLO exports and
//! suppressing overlaps ([`decode`], [`OutputLayout`]), running models on ONNX Runtime on the CPU
//! or CUDA ([`OnnxDetector`]) behind a batching scheduler that serves interactive requests before
//! background work ([`Scheduler`]), choosing which frames to infer ([`Cadence`]) and at which
//! input size ([`SmallObjectInput`]), following animals between inferred frames ([`Tracker`]),
//! caching results ([`ResultCache`]), and scoring a model against ground truth
//! ([`Evaluation`]).
//!
//! What it is not for: reading video (it takes RGB pixels) or storing results on disk.

mod band;
mod cache;
mod cadence;
mod error;
mod evaluate;
#[cfg(feature = "fake")]
pub mod fake;
mod input;
mod letterbox;
mod model;
mod onnx_file;
mod postprocess;
mod scheduler;
mod tracker;
mod triton;

pub use band::{BandRule, CountBand, Detections};
pub use cache::{CacheStats, ResultCache, ResultKey};
pub use cadence::{Cadence, CadenceConfig, Decision};
pub use error::InferenceError;
pub use evaluate::{Evaluation, EvaluationSummary};
pub use input::{PROBE_FRAMES, SmallObjectInput};
pub use letterbox::{InputValue, Letterbox, PAD_VALUE, Preprocessor};
pub use model::{
    Detector, Device, Health, Image, ModelConfig, ModelInfo, ORT_LIBRARY, OnnxDetector, Priority, Timings,
    load_runtime,
};
pub use onnx_file::{BYTE_INPUT, ModelFile};
pub use postprocess::{Detection, LayoutHint, OutputLayout, Thresholds, decode, nms};
pub use scheduler::{PriorityMetrics, Scheduler, SchedulerConfig, SchedulerMetrics, SharedImage, Ticket};
pub use tracker::{Track, Tracker, TrackerConfig};
pub use triton::{
    Accelerator, HASH_PARAMETER, InstanceKind, RepositoryBackend, RepositoryOptions, TritonConfig,
    TritonDetector, write_repository,
};
