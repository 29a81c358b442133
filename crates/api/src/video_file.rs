//! The video file itself, for the browser's `<video>`: byte ranges, conditional requests and
//! caching validators, streamed from disk without loading the file into memory.
//!
//! Preconditions are evaluated in RFC 9110 §13.2.2's order: `If-Match` (strong comparison;
//! failing: 412), else `If-Unmodified-Since` (412 when the file is newer); then `If-None-Match`
//! (weak comparison; matching: 304), else `If-Modified-Since` (304 when the file is not newer);
//! then `If-Range`, which keeps the `Range` only when it is a strong ETag equal to the file's, or
//! exactly its `Last-Modified` date (and that date is a strong validator: more than a second
//! old). A date that does not parse makes its header absent; a tag list that does not parse
//! matches nothing.
//!
//! Ranges follow RFC 9110 §14 (parsed by `http-range-header`): one satisfiable range gives 206
//! with `Content-Range`; several give 206 `multipart/byteranges`, one part each, like nginx;
//! ranges that are not satisfiable are dropped, and when none is left the answer is 416 with
//! `Content-Range: bytes */len`. A header that does not parse, ranges that overlap more than
//! once, or more than [`MAX_PARTS`] give the whole file (a server may ignore any `Range`). A
//! 304 carries the validators and no `Content-Length`.
//!
//! `http-serve` (moonfire-nvr's) was the crate to prefer, but it departs from RFC 9110 where
//! this file does not: it answers 400 to a date that does not parse (§13.1.3/4: ignore it),
//! weighs `If-Unmodified-Since` even beside `If-Match`, never honours an `If-Range` date, and
//! refuses a suffix range longer than the file (§14.1.2: the whole file).

use std::io::SeekFrom;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use headers::{HeaderMapExt, LastModified};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::PathId;
use crate::state::AppState;
use pigweight_decode::FileVersion;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stream_video))
        .routes(routes!(stream_hls))
}

/// The video file, with byte ranges (`Range`, several as `multipart/byteranges`, `If-Range`),
/// validators (`ETag`, `Last-Modified`) and conditional requests (`If-Match`,
/// `If-Unmodified-Since` → 412; `If-None-Match`, `If-Modified-Since` → 304), as RFC 9110 says.
/// `HEAD` answers the same headers without the body.
#[utoipa::path(get, path = "/api/videos/{id}/stream", operation_id = "streamVideo", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 200, description = "The whole file", content_type = "video/mp4"),
        (status = 206, description = "One byte range (`video/mp4`, with `Content-Range`), or several as `multipart/byteranges`", content_type = "video/mp4"),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 412, description = "If-Match or If-Unmodified-Since does not hold", body = ErrorBody),
        (status = 416, description = "The range lies outside the file", body = ErrorBody),
    ))]
async fn stream_video(
    State(app): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve_file(&app, &id, &headers).await
}

/// The path the existing PigWeight player uses (its `<source>` says `application/x-mpegURL`).
/// It decides by the request: one whose `Accept` header names an HLS playlist
/// (`application/vnd.apple.mpegurl` or `application/x-mpegurl`) and that has no `Range` gets the
/// HLS master playlist (`getHlsMaster`), whose renditions play where the file's own codec does
/// not; every other request (media elements' range requests, downloads) gets the file as
/// `streamVideo` serves it, with the same ranges and conditionals.
#[utoipa::path(get, path = "/api/video_file/stream_hls/{id}", operation_id = "streamVideoCompat", tag = "videos",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 200, description = "The whole file; or, asked for an HLS playlist by `Accept`, the master playlist", content_type = "video/mp4"),
        (status = 206, description = "One byte range (`video/mp4`, with `Content-Range`), or several as `multipart/byteranges`", content_type = "video/mp4"),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 412, description = "If-Match or If-Unmodified-Since does not hold", body = ErrorBody),
        (status = 416, description = "The range lies outside the file", body = ErrorBody),
    ))]
async fn stream_hls(
    State(app): State<AppState>,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let asks_hls = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("application/vnd.apple.mpegurl") || v.contains("application/x-mpegurl")
        });
    if asks_hls && !headers.contains_key(header::RANGE) {
        crate::hls::master_of(&app, &id).await
    } else {
        serve_file(&app, &id, &headers).await
    }
}

/// The most ranges answered as parts of one `multipart/byteranges` body; more get the whole
/// file.
const MAX_PARTS: usize = 32;
/// Bytes read from the file at a time.
const CHUNK: usize = 64 * 1024;

