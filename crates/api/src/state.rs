//! What every handler shares: the library, the decoder (which also keeps every file's probed
//! facts), the indexer, the model's scheduler, the caches of encoded images and detections, and
//! the counters behind `/api/stats`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use pigweight_decode::{Decoder, Probed};
use pigweight_indexer::Indexer;
use pigweight_inference::{ResultCache, Scheduler};
use pigweight_live::{LiveSettings, Member, Streams, WebRtcSettings};
use serde::Deserialize;

use crate::error::ApiError;
use crate::library::{Change, Entry, Library};
use crate::peers::Peers;
use crate::segments::{SegmentSettings, Segments};
use crate::viewing::Viewing;

/// How the API behaves; the binary fills it from flags, the environment and a TOML file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// JPEG qualities that are actually encoded; a requested quality snaps to the nearest, so
    /// one encoding serves many clients.
    pub jpeg_qualities: Vec<u8>,
    /// Budget of the cache of encoded frames, in MiB.
    pub image_cache_mb: u64,
    /// Most frames whose detections are kept in memory.
    pub detection_cache_entries: u64,
    /// The index answers a count only if it has a sample this close (seconds), unless the
    /// video is fully indexed; otherwise the model runs on the frame.
    pub max_sample_distance_s: f64,
    /// Accepted API keys; empty: no key is asked for.
    pub api_keys: Vec<String>,
    /// Most WebSocket clients at once.
    pub max_websocket_clients: usize,
    /// Seconds between pings on an idle WebSocket.
    pub websocket_ping_s: u64,
    /// Largest request body (uploads excluded), in KiB.
    pub max_body_kb: usize,
    /// The static player's folder, served at `/` when set.
    pub web_dir: Option<PathBuf>,
    /// Largest uploaded video, in MiB.
    pub max_upload_mb: u64,
    /// Most uploads received at once; more are answered 503 with `Retry-After`.
    pub max_concurrent_uploads: usize,
    /// Frames per second captured from each live stream.
    pub stream_fps: u32,
    /// Live streams: the model runs every this many frames (sooner on a scene change); the
    /// tracker holds the count in between.
    pub stream_infer_every: u64,
    /// Seconds without a new frame after which an MJPEG client gets the last frame again.
    pub mjpeg_heartbeat_s: f64,
    /// Most live streams this process captures at once.
    pub max_streams: usize,
    /// Seconds a process holds a live stream without renewing (it renews every third): in a
    /// cluster, the streams of a process that died are taken over by another after this.
    pub stream_lease_s: f64,
    /// This process's HTTP address as the other processes of a cluster reach it (for example
    /// `http://10.0.0.5:8080`): they serve their viewers of the streams captured here through
    /// it. `serve` sets it from `--advertise`, else its bind address.
    pub advertise: Option<String>,
    /// Stream WebSocket clients above this bitrate (kbit/s) step down a quality level.
    pub stream_target_kbps: u64,
    /// RTSP cameras: milliseconds a frame waits in the jitter buffer for late packets (more
    /// survives a worse network, less is quicker to the screen).
    pub stream_rtsp_latency_ms: u32,
    /// WebRTC viewers of a stream share one H.264 encoding at about this bitrate (kbit/s).
    pub webrtc_kbps: u32,
    /// Most WebRTC viewers of one stream at once; more are answered 503.
    pub webrtc_viewers: usize,
    /// The HLS segment cache's folder (`serve`: DATA/hls); unset, a temporary folder.
    pub hls_cache_dir: Option<PathBuf>,
    /// Budget of the HLS segment cache on disk, in MiB; the least recently used go first.
    pub hls_cache_mb: u64,
    /// HLS segments last about this long (seconds), cut at the source's keyframes.
    pub hls_segment_s: f64,
    /// HLS segments made (transcoded or repackaged) at once; more wait their turn.
    pub hls_transcoders: usize,
    /// Segments made ahead in the background after each one asked for, while a transcoder is
    /// free.
    pub hls_ahead: usize,
    /// Seconds between walks of the library folders besides those the file watcher's events
    /// cause: network file systems (a NAS over NFS or SMB) often send none for files written
    /// by other machines. 0: only on events.
    pub rescan_s: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            jpeg_qualities: vec![90, 70, 50],
            image_cache_mb: 128,
            detection_cache_entries: 20_000,
            max_sample_distance_s: 1.0,
            api_keys: Vec::new(),
            max_websocket_clients: 1024,
            websocket_ping_s: 15,
            max_body_kb: 64,
            web_dir: None,
            max_upload_mb: 4096,
            max_concurrent_uploads: 2,
            stream_fps: 15,
            stream_infer_every: 3,
            mjpeg_heartbeat_s: 5.0,
            max_streams: 16,
            stream_lease_s: 15.0,
            advertise: None,
            stream_target_kbps: 8000,
            stream_rtsp_latency_ms: 200,
            webrtc_kbps: 2500,
            webrtc_viewers: 16,
            rescan_s: 60,
            hls_cache_dir: None,
            hls_cache_mb: 2048,
            hls_segment_s: 4.0,
            hls_transcoders: 1,
            hls_ahead: 2,
        }
    }
}

