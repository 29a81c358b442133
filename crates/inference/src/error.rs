use std::path::PathBuf;

/// Everything that can go wrong loading or running a detector.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InferenceError {
    #[error(
        "ONNX Runtime library not usable at {path}: {reason}. Run `make setup` (scripts/fetch-ort.sh) \
         to fetch it, or point --ort-lib / ORT_DYLIB_PATH at libonnxruntime.so 1.31"
    )]
    Runtime { path: PathBuf, reason: String },
    #[error("model file not found: {0}")]
    ModelNotFound(PathBuf),
    #[error("cannot load model {path}: {reason}")]
    BadModel { path: PathBuf, reason: String },
    #[error("unsupported model: {0}")]
    UnsupportedModel(String),
    #[error("execution provider {provider} is not available: {reason}")]
    ProviderUnavailable { provider: String, reason: String },
    #[error("shape mismatch: {0}")]
    Shape(String),
    #[error("inference failed: {0}")]
    Run(String),
    #[error("the inference queue is full")]
    QueueFull,
    #[error("the inference worker has stopped")]
    Stopped,
    /// The backend cannot run now (a remote server down or restarting); it is retried.
    #[error("the inference server is unavailable: {0}")]
    Unavailable(String),
}

impl InferenceError {
    /// Whether trying again later may succeed: the backend is away, not the input wrong.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::QueueFull)
    }
}
