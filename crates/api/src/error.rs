//! The API's one error type, and the one place where errors become HTTP statuses.
//!
//! 4xx bodies say in plain words what was wrong with the request; 5xx bodies are generic and
//! the cause is logged here, once.

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pigweight_decode::DecodeError;
use pigweight_indexer::IndexError;
use pigweight_inference::InferenceError;
use pigweight_live::LiveError;
use pigweight_render::RenderError;
use serde::Serialize;
use utoipa::ToSchema;

/// What went wrong, as far as the client is concerned: it decides the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    /// A parameter that parsed but makes no sense (t past the end, a bad size).
    Invalid,
    /// A request that could not be parsed at all.
    BadRequest,
    /// The video file cannot be read as a video.
    BadFile,
    /// The Range header asks for bytes outside a file of `len` bytes.
    RangeNotSatisfiable {
        len: u64,
    },
    Unauthorized,
    TooLarge,
    /// The method is not one this path answers (`Allow` says which are).
    MethodNotAllowed,
    /// A body in a media type the operation does not take.
    UnsupportedMediaType,
    /// A WebSocket path asked without an upgradable connection.
    UpgradeRequired,
    /// A request header that makes the request impossible to satisfy as asked (a failed
    /// `If-Match` or `If-Unmodified-Since`).
    PreconditionFailed,
    /// The request clashes with what is there (a file of that name exists).
    Conflict,
    /// Too much interactive work queued; the client should retry shortly.
    Busy,
    Internal,
}

/// Every error the API answers with: a kind that decides the status, a message (sent to the
/// client for 4xx; for 5xx it says what was being done, and the client gets a generic text),
/// and the error that caused it, kept for the log.
#[derive(Debug, Clone)]
pub struct ApiError {
    kind: ErrorKind,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The same error, caused by `source` (logged with it).
    pub fn because(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn unknown_video(id: &str) -> Self {
        Self::new(ErrorKind::NotFound, format!("no video with id {id}"))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    pub fn bad_file(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadFile, message)
    }

    pub fn range_not_satisfiable(len: u64) -> Self {
        Self::new(
            ErrorKind::RangeNotSatisfiable { len },
            format!("the Range header asks for bytes outside the file ({len} bytes)"),
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            ErrorKind::Unauthorized,
            "an API key is needed: send it as the X-API-Key header (or api_key in the query)",
        )
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TooLarge, message)
    }

    pub fn precondition_failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PreconditionFailed, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UnsupportedMediaType, message)
    }

    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Busy, message)
    }

    /// A failure that is the server's: `doing` says what it was doing, for the log.
    pub fn internal(doing: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, doing)
    }

    /// The message and every cause below it, for the log line.
    fn chain(&self) -> String {
        let mut text = self.message.clone();
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            text.push_str(": ");
            text.push_str(&e.to_string());
            next = e.source();
        }
        text
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What was wrong, in plain words (4xx), or "internal error" (5xx; the cause is logged).
    #[schema(example = "time 99 s is past the end of the video (it has 100 frames, 4.000 s)")]
    pub error: String,
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self.kind {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Invalid | ErrorKind::BadFile => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// For failures of a blocking task (a panic in decoding or encoding): a 500, logged once.
    pub(crate) fn join(e: tokio::task::JoinError) -> Self {
        Self::internal("a blocking task failed").because(e)
    }
}

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        if e.is_bad_request() {
            Self::invalid(e.to_string())
        } else if e.is_bad_file() {
            Self::bad_file(e.to_string())
        } else if let DecodeError::Busy(_) | DecodeError::MemoryBusy { .. } = e {
            Self::busy(e.to_string())
        } else {
            Self::internal("decoding").because(e)
        }
    }
}

impl From<InferenceError> for ApiError {
    fn from(e: InferenceError) -> Self {
        match e {
            InferenceError::QueueFull => Self::busy("the model is busy; try again shortly"),
            // Where the server is (a URL) is for the log, not the client.
            e @ InferenceError::Unavailable(_) => {
                Self::busy("the model's inference server is unavailable; try again shortly").because(e)
            }
            e => Self::internal("running the model").because(e),
        }
    }
}

impl From<RenderError> for ApiError {
    fn from(e: RenderError) -> Self {
        if e.is_bad_request() {
            Self::invalid(e.to_string())
        } else {
            Self::internal("encoding a picture").because(e)
        }
    }
}

