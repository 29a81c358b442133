//! Pictures: the frame at a moment (optionally with the model's boxes and count drawn), its
//! thumbnail, and the thumbnail sprite sheets with their WebVTT map for timeline hovers.
//!
//! A frame's bytes depend only on (file version, frame, width, format, quality level, model):
//! they are cached under that key and sent with an ETag and a long-lived Cache-Control, and an
//! `If-None-Match` is answered with 304 before anything is decoded. Requested JPEG qualities
//! snap to a few configured levels so one encoding serves many clients.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use headers::{ETag, HeaderMapExt, IfNoneMatch};
use pigweight_decode::{Mode, Size};
use pigweight_render::{Format, draw_overlay, encode, snap_quality};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Params, PathArgs, PathId};
use crate::library::Entry;
use crate::media::{decode, detect};
use crate::state::{AppState, Encoded, ImageKey};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(frame_optimized))
        .routes(routes!(get_thumbnail))
        .routes(routes!(get_thumbnails_vtt))
        .routes(routes!(get_sprite))
}

/// Image encodings offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Encoding {
    #[default]
    Jpeg,
    Png,
}

impl From<Encoding> for Format {
    fn from(e: Encoding) -> Self {
        match e {
            Encoding::Jpeg => Self::Jpeg,
            Encoding::Png => Self::Png,
        }
    }
}

/// Exactly the frame at t, or the keyframe before it (cheap; for dragging).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FrameMode {
    #[default]
    Exact,
    Fast,
}

fn default_quality() -> u8 {
    80
}

fn default_inference() -> bool {
    true
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FrameQuery {
    /// Video id.
    id: String,
    /// Seconds from the first frame, 0..=duration.
    t: f64,
    /// JPEG quality 1..=100; snaps to the nearest configured level (default levels 90/70/50).
    #[serde(default = "default_quality")]
    #[param(default = 80, minimum = 1, maximum = 100)]
    quality: u8,
    /// Draw the model's boxes and the count on the frame.
    #[serde(default = "default_inference")]
    #[param(default = true)]
    inference: bool,
    /// Scale to this width (16 or more; the height keeps the aspect ratio; never upscaled).
    width: Option<u32>,
    #[serde(default)]
    #[param(inline)]
    mode: FrameMode,
    #[serde(default)]
    #[param(inline)]
    format: Encoding,
}

/// The frame on screen at `t` as JPEG (or PNG), with the model's boxes and count drawn when
/// `inference` is on. Headers: `X-Frame-Time` (the frame's own time from the first frame),
/// `X-Frame-Pts` (its container timestamp), `X-Frame-Index`, `X-Has-Inference`, `X-Count`,
/// `ETag`, and a long-lived `Cache-Control`: the bytes for one frame never change.
#[utoipa::path(get, path = "/api/video_file/frame_optimized", operation_id = "getFrame", tag = "frames",
    params(FrameQuery),
    responses(
        (status = 200, description = "The frame", content(("image/jpeg"), ("image/png")),
            headers(("X-Frame-Index" = u64, description = "The frame's index"),
                    ("X-Frame-Time" = f64, description = "The frame's time, seconds from the first frame"),
                    ("X-Has-Inference" = bool, description = "Whether boxes were drawn"),
                    ("X-Count" = u32, description = "The count, when inference is on"))),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 422, description = "t, width or quality out of range, or an unreadable file", body = ErrorBody),
        (status = 503, description = "The model is busy, or its inference server is unavailable; retry after `Retry-After`", body = ErrorBody),
    ))]
