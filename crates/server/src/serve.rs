//! `pigweight serve`: health, video metadata and index status, with the library indexed in the
//! background by the sample (or given) model; the API crate takes this over.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Args;
use pigweight_decode::{DecodeError, Decoder, DecoderConfig, MediaInfo};
use serde::Serialize;

use anyhow::Context;
use pigweight_indexer::{IndexKey, Indexer, IndexerConfig, Status};
use pigweight_inference::{Detector, Scheduler, SchedulerConfig};

use crate::ModelArgs;
use crate::library::{Entry, Library};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PIGWEIGHT_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Folders of videos (repeat the flag for several).
    #[arg(
        long = "videos",
        env = "PIGWEIGHT_VIDEOS",
        value_delimiter = ',',
        default_value = "data/videos"
    )]
    videos: Vec<PathBuf>,
    /// Most video pipelines open at once.
    #[arg(long, env = "PIGWEIGHT_MAX_SOURCES", default_value_t = 8)]
    max_sources: usize,
    /// Budget of the decoded-frame cache, in MiB.
    #[arg(long, env = "PIGWEIGHT_FRAME_CACHE_MB", default_value_t = 256)]
    frame_cache_mb: u64,
    /// Where the index database lives.
    #[arg(long, env = "PIGWEIGHT_DATA", default_value = "data")]
    data: PathBuf,
    /// Seconds between regular index samples.
    #[arg(long, env = "PIGWEIGHT_INTERVAL", default_value_t = 1.0)]
    interval: f64,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Debug)]
pub(crate) struct App {
    /// Dropped first: stops the folder watch before the indexer it feeds.
    _watcher: notify::RecommendedWatcher,
    library: Arc<Library>,
    decoder: Decoder,
    indexer: Arc<Indexer>,
}

#[derive(Debug, Clone)]
pub(crate) struct AppState(Arc<App>);

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let library = Arc::new(Library::new(args.videos.clone()));
    let (found, _) = library.rescan();
    tracing::info!(videos = found.len(), folders = ?args.videos, "library scanned");
    let decoder = Decoder::new(DecoderConfig {
        max_open_sources: args.max_sources,
        frame_cache_bytes: args.frame_cache_mb * 1024 * 1024,
        ..DecoderConfig::default()
    });
    let detector = args.model.load()?;
    let key = IndexKey::new(detector.info(), args.interval);
    let scheduler = Arc::new(Scheduler::start(Box::new(detector), SchedulerConfig::default())?);
    std::fs::create_dir_all(&args.data).with_context(|| format!("making {}", args.data.display()))?;
    let config = IndexerConfig {
        interval: args.interval,
        ..IndexerConfig::default()
    };
    let indexer = Arc::new(Indexer::start(
        &args.data.join("index.db"),
        scheduler,
        key,
        config,
    )?);
    for entry in &found {
        indexer.add(&entry.path);
    }
    let watcher = {
        let indexer = Arc::clone(&indexer);
        library
            .watch(move |entry| indexer.add(&entry.path))
            .context("watching the video folders")?
    };
    let state = AppState(Arc::new(App {
        _watcher: watcher,
        library,
        decoder,
        indexer,
    }));
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.bind).await?;
        tracing::info!(address = %listener.local_addr()?, "listening");
        axum::serve(listener, router(state))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    })
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/videos", get(list_videos))
        .route("/api/videos/{id}", get(get_video))
        .with_state(state)
}

#[derive(Debug, Serialize)]
struct VideoSummary {
    id: String,
    name: String,
}

#[derive(Debug, Serialize)]
struct VideoDetail {
    id: String,
    name: String,
    #[serde(flatten)]
    info: MediaInfo,
    /// Where indexing stands (absent before the indexer has seen the file).
    index: Option<Status>,
}

async fn list_videos(State(state): State<AppState>) -> Json<Vec<VideoSummary>> {
    Json(
        state
            .0
            .library
            .list()
            .into_iter()
            .map(|e| VideoSummary {
                id: e.id,
                name: e.name,
            })
            .collect(),
    )
}

async fn get_video(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<VideoDetail>, ApiError> {
    let Entry { id, path, name, .. } = state.0.library.get(&id).ok_or(ApiError::UnknownVideo(id))?;
    let index = state.0.indexer.status(&path);
    let app = Arc::clone(&state.0);
    let probed = tokio::task::spawn_blocking(move || app.decoder.probe(&path))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(VideoDetail {
        id,
        name,
        info: probed.info.clone(),
        index,
    }))
}

#[derive(Debug)]
enum ApiError {
    UnknownVideo(String),
    Decode(DecodeError),
    Internal(String),
}

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::UnknownVideo(id) => (StatusCode::NOT_FOUND, format!("no video with id {id}")),
            Self::Decode(e) if e.is_bad_request() => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            Self::Decode(e) if e.is_bad_file() => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            Self::Decode(e) => {
                tracing::error!(error = %e, "decoding failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error".to_owned())
            }
            Self::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error".to_owned())
            }
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}
