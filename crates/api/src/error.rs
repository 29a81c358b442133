//! The API's one error type, and the one place where errors become HTTP statuses.
//!
//! 4xx bodies say in plain words what was wrong with the request; 5xx bodies are generic and
//! the cause is logged here, once.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pigweight_decode::DecodeError;
use pigweight_indexer::IndexError;
use pigweight_inference::InferenceError;
use serde::Serialize;
use utoipa::ToSchema;

/// Every error the API answers with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("no video with id {0}")]
    UnknownVideo(String),
    #[error("{0}")]
    NotFound(String),
    /// A parameter that parsed but makes no sense (t past the end, a bad size).
    #[error("{0}")]
    Invalid(String),
    /// A request that could not be parsed at all.
    #[error("{0}")]
    BadRequest(String),
    /// The video file cannot be read as a video.
    #[error("{0}")]
    BadFile(String),
    #[error("the Range header asks for bytes outside the file ({0} bytes)")]
    RangeNotSatisfiable(u64),
    #[error("an API key is needed: send it as the X-API-Key header (or api_key in the query)")]
    Unauthorized,
    #[error("{0}")]
    TooLarge(String),
    /// The method is not one this path answers (`Allow` says which are).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A body in a media type the operation does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A WebSocket path asked without an upgradable connection.
    #[error("{0}")]
    UpgradeRequired(String),
    /// A request header that makes the request impossible to satisfy as asked (a failed
    /// `If-Match` or `If-Unmodified-Since`).
    #[error("{0}")]
    PreconditionFailed(String),
    /// The request clashes with what is there (a file of that name exists).
    #[error("{0}")]
    Conflict(String),
    /// Too much interactive work queued; the client should retry shortly.
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Internal(String),
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
        match self {
            Self::UnknownVideo(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Invalid(_) | Self::BadFile(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UpgradeRequired(_) => StatusCode::UPGRADE_REQUIRED,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// For failures of a blocking task (a panic in decoding or encoding): a 500, logged once.
    pub(crate) fn join(e: tokio::task::JoinError) -> Self {
        Self::Internal(format!("a blocking task failed: {e}"))
    }
}

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        if e.is_bad_request() {
            Self::Invalid(e.to_string())
        } else if e.is_bad_file() {
            Self::BadFile(e.to_string())
        } else if let DecodeError::Busy(_) | DecodeError::MemoryBusy { .. } = e {
            Self::Busy(e.to_string())
        } else {
            Self::Internal(e.to_string())
        }
    }
}

impl From<InferenceError> for ApiError {
    fn from(e: InferenceError) -> Self {
        match e {
            InferenceError::QueueFull => Self::Busy("the model is busy; try again shortly".into()),
            e => Self::Internal(e.to_string()),
        }
    }
}

impl From<IndexError> for ApiError {
    fn from(e: IndexError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl ApiError {
    /// An error that axum or a layer below the handlers answered with: its status decides the
    /// kind, its text is the message. Every rejection of an extractor and every error response
    /// the router makes itself (no route, wrong method, body too large) comes through here.
    pub(crate) fn rejected(status: StatusCode, text: String) -> Self {
        match status {
            StatusCode::BAD_REQUEST => Self::BadRequest(text),
            StatusCode::NOT_FOUND => Self::NotFound(text),
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed(text),
            StatusCode::PAYLOAD_TOO_LARGE => Self::TooLarge(text),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType(text),
            StatusCode::UNPROCESSABLE_ENTITY => Self::Invalid(text),
            StatusCode::UPGRADE_REQUIRED => Self::UpgradeRequired(text),
            StatusCode::PRECONDITION_FAILED => Self::PreconditionFailed(text),
            StatusCode::SERVICE_UNAVAILABLE => Self::Busy(text),
            s if s.is_client_error() => Self::BadRequest(text),
            _ => Self::Internal(text),
        }
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
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        let mut response = (status, Json(ErrorBody { error: message })).into_response();
        match self {
            Self::RangeNotSatisfiable(len) => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, v);
                }
            }
            Self::Busy(_) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::Unauthorized => {
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
    ApiError::Internal(format!("a handler panicked: {what}")).into_response()
}