async fn frame_optimized(
    State(app): State<AppState>,
    Params(q): Params<FrameQuery>,
    request_headers: HeaderMap,
) -> Result<Response, ApiError> {
    let entry = app.entry(&q.id)?;
    let (probed, mut frame) = app.frame_at(&entry, q.t).await?;
    let tl = &probed.timeline;
    if q.mode == FrameMode::Fast {
        frame = tl.keyframe_at_or_before(frame);
    }
    let native = (probed.info.width, probed.info.height);
    let size = match q.width {
        Some(w) if w < 16 => return Err(ApiError::invalid("width must be at least 16")),
        Some(w) if w < native.0 => Size::Width(w),
        _ => Size::Native,
    };
    let (width, height) = size.resolve(native)?;
    let format = Format::from(q.format);
    let quality = match format {
        Format::Jpeg => snap_quality(q.quality, &app.config.jpeg_qualities)?,
        Format::Png => 0,
    };
    let key = ImageKey {
        video: Arc::clone(entry.version()),
        frame,
        width,
        format,
        quality,
        boxes: q.inference,
    };
    let model = if q.inference { &*app.model_tag } else { "" };
    let etag: ETag = format!(
        "\"{}\"",
        &blake3::hash(format!("{key:?}{model}").as_bytes()).to_hex()[..20]
    )
    .parse()
    .map_err(|_| ApiError::internal("an ETag did not parse"))?;
    let mut headers = HeaderMap::new();
    headers.typed_insert(etag.clone());
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert("x-frame-index", HeaderValue::from(frame));
    let time = tl.time(frame).unwrap_or(q.t);
    if let Ok(v) = HeaderValue::from_str(&format!("{time:.6}")) {
        headers.insert("x-frame-time", v);
    }
    if let Some(pts) = tl.pts(frame)
        && let Ok(v) = HeaderValue::from_str(&format!("{:.6}", pts.as_secs_f64()))
    {
        headers.insert("x-frame-pts", v);
    }
    headers.insert(
        "x-has-inference",
        HeaderValue::from_static(if q.inference { "true" } else { "false" }),
    );
    if request_headers
        .typed_get::<IfNoneMatch>()
        .is_some_and(|inm| !inm.precondition_passes(&etag))
    {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    let mode = match q.mode {
        FrameMode::Fast => Mode::Fast,
        FrameMode::Exact => Mode::Exact,
    };
    // Concurrent requests for the same image wait for one encoding (moka coalesces them).
    let mut made = false;
    let encoded = app
        .images
        .try_get_with(key.clone(), async {
            made = true;
            render(&app, &entry, &key, mode, native, height).await
        })
        .await
        .map_err(|e| (*e).clone())?;
    let counter = if made {
        &app.counters.images_misses
    } else {
        &app.counters.images_hits
    };
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    headers.insert(
        "x-cache",
        HeaderValue::from_static(if made { "miss" } else { "hit" }),
    );
    if let Some(count) = encoded.count {
        headers.insert("x-count", HeaderValue::from(count));
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    Ok((headers, encoded.bytes).into_response())
}

/// Makes the image `key` names: decodes its frame (`mode` says how to seek), runs the model
/// when boxes are asked for, draws, scales from `native` to `key.width` x `height` and encodes.
async fn render(
    app: &AppState,
    entry: &Entry,
    key: &ImageKey,
    mode: Mode,
    native: (u32, u32),
    height: u32,
) -> Result<Encoded, ApiError> {
    let (frame, width) = (key.frame, key.width);
    let detections = if key.boxes {
        Some(detect(app, entry, frame).await?.0)
    } else {
        None
    };
    let count = detections.as_ref().map(|d| d.count());
    // Decoded at its own size (the model's input, and one cache entry for every width), then
    // resized here.
    let picture = decode(app, entry, frame, mode, Size::Native).await?;
    let started = Instant::now();
    let (format, quality) = (key.format, key.quality);
    let budget = std::sync::Arc::clone(app.decoder.budget());
    let bytes = tokio::task::spawn_blocking(move || -> Result<Bytes, ApiError> {
        // A resized copy, a copy to draw on, and the encoded image: held out of the memory
        // budget the decoders share, for as long as this encoding runs.
        let _memory = budget.reserve(u64::from(width) * u64::from(height) * 9, ENCODE_MEMORY_WAIT)?;
        let scaled = if (width, height) == native {
            None
        } else {
            Some(picture.resized(width, height)?)
        };
        let picture = scaled.as_ref().unwrap_or(&picture);
        match &detections {
            Some(d) => {
                // The decoded frame may be shared through the frame cache: draw on a copy.
                let mut rgb = picture.data.clone();
                let scale = (width as f32 / native.0 as f32, height as f32 / native.1 as f32);
                draw_overlay(
                    &mut rgb,
                    width,
                    height,
                    d.boxes.iter().map(|d| d.bbox),
                    scale,
                    &d.count().to_string(),
                );
                Ok(encode(&rgb, width, height, format, quality)?)
            }
            None => Ok(encode(&picture.data, width, height, format, quality)?),
        }
    })
    .await
    .map_err(ApiError::join)??;
    app.counters.encode_ms_total.add(started.elapsed());
    app.counters
        .encodes
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(Encoded { bytes, count })
}

/// How long an encoding waits for memory before the request is answered 503.
const ENCODE_MEMORY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ThumbQuery {
    /// Seconds from the first frame.
    t: f64,
}

/// The index's thumbnail nearest before `t` (JPEG, 160 px high), for timeline hovers.
#[utoipa::path(get, path = "/api/videos/{id}/thumbnail", operation_id = "getThumbnail", tag = "frames",
    params(("id" = String, Path, description = "Video id"), ThumbQuery),
    responses(
        (status = 200, description = "The thumbnail", content_type = "image/jpeg"),
        (status = 404, description = "No such video, or no thumbnail indexed yet", body = ErrorBody),
        (status = 422, description = "t is not a time in the video", body = ErrorBody),
    ))]
