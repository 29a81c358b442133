//! The crate's one error type.

/// What can go wrong adding or watching a live stream.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// A source description that cannot be a camera (the caller's mistake).
    #[error("{0}")]
    BadSource(String),
    #[error("at most {0} streams at once")]
    TooMany(usize),
    #[error("that source is streamed already, as {0}")]
    Duplicate(String),
    #[error("starting a capture thread")]
    Thread(#[source] std::io::Error),
    #[error("encoding a live frame")]
    Render(#[from] pigweight_render::RenderError),
    #[error("scaling a live frame")]
    Scale(#[from] pigweight_decode::DecodeError),
    #[error("a live frame's encoding task failed")]
    Task(#[source] tokio::task::JoinError),
    /// An SDP offer that is not one, or that no H.264 video can answer (the caller's mistake).
    #[error("{0}")]
    BadOffer(String),
    #[error("at most {0} WebRTC viewers of a stream at once")]
    TooManyViewers(usize),
    /// WebRTC could not be set up here (a missing plugin, a pipeline that failed).
    #[error("WebRTC: {0}")]
    WebRtc(String),
    #[error("the stream was removed")]
    Gone,
    /// The shared list of streams could not be read or written.
    #[error(transparent)]
    Database(#[from] pigweight_indexer::IndexError),
}
