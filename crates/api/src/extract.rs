//! Extractors whose rejections are our JSON errors, not axum's plain-text defaults, and the
//! checked conversions of the numbers clients send.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The `{id}` of a route (a video's or a stream's).
#[derive(Debug)]
pub(crate) struct PathId(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await?;
        Ok(Self(id))
    }
}

/// All the parameters of a route's path, parsed into `T` (a tuple in path order).
#[derive(Debug)]
pub(crate) struct PathArgs<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathArgs<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(t) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(t))
    }
}

/// Query parameters, parsed into `T`.
#[derive(Debug)]
pub(crate) struct Params<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(t) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(t))
    }
}

/// A WebSocket handshake; a request that is not one is our JSON error (400, or 426 when the
/// connection cannot be upgraded).
#[derive(Debug)]
pub(crate) struct Upgrade(pub(crate) axum::extract::ws::WebSocketUpgrade);

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let upgrade = axum::extract::ws::WebSocketUpgrade::from_request_parts(parts, state).await?;
        Ok(Self(upgrade))
    }
}

/// `s` seconds as a duration, or a 422 naming `what` when it is not one (negative, NaN,
/// infinite, or past what a duration holds): never a panic on a client's number.
pub(crate) fn seconds(s: f64, what: &str) -> Result<std::time::Duration, ApiError> {
    std::time::Duration::try_from_secs_f64(s).map_err(|_| {
        ApiError::invalid(format!(
            "{what} must be a number of seconds from 0 up to about 10^19, not {s}"
        ))
    })
}
