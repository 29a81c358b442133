//! Request bodies that a handler leaves unread are read to their end anyway, in the background.
//!
//! A refused upload (409, 413, 422, 503) is answered before its body is read. If the server then
//! stopped reading, a client still sending (Python's `http.client`, a browser, curl without
//! `Expect: 100-continue`) fills the socket, gets a reset, and never reads the status waiting
//! for it. So, as nginx's lingering close does, what is left of a body is read and dropped —
//! up to [`LINGER_BYTES`] and [`LINGER_TIME`] — while the answer goes out; past that, the
//! connection is closed. A client that reads the answer first (curl) is not held up by this.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt as _;

/// Most bytes of an unread body read and dropped after the answer.
pub(crate) const LINGER_BYTES: u64 = 256 << 20;
/// Longest time spent reading them.
pub(crate) const LINGER_TIME: Duration = Duration::from_secs(30);

/// Wraps every request's body (a layer of the router).
pub(crate) async fn lingering(request: Request) -> Request {
    request.map(|body| Body::new(Lingering(Some(body))))
}

/// A request body that, dropped before its end, drains the rest on a task of its own.
struct Lingering(Option<Body>);

impl http_body::Body for Lingering {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.0.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.0
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(body) = self.0.take().filter(|b| !b.is_end_stream()) else {
            return;
        };
        // Only ever dropped inside the server's runtime; elsewhere there is nobody to answer.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let drain = async {
                let mut left = http_body_util::Limited::new(body, LINGER_BYTES as usize);
                while let Some(Ok(_)) = left.frame().await {}
            };
            if tokio::time::timeout(LINGER_TIME, drain).await.is_err() {
                tracing::debug!("an unread request body was still coming after the linger time");
            }
        });
    }
}
