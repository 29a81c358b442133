//! The video file's conditional and range requests, in-process (see `common`): every
//! combination of preconditions (RFC 9110 §13.2.2), `If-Range` and `Range` on both paths, GET
//! and HEAD, checked against the bytes of the file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request};
use common::{Reply, TestApp};
use pigweight_decode::fake::FakeVideo;

const MODIFIED: &str = "Sun, 01 Nov 2026 08:00:00 GMT";
const EARLIER: &str = "Sun, 01 Nov 2026 07:59:59 GMT";
const LATER: &str = "Sun, 01 Nov 2026 08:00:01 GMT";

/// The byte ranges (inclusive) a `Range` selects: `None` when it is ignored (the whole file),
/// empty when none is satisfiable.
type Selects = Option<Vec<(usize, usize)>>;

/// What the preconditions of a request should come to (RFC 9110 §13.2.2 steps 1-4).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Proceed,
    NotModified,
    Failed,
}

#[tokio::test]
async fn the_file_answers_the_whole_matrix_of_conditional_and_range_requests() {
    // A few kilobytes of file, with a known, old modification time: Last-Modified is then
    // exact and a strong validator.
    let app = TestApp::new(&[("pen.mp4", FakeVideo::constant(64, 48, 25, 1000, 25, vec![(0, 2)]))]);
    let id = TestApp::id("pen.mp4");
    let path = app.dir.path().join("videos/pen.mp4");
    let handle = std::fs::File::options().write(true).open(&path).unwrap();
    handle
        .set_modified(httpdate::parse_http_date(MODIFIED).unwrap())
        .unwrap();
    drop(handle);
    let file = std::fs::read(&path).unwrap();
    let len = file.len();
    assert!(len > 1000, "{len}");
    let first = app.get(&format!("/api/videos/{id}/stream")).await;
    let etag = first.header("etag").to_owned();
    assert_eq!(first.header("last-modified"), MODIFIED);
    let weak = format!("W/{etag}");

    use Outcome::{Failed, NotModified, Proceed};
    let conditions: Vec<(Vec<(&str, String)>, Outcome)> = vec![
        (vec![], Proceed),
        (vec![("If-Match", etag.clone())], Proceed),
        (vec![("If-Match", "*".into())], Proceed),
        (vec![("If-Match", format!("\"x\", {etag}"))], Proceed),
        (vec![("If-Match", "\"x\"".into())], Failed),
        (vec![("If-Match", weak.clone())], Failed),
        (vec![("If-Match", "garbage".into())], Failed),
        (vec![("If-Unmodified-Since", MODIFIED.into())], Proceed),
        (vec![("If-Unmodified-Since", LATER.into())], Proceed),
        (vec![("If-Unmodified-Since", EARLIER.into())], Failed),
        (vec![("If-Unmodified-Since", "not a date".into())], Proceed),
        (
            vec![
                ("If-Match", etag.clone()),
                ("If-Unmodified-Since", EARLIER.into()),
            ],
            Proceed,
        ),
        (vec![("If-None-Match", etag.clone())], NotModified),
        (vec![("If-None-Match", weak.clone())], NotModified),
        (vec![("If-None-Match", "*".into())], NotModified),
        (vec![("If-None-Match", format!("\"a\", {etag}"))], NotModified),
        (vec![("If-None-Match", "\"x\"".into())], Proceed),
        (vec![("If-Modified-Since", MODIFIED.into())], NotModified),
        (vec![("If-Modified-Since", LATER.into())], NotModified),
        (vec![("If-Modified-Since", EARLIER.into())], Proceed),
        (vec![("If-Modified-Since", "garbage".into())], Proceed),
        (
            vec![
                ("If-None-Match", "\"x\"".into()),
                ("If-Modified-Since", MODIFIED.into()),
            ],
            Proceed,
        ),
        (
            vec![("If-Match", "\"x\"".into()), ("If-None-Match", etag.clone())],
            Failed,
        ),
    ];
    // If-Range values, and whether each keeps the Range.
    let if_ranges: Vec<(Option<String>, bool)> = vec![
        (None, true),
        (Some(etag.clone()), true),
        (Some(MODIFIED.into()), true),
        (Some(weak.clone()), false),
        (Some("\"other\"".into()), false),
        (Some(EARLIER.into()), false),
        (Some(LATER.into()), false),
        (Some(format!("{etag}, \"other\"")), false),
        (Some("garbage".into()), false),
    ];
    // Range values and the bytes each selects: None for the whole file (ignored), Some(empty)
    // for unsatisfiable.
    let ranges: Vec<(Option<String>, Selects)> = vec![
        (None, None),
        (Some("bytes=0-99".into()), Some(vec![(0, 99)])),
        (Some("bytes=-100".into()), Some(vec![(len - 100, len - 1)])),
        (Some(format!("bytes=-{}", len + 10)), Some(vec![(0, len - 1)])),
        (
            Some(format!("bytes={}-", len - 10)),
            Some(vec![(len - 10, len - 1)]),
        ),
        (
            Some(format!("bytes=100-{}", len + 500)),
            Some(vec![(100, len - 1)]),
        ),
        (Some("bytes=0-9,200-299".into()), Some(vec![(0, 9), (200, 299)])),
        (Some(format!("bytes=0-9,{}-", len + 5)), Some(vec![(0, 9)])),
        (Some(format!("bytes={len}-")), Some(vec![])),
        (Some("bytes=zz".into()), None),
        (Some("items=0-1".into()), None),
        (Some("bytes=0-50,25-75".into()), Some(vec![(0, 50), (25, 75)])),
        (Some("bytes=0-50,25-75,30-80".into()), None),
    ];
    let mut cases = 0;
    for path in [
        format!("/api/videos/{id}/stream"),
        format!("/api/video_file/stream_hls/{id}"),
    ] {
        for method in [Method::GET, Method::HEAD] {
            for (condition, outcome) in &conditions {
                for (if_range, keeps) in &if_ranges {
                    for (range, selects) in &ranges {
                        let mut headers: Vec<(&str, &str)> =
                            condition.iter().map(|(k, v)| (*k, v.as_str())).collect();
                        if let Some(v) = if_range {
                            headers.push(("If-Range", v));
                        }
                        if let Some(v) = range {
                            headers.push(("Range", v));
                        }
                        let what = format!("{method} {path} {headers:?}");
                        let mut request = Request::builder().method(method.clone()).uri(&path);
                        for (name, value) in &headers {
                            request = request.header(*name, *value);
                        }
                        let reply = app.send(request.body(Body::empty()).unwrap()).await;
                        check(
                            &reply,
                            &method,
                            *outcome,
                            selects.as_ref().filter(|_| *keeps),
                            &file,
                            &etag,
                            &what,
                        );
                        cases += 1;
                    }
                }
            }
        }
    }
    assert!(cases > 3000, "{cases}");
}