async fn serve_file(app: &AppState, id: &str, request: &HeaderMap) -> Result<Response, ApiError> {
    let entry = app.entry(id)?;
    let gone = |e: std::io::Error| ApiError::not_found(format!("the file of video {id} cannot be read: {e}"));
    let file = tokio::fs::File::open(&entry.path).await.map_err(gone)?;
    let meta = file.metadata().await.map_err(gone)?;
    let version = FileVersion::of(&meta);
    let len = version.len;
    let since_epoch = version.modified().and_then(|m| m.duration_since(UNIX_EPOCH).ok());
    // The file's version is its strong validator: the same token the caches and the index use.
    let etag = format!("\"{version}\"");
    let validators = Validators {
        etag: &etag,
        // What `Last-Modified` says: whole seconds.
        modified_s: since_epoch.map(|d| d.as_secs()),
        now_s: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let kind = HeaderValue::from_static(
        crate::library::video_type(&entry.path).unwrap_or("application/octet-stream"),
    );

    let mut headers = HeaderMap::new();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).map_err(|_| ApiError::internal("an ETag is not a header"))?,
    );
    if let Some(m) = version.modified() {
        headers.typed_insert(LastModified::from(m));
    }
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));

    match validators.preconditions(request) {
        Precondition::Failed(why) => return Err(ApiError::precondition_failed(why)),
        Precondition::NotModified => {
            // No body and no Content-Length (axum would add `0` for an empty body).
            let body = Body::from_stream(futures_util::stream::empty::<Result<Bytes, std::io::Error>>());
            return Ok((StatusCode::NOT_MODIFIED, headers, body).into_response());
        }
        Precondition::Proceed => {}
    }
    let range = request
        .get(header::RANGE)
        .filter(|_| validators.if_range_holds(request))
        .and_then(|v| v.to_str().ok());
    let ranges = match range {
        Some(spec) => byte_ranges(spec, len)?,
        None => Vec::new(),
    };
    let (status, pieces) = match ranges.as_slice() {
        [] => {
            headers.insert(header::CONTENT_TYPE, kind);
            (StatusCode::OK, vec![Piece::File { at: 0, len }])
        }
        [(start, end)] => {
            headers.insert(header::CONTENT_TYPE, kind);
            headers.insert(
                header::CONTENT_RANGE,
                header_value(format!("bytes {start}-{end}/{len}"))?,
            );
            let piece = Piece::File {
                at: *start,
                len: end - start + 1,
            };
            (StatusCode::PARTIAL_CONTENT, vec![piece])
        }
        many => {
            let boundary = format!("pigweight-{}", &blake3::hash(etag.as_bytes()).to_hex()[..20]);
            headers.insert(
                header::CONTENT_TYPE,
                header_value(format!("multipart/byteranges; boundary={boundary}"))?,
            );
            let kind = kind.to_str().unwrap_or("application/octet-stream");
            let mut pieces = Vec::with_capacity(many.len() * 2 + 1);
            for (start, end) in many {
                pieces.push(Piece::Text(Bytes::from(format!(
                    "\r\n--{boundary}\r\nContent-Type: {kind}\r\nContent-Range: bytes {start}-{end}/{len}\r\n\r\n"
                ))));
                pieces.push(Piece::File {
                    at: *start,
                    len: end - start + 1,
                });
            }
            pieces.push(Piece::Text(Bytes::from(format!("\r\n--{boundary}--\r\n"))));
            (StatusCode::PARTIAL_CONTENT, pieces)
        }
    };
    let total: u64 = pieces.iter().map(Piece::len).sum();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(total));
    Ok((status, headers, Body::from_stream(read_pieces(file, pieces))).into_response())
}

fn header_value(s: String) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(&s).map_err(|e| ApiError::internal("a header value").because(e))
}

/// What the file is known by, for comparing with a request's preconditions.
#[derive(Debug)]
struct Validators<'a> {
    /// The strong ETag, quoted.
    etag: &'a str,
    /// `Last-Modified`, in whole seconds since 1970.
    modified_s: Option<u64>,
    now_s: u64,
}

#[derive(Debug, PartialEq)]
enum Precondition {
    Proceed,
    NotModified,
    /// 412, with what failed.
    Failed(String),
}