impl From<LiveError> for ApiError {
    fn from(e: LiveError) -> Self {
        match e {
            LiveError::BadSource(_) | LiveError::TooMany(_) => Self::invalid(e.to_string()),
            LiveError::Duplicate(_) => Self::conflict(e.to_string()),
            LiveError::BadOffer(_) => Self::bad_request(e.to_string()),
            LiveError::TooManyViewers(_) => Self::busy(e.to_string()),
            LiveError::Gone => Self::not_found(e.to_string()),
            LiveError::Render(e) => e.into(),
            LiveError::Database(e @ IndexError::Unavailable(_)) => {
                Self::busy("the database of the streams is unavailable; try again shortly").because(e)
            }
            LiveError::Thread(_)
            | LiveError::Task(_)
            | LiveError::Database(_)
            | LiveError::Scale(_)
            | LiveError::WebRtc(_) => Self::internal("a live stream").because(e),
        }
    }
}

impl From<IndexError> for ApiError {
    fn from(e: IndexError) -> Self {
        Self::internal("reading the index").because(e)
    }
}

impl ApiError {
    /// An error that axum or a layer below the handlers answered with: its status decides the
    /// kind, its text is the message. Every rejection of an extractor and every error response
    /// the router makes itself (no route, wrong method, body too large) comes through here.
    pub(crate) fn rejected(status: StatusCode, text: String) -> Self {
        let kind = match status {
            StatusCode::NOT_FOUND => ErrorKind::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorKind::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::TooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorKind::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => ErrorKind::Invalid,
            StatusCode::UPGRADE_REQUIRED => ErrorKind::UpgradeRequired,
            StatusCode::PRECONDITION_FAILED => ErrorKind::PreconditionFailed,
            StatusCode::SERVICE_UNAVAILABLE => ErrorKind::Busy,
            s if s.is_client_error() => ErrorKind::BadRequest,
            _ => ErrorKind::Internal,
        };
        Self::new(kind, text)
    }
}

macro_rules! from_rejection {
    ($($rejection:ty),*) => {$(
        impl From<$rejection> for ApiError {
            fn from(e: $rejection) -> Self {
                Self::rejected(e.status(), e.body_text())
            }
        }
    )*};
}

from_rejection!(
    axum::extract::rejection::QueryRejection,
    axum::extract::rejection::PathRejection,
    axum::extract::rejection::JsonRejection,
    axum::extract::rejection::BytesRejection,
    axum::extract::ws::rejection::WebSocketUpgradeRejection
);

/// The safety net under the handlers: an error response that is not already our JSON (axum's
/// own 404 for no route, 405 for a wrong method, a layer's 413) becomes one, with its status
/// and headers (`Allow`) kept. Handlers' errors are JSON already and pass untouched.
pub(crate) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // The texts of axum's own errors are a line; anything longer is not one of them.
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let (json, body) = ApiError::rejected(status, text).into_response().into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in &json.headers {
        parts.headers.insert(name.clone(), value.clone());
    }
    Response::from_parts(parts, body)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match self.kind {
            ErrorKind::Internal => {
                // The one log line of a failed request: what was being done, and every cause.
                tracing::error!(error = %self.chain(), "request failed");
                "internal error".to_owned()
            }
            // Busy is the server's state, not a fault: the client is told to come back, and the
            // cause (a full queue, an inference server away) is said where it is noticed.
            ErrorKind::Busy => {
                tracing::debug!(error = %self.chain(), "request refused: busy");
                self.message
            }
            _ => self.message,
        };
        let mut response = (status, Json(ErrorBody { error: message })).into_response();
        match self.kind {
            ErrorKind::RangeNotSatisfiable { len } => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, v);
                }
            }
            ErrorKind::Busy => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ErrorKind::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("ApiKey"));
            }
            _ => {}
        }
        response
    }
}

/// The answer to a request whose handler panicked (a bug: logged with what it said).
pub(crate) fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    ApiError::internal(format!("a handler panicked: {what}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_error_keeps_its_cause_for_the_log_and_tells_the_client_nothing() {
        let disk = std::io::Error::other("no space left on device");
        let e = ApiError::internal("writing an upload").because(disk);
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert_eq!(e.chain(), "writing an upload: no space left on device");
        assert!(std::error::Error::source(&e).is_some());
        let response = e.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        // A client error says what was wrong, and nothing is logged for it.
        let e = ApiError::from(DecodeError::Busy(8));
        assert_eq!(e.kind(), ErrorKind::Busy);
        assert_eq!(e.into_response().headers()[header::RETRY_AFTER], "1");
    }
}