/// Checks one answer of the matrix against what RFC 9110 says it must be.
fn check(
    reply: &Reply,
    method: &Method,
    outcome: Outcome,
    selects: Option<&Vec<(usize, usize)>>,
    file: &[u8],
    etag: &str,
    what: &str,
) {
    let len = file.len();
    let status = reply.status.as_u16();
    match outcome {
        Outcome::Failed => {
            assert_eq!(status, 412, "{what}");
            if method == Method::GET {
                assert!(
                    reply.header("content-type").starts_with("application/json"),
                    "{what}"
                );
            }
            return;
        }
        Outcome::NotModified => {
            assert_eq!(status, 304, "{what}");
            assert_eq!(reply.header("etag"), etag, "{what}");
            assert!(
                reply.headers.get("content-length").is_none(),
                "{what}: {:?}",
                reply.headers
            );
            assert!(reply.body.is_empty(), "{what}");
            return;
        }
        Outcome::Proceed => {}
    }
    let body_is = |expected: &[u8]| {
        assert_eq!(reply.header("accept-ranges"), "bytes", "{what}");
        assert_eq!(reply.header("etag"), etag, "{what}");
        assert_eq!(
            reply.header("content-length"),
            expected.len().to_string(),
            "{what}"
        );
        if method == Method::GET {
            assert!(
                reply.body == expected,
                "{what}: {} bytes, not the {} expected",
                reply.body.len(),
                expected.len()
            );
        } else {
            assert!(reply.body.is_empty(), "{what}");
        }
    };
    match selects.map(Vec::as_slice) {
        None => {
            assert_eq!(status, 200, "{what}");
            assert_eq!(reply.header("content-type"), "video/mp4", "{what}");
            body_is(file);
        }
        Some([]) => {
            assert_eq!(status, 416, "{what}");
            assert_eq!(reply.header("content-range"), format!("bytes */{len}"), "{what}");
        }
        Some([(from, to)]) => {
            assert_eq!(status, 206, "{what}");
            assert_eq!(reply.header("content-type"), "video/mp4", "{what}");
            assert_eq!(
                reply.header("content-range"),
                format!("bytes {from}-{to}/{len}"),
                "{what}"
            );
            body_is(&file[*from..=*to]);
        }
        Some(parts) => {
            assert_eq!(status, 206, "{what}");
            let kind = reply.header("content-type");
            let boundary = kind
                .strip_prefix("multipart/byteranges; boundary=")
                .unwrap_or_else(|| panic!("{what}: {kind}"));
            let mut expected = Vec::new();
            for (from, to) in parts {
                expected.extend_from_slice(
                    format!(
                        "\r\n--{boundary}\r\nContent-Type: video/mp4\r\nContent-Range: bytes {from}-{to}/{len}\r\n\r\n"
                    )
                    .as_bytes(),
                );
                expected.extend_from_slice(&file[*from..=*to]);
            }
            expected.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            body_is(&expected);
        }
    }
}