/// Counters for `/api/stats` and `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) images_hits: AtomicU64,
    pub(crate) images_misses: AtomicU64,
    pub(crate) inputs_hits: AtomicU64,
    pub(crate) inputs_misses: AtomicU64,
    pub(crate) encode_ms_total: AtomicMillis,
    pub(crate) encodes: AtomicU64,
    pub(crate) decode_ms_total: AtomicMillis,
    pub(crate) decodes: AtomicU64,
    pub(crate) inferences: AtomicU64,
    pub(crate) inference_ms_total: AtomicMillis,
    pub(crate) websocket_clients: AtomicU64,
    pub(crate) websocket_updates: AtomicU64,
    pub(crate) requests: AtomicU64,
}

/// A sum of milliseconds kept in microseconds in an atomic.
#[derive(Debug, Default)]
pub(crate) struct AtomicMillis(AtomicU64);

impl AtomicMillis {
    pub(crate) fn add(&self, d: std::time::Duration) {
        self.0.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> f64 {
        self.0.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

/// Key of an encoded image: one video version, frame, size, encoding and overlay.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ImageKey {
    pub(crate) video: Arc<str>,
    pub(crate) frame: u64,
    pub(crate) width: u32,
    pub(crate) format: pigweight_render::Format,
    pub(crate) quality: u8,
    pub(crate) boxes: bool,
}

/// An encoded image and the facts sent with it.
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    pub(crate) bytes: Bytes,
    pub(crate) count: Option<u32>,
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct App {
    pub(crate) config: ApiConfig,
    pub(crate) library: Arc<Library>,
    pub(crate) decoder: Arc<Decoder>,
    pub(crate) indexer: Arc<Indexer>,
    pub(crate) scheduler: Arc<Scheduler>,
    pub(crate) images: moka::future::Cache<ImageKey, Encoded>,
    pub(crate) detections: ResultCache,
    /// The input size the model runs each video's frames at (`None`: its own), by file
    /// version: chosen once ([`pigweight_indexer::choose_input`]).
    pub(crate) inputs: moka::future::Cache<Arc<str>, Option<u32>>,
    pub(crate) counters: Counters,
    /// The model's [`identity`](pigweight_inference::ModelInfo::identity), part of every
    /// inferred result's key and of frames' ETags.
    pub(crate) model_tag: Arc<str>,
    /// Permits for uploads in progress.
    pub(crate) uploads: Arc<tokio::sync::Semaphore>,
    /// Live streams: the cluster's, and those captured here.
    pub(crate) streams: Arc<Streams>,
    /// The other processes of the cluster, for viewers of streams they capture.
    pub(crate) peers: Peers,
    /// HLS renditions, playlists and the segment cache.
    pub(crate) segments: Arc<Segments>,
    /// What players report of their playback.
    pub(crate) viewing: Viewing,
    /// How WebRTC viewers of live streams are served.
    pub(crate) webrtc: WebRtcSettings,
}

/// The state handed to every handler.
#[derive(Debug, Clone)]
pub struct AppState(pub Arc<App>);

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl App {
    /// The app over these parts; its live streams are shared through the indexer's database
    /// (those nobody captures are taken at once: on one machine, the last run's).
    pub fn new(
        config: ApiConfig,
        library: Arc<Library>,
        decoder: Arc<Decoder>,
        indexer: Arc<Indexer>,
        scheduler: Arc<Scheduler>,
    ) -> Result<Self, ApiError> {
        let images = moka::future::Cache::builder()
            .max_capacity(config.image_cache_mb << 20)
            .weigher(|_: &ImageKey, e: &Encoded| u32::try_from(e.bytes.len()).unwrap_or(u32::MAX))
            .build();
        let model_tag = scheduler.info().identity().into();
        let seconds = |s: f64, what: &str| {
            std::time::Duration::try_from_secs_f64(s)
                .map_err(|_| ApiError::invalid(format!("{what} must be a number of seconds, not {s}")))
        };
        let lease = seconds(config.stream_lease_s.max(0.3), "stream_lease_s")?;
        let segments = Segments::new(SegmentSettings {
            dir: config.hls_cache_dir.clone(),
            budget_bytes: config.hls_cache_mb << 20,
            makers: config.hls_transcoders,
            ahead: config.hls_ahead,
            target: seconds(config.hls_segment_s.max(0.5), "hls_segment_s")?,
            stall: std::time::Duration::from_secs(30),
        })
        .map_err(|e| ApiError::internal("opening the HLS segment cache").because(e))?;
        let streams = Streams::start(
            LiveSettings {
                fps: config.stream_fps,
                infer_every: config.stream_infer_every,
                max_streams: config.max_streams,
                rtsp_latency_ms: config.stream_rtsp_latency_ms,
                lease,
            },
            Arc::clone(decoder.opener()),
            Arc::clone(&scheduler),
            Member {
                database: indexer.database().clone(),
                roots: indexer.roots().clone(),
                owner: indexer.owner().to_owned(),
                url: config.advertise.clone(),
            },
        )?;
        let webrtc = WebRtcSettings {
            encoder: segments.encoder,
            kbps: config.webrtc_kbps.max(100),
            max_viewers: config.webrtc_viewers,
            ..WebRtcSettings::default()
        };
        Ok(Self {
            webrtc,
            detections: ResultCache::new(config.detection_cache_entries),
            // An entry is a file version's name and a number: 10,000 of them hold a large
            // library in about a megabyte.
            inputs: moka::future::Cache::new(10_000),
            uploads: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_uploads.max(1))),
            streams,
            peers: Peers::new(config.api_keys.first().cloned()),
            segments: Arc::new(segments),
            viewing: Viewing::default(),
            config,
            library,
            decoder,
            indexer,
            scheduler,
            images,
            counters: Counters::default(),
            model_tag,
        })
    }