impl Validators<'_> {
    /// RFC 9110 §13.2.2, steps 1 to 4, for GET and HEAD.
    fn preconditions(&self, request: &HeaderMap) -> Precondition {
        if let Some(tags) = list(request, &header::IF_MATCH) {
            if !self.any_tag(&tags, strong_eq) {
                return Precondition::Failed("If-Match names no current version of the file".into());
            }
        } else if let (Some(since), Some(m)) = (date(request, &header::IF_UNMODIFIED_SINCE), self.modified_s)
            && m > since
        {
            return Precondition::Failed("the file was modified after If-Unmodified-Since".into());
        }
        if let Some(tags) = list(request, &header::IF_NONE_MATCH) {
            if self.any_tag(&tags, weak_eq) {
                return Precondition::NotModified;
            }
        } else if let (Some(since), Some(m)) = (date(request, &header::IF_MODIFIED_SINCE), self.modified_s)
            && m <= since
        {
            return Precondition::NotModified;
        }
        Precondition::Proceed
    }

    /// RFC 9110 §13.1.5: whether a `Range` stands (it does when there is no `If-Range`).
    fn if_range_holds(&self, request: &HeaderMap) -> bool {
        let mut values = request.get_all(header::IF_RANGE).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            // None, or several: a list is not a validator.
            return request.get(header::IF_RANGE).is_none();
        };
        let Ok(value) = value.to_str() else {
            return false;
        };
        let value = value.trim();
        if value.starts_with('"') || value.starts_with("W/") {
            return entity_tag(value).is_some_and(|tag| strong_eq(tag, self.etag));
        }
        // A date matches only exactly, and only as a strong validator: a file modified within
        // the second before now may have changed again within that second.
        let date = httpdate::parse_http_date(value)
            .ok()
            .and_then(|d| d.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        matches!((date, self.modified_s), (Some(d), Some(m)) if d == m && m < self.now_s)
    }

    fn any_tag(&self, tags: &Tags, eq: fn(&str, &str) -> bool) -> bool {
        match tags {
            Tags::Any => true,
            Tags::Listed(listed) => listed.iter().any(|t| eq(t, self.etag)),
        }
    }
}

/// An `If-Match` or `If-None-Match` value.
#[derive(Debug)]
enum Tags {
    /// `*`
    Any,
    /// The entity tags that parse; an item that does not parse matches nothing.
    Listed(Vec<String>),
}

/// The tags of every `name` header of the request, `None` when there is none.
fn list(request: &HeaderMap, name: &header::HeaderName) -> Option<Tags> {
    let mut values = request.get_all(name).iter().peekable();
    values.peek()?;
    let mut listed = Vec::new();
    for value in values {
        let text = String::from_utf8_lossy(value.as_bytes());
        if text.trim() == "*" {
            return Some(Tags::Any);
        }
        listed.extend(split_tags(&text).filter_map(entity_tag).map(str::to_owned));
    }
    Some(Tags::Listed(listed))
}

/// The items of a comma-separated list of entity tags; commas inside quotes are the tag's own.
fn split_tags(text: &str) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    text.split(move |c| {
        if c == '"' {
            quoted = !quoted;
        }
        c == ',' && !quoted
    })
    .map(str::trim)
    .filter(|item| !item.is_empty())
}

/// `tag` if it is an entity tag (`"opaque"` or `W/"opaque"`, RFC 9110 §8.8.3).
fn entity_tag(tag: &str) -> Option<&str> {
    let opaque = tag.strip_prefix("W/").unwrap_or(tag);
    let inner = opaque.strip_prefix('"')?.strip_suffix('"')?;
    let valid = inner
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80);
    valid.then_some(tag)
}

/// Strong comparison: both strong, same opaque tag.
fn strong_eq(a: &str, b: &str) -> bool {
    !a.starts_with("W/") && !b.starts_with("W/") && a == b
}

/// Weak comparison: same opaque tag, weak or not.
fn weak_eq(a: &str, b: &str) -> bool {
    a.trim_start_matches("W/") == b.trim_start_matches("W/")
}

/// The date of a `name` header in whole seconds, `None` when absent, not a date, or given more
/// than once (RFC 9110 §13.1.3/4: such a header is ignored).
fn date(request: &HeaderMap, name: &header::HeaderName) -> Option<u64> {
    let mut values = request.get_all(name).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    let date = httpdate::parse_http_date(value.to_str().ok()?.trim()).ok()?;
    date.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// What a body is made of: text of our own, or a stretch of the file.
#[derive(Debug)]
enum Piece {
    Text(Bytes),
    File { at: u64, len: u64 },
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Self::Text(b) => b.len() as u64,
            Self::File { len, .. } => *len,
        }
    }
}

