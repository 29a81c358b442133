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
        } else if let DecodeError::Busy(_) = e {
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

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        Self::BadRequest(e.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(e: axum::extract::rejection::PathRejection) -> Self {
        Self::BadRequest(e.body_text())
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        Self::BadRequest(e.body_text())
    }
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
