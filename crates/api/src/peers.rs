//! The other processes of a cluster, as this one reaches them over HTTP: a viewer of a live
//! stream that another process captures is served through this one, which forwards the request
//! to the holder's advertised address and relays the answer (an MJPEG body as it comes, a
//! WebSocket message by message, a WebRTC offer and its answer).

use std::time::Duration;

use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, HeaderValue};
use axum::http::{Method, Request, Response};
use bytes::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::error::ApiError;

/// Marks a request one process forwards to another: the receiver answers it itself or not at
/// all, so a stream moving between processes never bounces a request around.
pub(crate) const FORWARDED: &str = "x-pigweight-forwarded";

/// How long a peer has to answer (the head of its response, or a WebSocket handshake).
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// A WebSocket to a peer.
pub(crate) type PeerSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The HTTP client to other processes, with the API key they accept (a cluster's instances
/// share their keys).
#[derive(Debug, Clone)]
pub(crate) struct Peers {
    client: Client<HttpConnector, Body>,
    key: Option<HeaderValue>,
}

fn unreachable(url: &str, e: impl std::error::Error + Send + Sync + 'static) -> ApiError {
    ApiError::busy("the process that captures this stream does not answer; try again shortly")
        .because(PeerError(format!("{url}: {e}")))
}

/// Why a peer did not answer, for the log.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct PeerError(String);

impl Peers {
    pub(crate) fn new(key: Option<String>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        connector.set_nodelay(true);
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            key: key.and_then(|k| HeaderValue::from_str(&k).ok()),
        }
    }

    /// The peer at `base` (`http://host:port`) answers GET `path_and_query`; its response is
    /// relayed as it comes.
    pub(crate) async fn get(&self, base: &str, path_and_query: &str) -> Result<Response<Body>, ApiError> {
        self.send(Method::GET, base, path_and_query, None, Bytes::new())
            .await
    }

    /// The peer at `base` answers `method` on `path_and_query` with `body` (of `content_type`).
    pub(crate) async fn send(
        &self,
        method: Method,
        base: &str,
        path_and_query: &str,
        content_type: Option<&HeaderValue>,
        body: Bytes,
    ) -> Result<Response<Body>, ApiError> {
        let url = format!("{}{path_and_query}", base.trim_end_matches('/'));
        let mut request = Request::builder().method(method).uri(&url).header(FORWARDED, "1");
        if let Some(key) = &self.key {
            request = request.header("x-api-key", key);
        }
        if let Some(kind) = content_type {
            request = request.header(CONTENT_TYPE, kind);
        }
        let request = request
            .body(Body::from(body))
            .map_err(|e| ApiError::internal("forwarding to a peer").because(e))?;
        let response = tokio::time::timeout(ANSWER_WITHIN, self.client.request(request))
            .await
            .map_err(|e| unreachable(&url, e))?
            .map_err(|e| unreachable(&url, e))?;
        Ok(response.map(Body::new))
    }

    /// A WebSocket to the peer at `base` on `path_and_query`.
    pub(crate) async fn socket(&self, base: &str, path_and_query: &str) -> Result<PeerSocket, ApiError> {
        let base = base.trim_end_matches('/');
        let ws = match base.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}"),
            Some((_, rest)) => format!("ws://{rest}"),
            None => format!("ws://{base}"),
        };
        let url = format!("{ws}{path_and_query}");
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| unreachable(&url, e))?;
        request
            .headers_mut()
            .insert(FORWARDED, HeaderValue::from_static("1"));
        if let Some(key) = &self.key {
            request.headers_mut().insert("x-api-key", key.clone());
        }
        let (socket, _) = tokio::time::timeout(ANSWER_WITHIN, tokio_tungstenite::connect_async(request))
            .await
            .map_err(|e| unreachable(&url, e))?
            .map_err(|e| unreachable(&url, e))?;
        Ok(socket)
    }
}