async fn get_thumbnail(
    State(app): State<AppState>,
    PathId(id): PathId,
    Params(q): Params<ThumbQuery>,
) -> Result<Response, ApiError> {
    let entry = app.entry(&id)?;
    app.frame_at(&entry, q.t).await?;
    let frame = app
        .indexer
        .view(&entry.path)
        .and_then(|v| v.thumbnail_at(q.t))
        .ok_or_else(|| ApiError::not_found(format!("video {id} has no thumbnails yet")))?;
    let indexer = Arc::clone(&app.indexer);
    let jpeg = tokio::task::spawn_blocking(move || indexer.thumbnail(&entry.path, frame))
        .await
        .map_err(ApiError::join)??
        .ok_or_else(|| ApiError::not_found(format!("video {id} has no thumbnails yet")))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=60"),
            ),
            (
                header::HeaderName::from_static("x-frame-index"),
                HeaderValue::from(frame),
            ),
        ],
        jpeg,
    )
        .into_response())
}

/// The WebVTT map of the thumbnail sprite sheets (10x10 tiles each), the convention video
/// players use for timeline previews: each cue names `sprites/{sheet}#xywh=x,y,w,h`.
#[utoipa::path(get, path = "/api/videos/{id}/thumbnails.vtt", operation_id = "getThumbnailsVtt", tag = "frames",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 200, description = "The map", content_type = "text/vtt"),
        (status = 404, description = "No such video, or no thumbnails indexed yet", body = ErrorBody),
    ))]
async fn get_thumbnails_vtt(State(app): State<AppState>, PathId(id): PathId) -> Result<Response, ApiError> {
    let entry = app.entry(&id)?;
    let probed = app.probed(&entry).await?;
    let duration = probed.info.duration;
    let indexer = Arc::clone(&app.indexer);
    let sheet_id = id.clone();
    let vtt = tokio::task::spawn_blocking(move || {
        indexer.sprite_vtt(&entry.path, duration, &|k| {
            format!("/api/videos/{sheet_id}/sprites/{k}")
        })
    })
    .await
    .map_err(ApiError::join)??
    .ok_or_else(|| ApiError::not_found(format!("video {id} has no thumbnails yet")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/vtt; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        vtt,
    )
        .into_response())
}

/// Sprite sheet `sheet` of the thumbnails (JPEG), as named by `thumbnails.vtt`.
#[utoipa::path(get, path = "/api/videos/{id}/sprites/{sheet}", operation_id = "getSprite", tag = "frames",
    params(("id" = String, Path, description = "Video id"), ("sheet" = usize, Path, description = "Sheet number, from 0")),
    responses(
        (status = 200, description = "The sheet", content_type = "image/jpeg"),
        (status = 404, description = "No such video or sheet", body = ErrorBody),
    ))]
async fn get_sprite(
    State(app): State<AppState>,
    PathArgs((id, sheet)): PathArgs<(String, usize)>,
) -> Result<Response, ApiError> {
    let entry = app.entry(&id)?;
    let indexer = Arc::clone(&app.indexer);
    let jpeg = tokio::task::spawn_blocking(move || indexer.sprite_sheet(&entry.path, sheet, 75))
        .await
        .map_err(ApiError::join)??
        .ok_or_else(|| ApiError::not_found(format!("video {id} has no sprite sheet {sheet}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        jpeg,
    )
        .into_response())
}
