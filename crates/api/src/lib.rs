//! The pigweight HTTP and WebSocket API: what the browser player and generated clients call.
//!
//! What it is for: the axum [`router`] over an [`App`] (the library of videos, the decoder,
//! the indexer and the model's scheduler), and its OpenAPI document ([`openapi`]), built from
//! the handlers' annotations. Handlers are thin: parse, ask the domain crates, map the answer;
//! decoding, encoding, inference and database reads run on blocking threads.
//!
//! What it is not for: reading flags or the environment, starting the runtime or the indexer
//! (the binary wires those), or decoding and inference themselves.

mod auth;
mod counts;
mod error;
mod extract;
mod frames;
mod hls;
mod library;
mod linger;
mod live;
mod media;
mod peers;
mod playback;
mod segments;
mod state;
mod system;
mod upload;
mod video_file;
mod videos;
mod viewing;
mod wire;
mod ws;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::compression::Predicate as _;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use error::{ApiError, ErrorBody, ErrorKind};
pub use library::{Change, Entry, Library, Rescan, client_path, is_video_name, video_id};
pub use state::{ApiConfig, App, AppState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pigweight",
        description = "Counts pigs in farm video. Times are seconds from the first frame of a \
video; frame indices count frames in presentation order from 0. Errors are JSON \
`{\"error\": \"...\"}` with a 4xx status saying what was wrong, or 500. With API keys \
configured, send one as the `X-API-Key` header (or `api_key` query parameter, or the \
`pigweight_key` cookie, for media elements and WebSockets)."
    ),
    modifiers(&ApiKeyScheme),
    tags(
        (name = "videos", description = "The library of videos and the files themselves"),
        (name = "counts", description = "How many animals, when"),
        (name = "frames", description = "Frames, thumbnails and sprite sheets"),
        (name = "index", description = "The background index of each video"),
        (name = "streams", description = "Live camera streams with live counts"),
        (name = "system", description = "Health, readiness and statistics"),
    )
)]
struct ApiDoc;

/// Declares the API key, so generated clients and `/docs` can send it. Keys are optional in the
/// document: a server on loopback without keys asks for none.
struct ApiKeyScheme;

impl utoipa::Modify for ApiKeyScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "api_key",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
            );
        doc.security = Some(vec![
            SecurityRequirement::default(),
            SecurityRequirement::new("api_key", Vec::<String>::new()),
        ]);
    }
}

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(videos::router())
        .merge(video_file::router())
        .merge(hls::router())
        .merge(playback::router())
        .merge(counts::router())
        .merge(frames::router())
        .merge(system::router())
        .merge(ws::router())
        .merge(live::router())
}

/// The routes and their OpenAPI document, with the errors every operation can answer declared.
fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut doc) = api().split_for_parts();
    declare_common_errors(&mut doc);
    (routes, doc)
}

/// Declares what holds for every operation rather than for one handler, so no operation can
/// miss it: path parameters are never empty; 400 where a parameter or body may not parse, 401
/// where a key can be asked for.
fn declare_common_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for (path, item) in &mut doc.paths.paths {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            // An empty path parameter names another route (`/api/videos/` is not a video).
            for param in op.parameters.iter_mut().flatten() {
                if let utoipa::openapi::RefOr::T(p) = param
                    && p.parameter_in == utoipa::openapi::path::ParameterIn::Path
                    && let Some(utoipa::openapi::RefOr::T(utoipa::openapi::Schema::Object(schema))) =
                        &mut p.schema
                    && schema.schema_type
                        == utoipa::openapi::schema::SchemaType::new(utoipa::openapi::Type::String)
                {
                    schema.min_length = Some(1);
                }
            }
            let responses = &mut op.responses.responses;
            let takes_input =
                op.parameters.as_ref().is_some_and(|p| !p.is_empty()) || op.request_body.is_some();
            if takes_input {
                responses.entry("400".into()).or_insert_with(|| {
                    error("A parameter or body that does not parse (a number that is not one, a bad path)")
                        .into()
                });
            }
            if auth::guarded(path) {
                responses.entry("401".into()).or_insert_with(|| {
                    error("No API key, or not one the server accepts (when keys are configured)").into()
                });
            }
        }
    }
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// Whether a response is text (JSON, HLS playlists, WebVTT, scripts, pages): worth compressing.
fn is_text(
    _status: axum::http::StatusCode,
    _version: axum::http::Version,
    headers: &axum::http::HeaderMap,
    _extensions: &axum::http::Extensions,
) -> bool {
    let Some(kind) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let kind = kind.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    kind.starts_with("text/")
        || matches!(
            kind.as_str(),
            "application/json"
                | "application/javascript"
                | "application/vnd.apple.mpegurl"
                | "application/x-mpegurl"
                | "image/svg+xml"
        )
}

/// The whole HTTP surface over `state`.
pub fn router(state: AppState) -> Router {
    let (routes, doc) = routes();
    let doc = bytes::Bytes::from(doc.to_pretty_json().unwrap_or_default());
    let mut router = routes.route(
        "/openapi.json",
        get(move || async move { ([(header::CONTENT_TYPE, "application/json")], doc).into_response() }),
    );
    if let Some(dir) = &state.config.web_dir {
        // `/docs`: Swagger UI over /openapi.json, its scripts vendored into the folder.
        router = router
            .route_service(
                "/docs",
                tower_http::services::ServeFile::new(dir.join("docs.html")),
            )
            .fallback_service(tower_http::services::ServeDir::new(dir));
    }
    router
        .layer(DefaultBodyLimit::max(state.config.max_body_kb * 1024))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::gate))
        .layer(axum::middleware::map_request(linger::lingering))
        .layer(axum::middleware::map_response(error::json_errors))
        // Text (JSON, playlists, subtitles, scripts, pages) compressed for clients that ask;
        // video, images and streams never (ranges and latency stay as they are).
        .layer(
            tower_http::compression::CompressionLayer::new()
                .compress_when(tower_http::compression::predicate::SizeAbove::new(256).and(is_text)),
        )
        // A panic is a bug; it still ends as a logged 500, not a dropped connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(error::panicked))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