/// The pieces in order, the file read [`CHUNK`] bytes at a time. A file that got shorter
/// since it was opened ends the body with an error (the client sees a cut-off response,
/// never other bytes).
fn read_pieces(
    file: tokio::fs::File,
    pieces: Vec<Piece>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    let state = (file, std::collections::VecDeque::from(pieces), None::<u64>);
    futures_util::stream::try_unfold(state, |(mut file, mut pieces, mut pos)| async move {
        loop {
            match pieces.front_mut() {
                None => return Ok(None),
                Some(Piece::Text(_)) => {
                    let Some(Piece::Text(text)) = pieces.pop_front() else {
                        unreachable!("the front piece is text");
                    };
                    return Ok(Some((text, (file, pieces, pos))));
                }
                Some(Piece::File { len: 0, .. }) => {
                    pieces.pop_front();
                }
                Some(Piece::File { at, len }) => {
                    if pos != Some(*at) {
                        file.seek(SeekFrom::Start(*at)).await?;
                    }
                    let want = usize::try_from(*len).unwrap_or(usize::MAX).min(CHUNK);
                    let mut buf = vec![0; want];
                    let n = file.read(&mut buf).await?;
                    if n == 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the file got shorter while it was sent",
                        ));
                    }
                    buf.truncate(n);
                    *at += n as u64;
                    *len -= n as u64;
                    pos = Some(*at);
                    return Ok(Some((Bytes::from(buf), (file, pieces, pos))));
                }
            }
        }
    })
}

