//! The video file itself, for the browser's `<video>`: byte ranges, conditional requests and
//! caching validators, streamed from disk without loading the file into memory.
//!
//! Ranges follow RFC 9110: one satisfiable range gives 206 with `Content-Range`; a range that
//! lies wholly past the end gives 416 with `Content-Range: bytes */len`; several ranges, or a
//! header that does not parse, give the whole file (a server may ignore such a header); an
//! `If-Range` that no longer matches the file gives the whole file.

use std::io::SeekFrom;
use std::time::UNIX_EPOCH;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use headers::{ETag, HeaderMapExt, IfModifiedSince, IfNoneMatch, IfRange, LastModified};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::PathId;
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stream_video))
        .routes(routes!(stream_hls))
}

/// The video file, with byte ranges (`Range`, `If-Range`), validators (`ETag`,
/// `Last-Modified`) and conditional requests (`If-None-Match`, `If-Modified-Since` → 304).
/// `HEAD` answers the same headers without the body.
#[utoipa::path(get, path = "/api/videos/{id}/stream", operation_id = "streamVideo", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 200, description = "The whole file", content_type = "video/mp4"),
        (status = 206, description = "One byte range", content_type = "video/mp4"),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 416, description = "The range lies outside the file", body = ErrorBody),
    ))]
async fn stream_video(
    State(app): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve_file(&app, &id, &headers).await
}

/// The same as `streamVideo`, at the path the existing PigWeight player uses.
#[utoipa::path(get, path = "/api/video_file/stream_hls/{id}", operation_id = "streamVideoCompat", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 200, description = "The whole file", content_type = "video/mp4"),
        (status = 206, description = "One byte range", content_type = "video/mp4"),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 416, description = "The range lies outside the file", body = ErrorBody),
    ))]
async fn stream_hls(
    State(app): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve_file(&app, &id, &headers).await
}

async fn serve_file(app: &AppState, id: &str, request: &HeaderMap) -> Result<Response, ApiError> {
    let entry = app.entry(id)?;
    let gone = |e: std::io::Error| ApiError::NotFound(format!("the file of video {id} cannot be read: {e}"));
    let mut file = tokio::fs::File::open(&entry.path).await.map_err(gone)?;
    let meta = file.metadata().await.map_err(gone)?;
    let len = meta.len();
    let modified = meta.modified().ok();
    let stamp = modified
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let etag: ETag = format!("\"{len:x}-{stamp:x}\"")
        .parse()
        .map_err(|_| ApiError::Internal("an ETag did not parse".into()))?;
    let last_modified = modified.map(LastModified::from);

    let mut headers = HeaderMap::new();
    headers.typed_insert(etag.clone());
    if let Some(lm) = last_modified {
        headers.typed_insert(lm);
    }
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&entry.path)),
    );

    // If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    let not_modified = match request.typed_get::<IfNoneMatch>() {
        Some(inm) => !inm.precondition_passes(&etag),
        None => match (request.typed_get::<IfModifiedSince>(), modified) {
            (Some(ims), Some(m)) => !ims.is_modified(m),
            _ => false,
        },
    };
    if not_modified {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }

    let if_range_holds = request
        .typed_get::<IfRange>()
        .is_none_or(|ir| !ir.is_modified(Some(&etag), last_modified.as_ref()));
    let range = match request.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(spec) if if_range_holds => byte_range(spec, len)?,
        _ => None,
    };
    let (status, start, count) = match range {
        Some((start, end)) => {
            let v = format!("bytes {start}-{end}/{len}");
            headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&v).map_err(|e| ApiError::Internal(e.to_string()))?,
            );
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        None => (StatusCode::OK, 0, len),
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if start > 0 {
        file.seek(SeekFrom::Start(start)).await.map_err(gone)?;
    }
    let body = Body::from_stream(ReaderStream::with_capacity(file.take(count), 64 * 1024));
    Ok((status, headers, body).into_response())
}

/// The one byte range to send (first and last byte, inclusive), `None` for the whole file.
fn byte_range(spec: &str, len: u64) -> Result<Option<(u64, u64)>, ApiError> {
    // A header that does not parse is ignored (RFC 9110 14.2): the whole file.
    let Ok(parsed) = http_range_header::parse_range_header(spec) else {
        return Ok(None);
    };
    let ranges = parsed
        .validate(len)
        .map_err(|_| ApiError::RangeNotSatisfiable(len))?;
    Ok(match ranges.as_slice() {
        [one] => Some((*one.start(), *one.end())),
        // Several ranges: the whole file, rather than a multipart body players never ask for.
        _ => None,
    })
}

fn content_type(path: &std::path::Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("mp4" | "m4v") => "video/mp4",
        Some("mov") => "video/quicktime",
        Some("mkv") => "video/x-matroska",
        Some("webm") => "video/webm",
        Some("avi") => "video/x-msvideo",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(byte_range("bytes=0-99", 1000).unwrap(), Some((0, 99)));
        assert_eq!(byte_range("bytes=900-", 1000).unwrap(), Some((900, 999)));
        assert_eq!(byte_range("bytes=-100", 1000).unwrap(), Some((900, 999)));
        // An end past the file is cut to it.
        assert_eq!(byte_range("bytes=990-2000", 1000).unwrap(), Some((990, 999)));
        assert!(matches!(
            byte_range("bytes=1000-", 1000),
            Err(ApiError::RangeNotSatisfiable(1000))
        ));
        assert!(matches!(
            byte_range("bytes=5000-6000", 1000),
            Err(ApiError::RangeNotSatisfiable(1000))
        ));
        // Garbage and other units are ignored: the whole file.
        assert_eq!(byte_range("bytes=abc", 1000).unwrap(), None);
        assert_eq!(byte_range("items=0-1", 1000).unwrap(), None);
        // Several ranges: the whole file.
        assert_eq!(byte_range("bytes=0-1,5-6", 1000).unwrap(), None);
    }
}