    /// The library entry of `id`, or 404.
    pub(crate) fn entry(&self, id: &str) -> Result<Entry, ApiError> {
        self.library.get(id).ok_or_else(|| ApiError::unknown_video(id))
    }

    /// The probed facts and frame table of a video: from memory, else probed on a blocking
    /// thread once per file version.
    pub(crate) async fn probed(&self, entry: &Entry) -> Result<Arc<Probed>, ApiError> {
        if let Some(p) = self.probed_if_known(entry) {
            return Ok(p);
        }
        let decoder = Arc::clone(&self.decoder);
        let path = entry.path.clone();
        Ok(tokio::task::spawn_blocking(move || decoder.probe(&path))
            .await
            .map_err(ApiError::join)??)
    }

    /// The probed facts of a video and the frame on screen at `t` (422 when `t` is not a time
    /// in the video).
    pub(crate) async fn frame_at(&self, entry: &Entry, t: f64) -> Result<(Arc<Probed>, u64), ApiError> {
        let probed = self.probed(entry).await?;
        let frame = probed.timeline.index_at(t)?;
        Ok((probed, frame))
    }

    /// The probed facts of a video if they are already known (no blocking call): the
    /// decoder's, for the file version the library last saw.
    pub(crate) fn probed_if_known(&self, entry: &Entry) -> Option<Arc<Probed>> {
        self.decoder.probed_if_known(entry.file_key())
    }

    /// Acts on a change to the library, from the folder watch or from a request: what was known
    /// of the old file is forgotten, and a new or changed video is queued for indexing.
    pub fn apply(&self, change: &Change) {
        let entry = match change {
            Change::Changed(e) | Change::Removed(e) => e,
        };
        self.decoder.forget(&entry.path);
        match change {
            Change::Changed(_) => self.indexer.add(&entry.path),
            Change::Removed(_) => {
                self.indexer.remove(&entry.path);
                self.viewing.forget(&entry.id);
            }
        }
    }
}