/// The byte ranges to send (first and last byte, inclusive, in the order asked), empty for the
/// whole file.
fn byte_ranges(spec: &str, len: u64) -> Result<Vec<(u64, u64)>, ApiError> {
    use http_range_header::RangeUnsatisfiableError as E;
    let parsed = match http_range_header::parse_range_header(spec) {
        Ok(parsed) => parsed,
        // A header that does not parse, or too many ranges, is ignored: the whole file.
        Err(_) => return Ok(Vec::new()),
    };
    match parsed.validate(len) {
        Ok(ranges) if ranges.len() > MAX_PARTS => Ok(Vec::new()),
        Ok(ranges) if ranges.is_empty() => Err(ApiError::range_not_satisfiable(len)),
        Ok(ranges) => Ok(ranges.into_iter().map(|r| (*r.start(), *r.end())).collect()),
        Err(E::Unsatisfiable) => Err(ApiError::range_not_satisfiable(len)),
        // Ranges that overlap more than once: the whole file, rather than the same bytes
        // many times (RFC 9110 §14.2 allows either).
        Err(_) => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(byte_ranges("bytes=0-99", 1000).unwrap(), [(0, 99)]);
        assert_eq!(byte_ranges("bytes=900-", 1000).unwrap(), [(900, 999)]);
        assert_eq!(byte_ranges("bytes=-100", 1000).unwrap(), [(900, 999)]);
        // A suffix longer than the file is the whole file; an end past it is cut to it.
        assert_eq!(byte_ranges("bytes=-5000", 1000).unwrap(), [(0, 999)]);
        assert_eq!(byte_ranges("bytes=990-2000", 1000).unwrap(), [(990, 999)]);
        for unsatisfiable in [
            "bytes=1000-",
            "bytes=5000-6000",
            "bytes=-0",
            "bytes=1000-1001,2000-",
        ] {
            assert!(
                matches!(
                    byte_ranges(unsatisfiable, 1000),
                    Err(e) if e.kind() == crate::error::ErrorKind::RangeNotSatisfiable { len: 1000 }
                ),
                "{unsatisfiable}"
            );
        }
        // Ranges that are not satisfiable are dropped from a list that has others.
        assert_eq!(byte_ranges("bytes=0-1,5000-6000", 1000).unwrap(), [(0, 1)]);
        // Several ranges, in the order asked.
        assert_eq!(byte_ranges("bytes=5-6,0-1", 1000).unwrap(), [(5, 6), (0, 1)]);
        // Two ranges may overlap (as nginx, each is a part); more overlaps, garbage and other
        // units are ignored: the whole file.
        assert_eq!(byte_ranges("bytes=0-10,5-20", 1000).unwrap(), [(0, 10), (5, 20)]);
        for ignored in ["bytes=abc", "items=0-1", "bytes=0-10,5-20,8-30", "bytes=5-1"] {
            assert!(byte_ranges(ignored, 1000).unwrap().is_empty(), "{ignored}");
        }
        let many = (0..=MAX_PARTS)
            .map(|i| format!("{}-{}", i * 10, i * 10 + 1))
            .collect::<Vec<_>>();
        assert!(
            byte_ranges(&format!("bytes={}", many.join(",")), 1000)
                .unwrap()
                .is_empty()
        );
    }

    fn request(headers: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    const DATE: &str = "Tue, 01 Dec 2026 10:00:00 GMT";
    const EARLIER: &str = "Tue, 01 Dec 2026 09:59:59 GMT";
    const LATER: &str = "Tue, 01 Dec 2026 10:00:01 GMT";

    fn file() -> Validators<'static> {
        let modified = httpdate::parse_http_date(DATE).unwrap();
        let s = modified.duration_since(UNIX_EPOCH).unwrap().as_secs();
        Validators {
            etag: "\"abc\"",
            modified_s: Some(s),
            now_s: s + 3600,
        }
    }

    #[test]
    fn preconditions_follow_rfc_9110_order() {
        use Precondition::{NotModified, Proceed};
        let v = file();
        let failed = |h: &[(&str, &str)]| matches!(v.preconditions(&request(h)), Precondition::Failed(_));
        let eval = |h: &[(&str, &str)]| v.preconditions(&request(h));
        assert_eq!(eval(&[]), Proceed);
        // If-Match: strong comparison, `*`, lists, and garbage that matches nothing.
        assert_eq!(eval(&[("if-match", "\"abc\"")]), Proceed);
        assert_eq!(eval(&[("if-match", "*")]), Proceed);
        assert_eq!(eval(&[("if-match", "\"x\", \"abc\"")]), Proceed);
        assert_eq!(eval(&[("if-match", "\"x\""), ("if-match", "\"abc\"")]), Proceed);
        assert!(failed(&[("if-match", "\"x\"")]));
        assert!(failed(&[("if-match", "W/\"abc\"")]));
        assert!(failed(&[("if-match", "garbage")]));
        // If-Unmodified-Since: 412 when the file is newer; ignored beside If-Match or unparsed.
        assert_eq!(eval(&[("if-unmodified-since", DATE)]), Proceed);
        assert_eq!(eval(&[("if-unmodified-since", LATER)]), Proceed);
        assert!(failed(&[("if-unmodified-since", EARLIER)]));
        assert_eq!(
            eval(&[("if-match", "\"abc\""), ("if-unmodified-since", EARLIER)]),
            Proceed
        );
        assert_eq!(eval(&[("if-unmodified-since", "yesterday")]), Proceed);
        // If-None-Match: weak comparison; it outranks If-Modified-Since.
        assert_eq!(eval(&[("if-none-match", "\"abc\"")]), NotModified);
        assert_eq!(eval(&[("if-none-match", "W/\"abc\"")]), NotModified);
        assert_eq!(eval(&[("if-none-match", "*")]), NotModified);
        assert_eq!(eval(&[("if-none-match", "\"x\"")]), Proceed);
        assert_eq!(
            eval(&[("if-none-match", "\"x\""), ("if-modified-since", DATE)]),
            Proceed
        );
        // If-Modified-Since: 304 unless the file is newer.
        assert_eq!(eval(&[("if-modified-since", DATE)]), NotModified);
        assert_eq!(eval(&[("if-modified-since", LATER)]), NotModified);
        assert_eq!(eval(&[("if-modified-since", EARLIER)]), Proceed);
        assert_eq!(eval(&[("if-modified-since", "garbage")]), Proceed);
        // A failed If-Match wins over a matching If-None-Match.
        assert!(failed(&[("if-match", "\"x\""), ("if-none-match", "\"abc\"")]));
    }

    #[test]
    fn if_range_matches_exactly_or_drops_the_range() {
        let v = file();
        let holds = |h: &[(&str, &str)]| v.if_range_holds(&request(h));
        assert!(holds(&[]));
        assert!(holds(&[("if-range", "\"abc\"")]));
        assert!(holds(&[("if-range", DATE)]));
        for stale in [
            "W/\"abc\"",
            "\"x\"",
            EARLIER,
            LATER,
            "\"abc\", \"x\"",
            "garbage",
            "",
        ] {
            assert!(!holds(&[("if-range", stale)]), "{stale}");
        }
        assert!(!holds(&[("if-range", "\"abc\""), ("if-range", "\"abc\"")]));
        // A date within the second the file was written is not a strong validator.
        let fresh = Validators {
            now_s: v.modified_s.unwrap(),
            ..file()
        };
        assert!(!fresh.if_range_holds(&request(&[("if-range", DATE)])));
    }
}
