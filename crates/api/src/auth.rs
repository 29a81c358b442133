//! API keys. With keys configured, every `/api`, `/ws` and `/metrics` request must carry one:
//! the `X-API-Key` header, or, where a browser cannot set headers (`<video>`, `<img>`,
//! WebSocket), the `api_key` query parameter or the `pigweight_key` cookie. A key given in the
//! query is also set as that cookie, so the page's later media requests carry it. Keys are
//! compared in constant time and never logged.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use headers::HeaderMapExt;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

pub(crate) const COOKIE: &str = "pigweight_key";

/// Counts the request and checks its key where one is needed.
pub(crate) async fn gate(State(app): State<AppState>, request: Request, next: Next) -> Response {
    app.counters
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if app.config.api_keys.is_empty() || !guarded(request.uri().path()) {
        return next.run(request).await;
    }
    let from_query = query_key(request.uri().query());
    let from_cookie = request
        .headers()
        .typed_get::<headers::Cookie>()
        .and_then(|c| c.get(COOKIE).map(str::to_owned));
    let given = header_key(&request)
        .or(from_query.as_deref())
        .or(from_cookie.as_deref());
    let accepted = given.is_some_and(|k| {
        // Every key is compared, so the time taken does not tell which one matched.
        app.config.api_keys.iter().fold(false, |ok, key| {
            ok | bool::from(key.as_bytes().ct_eq(k.as_bytes()))
        })
    });
    if !accepted {
        return ApiError::unauthorized().into_response();
    }
    let mut response = next.run(request).await;
    if let Some(key) = from_query
        && let Ok(v) = HeaderValue::from_str(&format!("{COOKIE}={key}; Path=/; HttpOnly; SameSite=Strict"))
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

pub(crate) fn guarded(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/ws/") || path == "/metrics"
}

fn header_key(request: &Request) -> Option<&str> {
    request.headers().get("x-api-key")?.to_str().ok()
}

fn query_key(query: Option<&str>) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query?)
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == "api_key").then_some(v))
}
