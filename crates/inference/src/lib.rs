//! Detection for pigweight: YOLO models exported by Ultralytics, run through ONNX Runtime.
//!
//! What it is for: fitting frames into the model input exactly as Ultralytics does
//! ([`Letterbox`], [`Preprocessor`]), decoding the output layouts of the common YOLO exports and
//! suppressing overlaps ([`decode`], [`OutputLayout`]), and running models.
//!
//! What it is not for: reading video (it takes RGB pixels) or storing results.

mod error;
mod letterbox;
mod model;
mod postprocess;
mod scheduler;

pub use error::InferenceError;
pub use letterbox::{Letterbox, PAD_VALUE, Preprocessor};
pub use model::{Detector, Device, Image, ModelConfig, ModelInfo, OnnxDetector, load_runtime};
pub use postprocess::{Detection, LayoutHint, OutputLayout, Thresholds, decode, nms};
pub use scheduler::{
    Priority, PriorityMetrics, Scheduler, SchedulerConfig, SchedulerMetrics, SharedImage, Ticket,
};
