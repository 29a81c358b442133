//! The server's own state: health, readiness, statistics as JSON and as OpenMetrics (Prometheus) metrics.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::{App, AppState};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(get_stats))
        .routes(routes!(metrics))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "health", tag = "system",
    responses((status = 200, description = "Up", body = String, example = "ok")))]
async fn healthz() -> &'static str {
    "ok"
}

/// The server can do its work: the index database and the model are working (with a Triton
/// backend: the server is reachable and serves our model).
#[utoipa::path(get, path = "/readyz", operation_id = "ready", tag = "system",
    responses(
        (status = 200, description = "Ready", body = String, example = "ready"),
        (status = 503, description = "Not ready; the reason is in the body", body = String),
    ))]
async fn readyz(State(app): State<AppState>) -> (StatusCode, String) {
    if app.indexer.has_failed() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the indexer stopped on a database error (see the log)".into(),
        )
    } else if let Err(reason) = app.scheduler.ready() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the model's inference server is unavailable: {reason}"),
        )
    } else {
        (StatusCode::OK, "ready".into())
    }
}

/// The indexes' views held for queries: one per video with an index, its samples and its
/// count-series cells (at most 65,536 cells a video, however long).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ViewCounts {
    entries: u64,
    bytes: u64,
}

/// Hits and misses of one cache.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CacheCounts {
    hits: u64,
    misses: u64,
    /// hits / (hits + misses), 0 when unused.
    hit_rate: f64,
    entries: u64,
    /// Bytes held, where the cache is weighed in bytes.
    bytes: Option<u64>,
    budget_bytes: Option<u64>,
}

impl CacheCounts {
    fn new(hits: u64, misses: u64, entries: u64, bytes: Option<u64>, budget_bytes: Option<u64>) -> Self {
        let total = hits + misses;
        Self {
            hits,
            misses,
            hit_rate: if total == 0 {
                0.0
            } else {
                hits as f64 / total as f64
            },
            entries,
            bytes,
            budget_bytes,
        }
    }
}

/// Count and mean duration of one kind of work.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Timing {
    count: u64,
    mean_ms: f64,
}

impl Timing {
    fn new(count: u64, total_ms: f64) -> Self {
        Self {
            count,
            mean_ms: if count == 0 { 0.0 } else { total_ms / count as f64 },
        }
    }
}

/// What the model's scheduler has done and holds.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SchedulerStats {
    queued_interactive: usize,
    queued_background: usize,
    batches: u64,
    mean_batch: f64,
    mean_run_ms: f64,
    interactive_completed: u64,
    interactive_rejected: u64,
    interactive_mean_wait_ms: f64,
    background_completed: u64,
}

/// HLS: the segment cache and the transcoder.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HlsStats {
    /// Segments asked for: from the disk cache (hits) or made for the request (misses).
    cache: CacheCounts,
    /// Segments made (repackaged or transcoded), and how many of them ahead of a request.
    made: u64,
    made_ahead: u64,
    /// Segments that could not be made.
    failed: u64,
    /// Segments being made or waiting for the transcoder now.
    queued: u64,
    /// Seconds of video made per second of making (all renditions together).
    realtime_factor: f64,
    /// The H.264 encoder of transcoded renditions (`x264enc`, `nvh264enc`), if any.
    encoder: Option<String>,
}

/// The server's counters.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Stats {
    /// What players report: time to first frame, stalls, rendition switches, viewers.
    playback: crate::playback::PlaybackStats,
    hls: HlsStats,
    /// HTTP requests received.
    requests: u64,
    /// Count WebSocket clients connected now.
    websocket_clients: u64,
    websocket_updates_sent: u64,
    /// Encoded frames (frame_optimized).
    frame_images: CacheCounts,
    /// Decoded frames.
    decoded_frames: CacheCounts,
    /// The frame tables (and facts) of probed videos, 8 bytes a frame; a miss reads the file's
    /// table again.
    frame_tables: CacheCounts,
    /// Detections per frame.
    detections: CacheCounts,
    /// The input size chosen for each video version (a miss runs the model on a few of its
    /// keyframes).
    input_sizes: CacheCounts,
    index_views: ViewCounts,
    decode: Timing,
    encode: Timing,
    /// Interactive model runs, from submission to result.
    inference: Timing,
    scheduler: SchedulerStats,
    sources_open: u64,
    /// Memory that open sources and encoders share (what is left of the memory budget once
    /// the caches have theirs), and what they hold of it now, in bytes.
    working_memory_bytes: u64,
    working_memory_reserved_bytes: u64,
}

pub(crate) async fn stats(app: &App) -> Stats {
    let c = &app.counters;
    let d = app.decoder.stats();
    let det = app.detections.stats().await;
    let s = app.scheduler.metrics();
    app.images.run_pending_tasks().await;
    let images_in = s
        .batch_sizes
        .iter()
        .enumerate()
        .map(|(n, k)| n as u64 * k)
        .sum::<u64>();
    let h = app.segments.figures().await;
    Stats {
        playback: crate::playback::PlaybackStats::of(app.viewing.figures()),
        hls: HlsStats {
            cache: CacheCounts::new(h.hits, h.misses, h.entries, Some(h.bytes), Some(h.budget_bytes)),
            made: h.made,
            made_ahead: h.made_ahead,
            failed: h.failed,
            queued: h.queued,
            realtime_factor: if h.making_ms > 0.0 {
                h.video_s / (h.making_ms / 1000.0)
            } else {
                0.0
            },
            encoder: app.segments.encoder.map(|e| e.element().to_owned()),
        },
        requests: c.requests.load(Ordering::Relaxed),
        websocket_clients: c.websocket_clients.load(Ordering::Relaxed),
        websocket_updates_sent: c.websocket_updates.load(Ordering::Relaxed),
        frame_images: CacheCounts::new(
            c.images_hits.load(Ordering::Relaxed),
            c.images_misses.load(Ordering::Relaxed),
            app.images.entry_count(),
            Some(app.images.weighted_size()),
            Some(app.config.image_cache_mb << 20),
        ),
        decoded_frames: CacheCounts::new(
            d.cache_hits,
            d.cache_misses,
            d.cache_entries,
            Some(d.cache_bytes),
            Some(d.cache_budget_bytes),
        ),
        frame_tables: CacheCounts::new(
            d.table_hits,
            d.table_misses,
            d.table_entries,
            Some(d.table_bytes),
            Some(d.table_budget_bytes),
        ),
        detections: CacheCounts::new(det.hits, det.misses, det.entries, None, None),
        input_sizes: {
            app.inputs.run_pending_tasks().await;
            CacheCounts::new(
                c.inputs_hits.load(Ordering::Relaxed),
                c.inputs_misses.load(Ordering::Relaxed),
                app.inputs.entry_count(),
                None,
                None,
            )
        },
        index_views: {
            let (entries, bytes) = app.indexer.views_figures();
            ViewCounts { entries, bytes }
        },
        decode: Timing::new(c.decodes.load(Ordering::Relaxed), c.decode_ms_total.get()),
        encode: Timing::new(c.encodes.load(Ordering::Relaxed), c.encode_ms_total.get()),
        inference: Timing::new(c.inferences.load(Ordering::Relaxed), c.inference_ms_total.get()),
        scheduler: SchedulerStats {
            queued_interactive: s.queued_interactive,
            queued_background: s.queued_background,
            batches: s.batches,
            mean_batch: if s.batches == 0 {
                0.0
            } else {
                images_in as f64 / s.batches as f64
            },
            mean_run_ms: if s.batches == 0 {
                0.0
            } else {
                s.run_ms_total / s.batches as f64
            },
            interactive_completed: s.interactive.completed,
            interactive_rejected: s.interactive.rejected,
            interactive_mean_wait_ms: if s.interactive.completed == 0 {
                0.0
            } else {
                s.interactive.wait_ms_total / s.interactive.completed as f64
            },
            background_completed: s.background.completed,
        },
        sources_open: d.sources_open,
        working_memory_bytes: d.memory_budget_bytes,
        working_memory_reserved_bytes: d.memory_reserved_bytes,
    }
}

/// Clients, cache hit rates, decode/encode/inference timings and queue depths.
#[utoipa::path(get, path = "/api/stats", operation_id = "getStats", tag = "system",
    responses((status = 200, description = "The counters", body = Stats)))]
async fn get_stats(State(app): State<AppState>) -> Json<Stats> {
    Json(stats(&app).await)
}

/// The same counters in the OpenMetrics text format, for Prometheus.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "system",
    responses((status = 200, description = "OpenMetrics text format", content_type = "application/openmetrics-text")))]
async fn metrics(State(app): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let s = stats(&app).await;
    let live = crate::live::wire::StreamsStats::from(app.streams.figures());
    let (encodes, shared) = live
        .streams
        .iter()
        .fold((0, 0), |(e, s), st| (e + st.encodes, s + st.encode_shared));
    let caches = [
        ("hls_segment", &s.hls.cache),
        ("frame_image", &s.frame_images),
        ("decoded_frame", &s.decoded_frames),
        ("detection", &s.detections),
    ];
    let timings = [
        ("decode", &s.decode),
        ("encode", &s.encode),
        ("inference", &s.inference),
    ];
    // Every figure is read at the scrape, so each is a constant of this registry.
    let mut registry = Registry::with_prefix("pigweight");
    let mut counter = |name: &str, help: &str, value: u64| {
        registry.register(name, help, ConstCounter::new(value));
    };
    counter("http_requests", "HTTP requests received.", s.requests);
    let lag = app.indexer.follow_lag();
    counter(
        "index_follow_shown",
        "Times this process read other processes' index commits into its views (several commits may arrive in one reading).",
        lag.shown,
    );
    counter(
        "index_follow_lag_ms_sum",
        "Milliseconds from those commits to their showing here, summed.",
        lag.sum_ms,
    );

    counter(
        "websocket_updates",
        "Count updates sent.",
        s.websocket_updates_sent,
    );
    counter(
        "stream_encodes",
        "Live-stream JPEG encodings of the streams now open.",
        encodes,
    );
    counter(
        "stream_encodes_shared",
        "Times a live-stream JPEG was shared with another client instead of encoded again.",
        shared,
    );
    for (name, c) in caches {
        counter(&format!("{name}_cache_hits"), "Cache hits.", c.hits);
        counter(&format!("{name}_cache_misses"), "Cache misses.", c.misses);
    }
    for (name, t) in timings {
        counter(name, "Operations done.", t.count);
    }
    counter("model_batches", "Model runs.", s.scheduler.batches);
    counter(
        "hls_segments_made",
        "HLS segments made (repackaged or transcoded).",
        s.hls.made,
    );
    counter(
        "hls_segments_failed",
        "HLS segments that could not be made.",
        s.hls.failed,
    );
    let (sessions, stalls, stall_ms, switches, viewers, first_frame_ms) = s.playback.total().metrics();
    counter(
        "playback_sessions",
        "Players that reported their first picture.",
        sessions,
    );
    counter(
        "playback_stalls",
        "Times players stopped to wait for data.",
        stalls,
    );
    counter(
        "playback_stall_ms",
        "Milliseconds players waited for data, summed.",
        stall_ms as u64,
    );
    counter(
        "playback_switches",
        "HLS rendition switches players reported.",
        switches,
    );
    let mut gauge = |name: &str, help: &str, value: f64| {
        registry.register(name, help, ConstGauge::new(value));
    };
    gauge(
        "index_follow_lag_ms_max",
        "The longest time from another process's commit to its showing here, in milliseconds.",
        lag.max_ms as f64,
    );
    gauge(
        "websocket_clients",
        "Count WebSocket clients connected.",
        s.websocket_clients as f64,
    );
    gauge(
        "stream_clients",
        "Clients watching live streams (MJPEG and WebSocket).",
        live.clients as f64,
    );
    gauge(
        "stream_frames_dropped",
        "Frames skipped for slow live-stream clients now connected.",
        live.frames_dropped as f64,
    );
    for (name, c) in caches {
        gauge(
            &format!("{name}_cache_entries"),
            "Cache entries.",
            c.entries as f64,
        );
    }
    for (name, t) in timings {
        gauge(
            &format!("{name}_mean_ms"),
            "Mean duration, milliseconds.",
            t.mean_ms,
        );
    }
    gauge(
        "queue_interactive",
        "Interactive images waiting for the model.",
        s.scheduler.queued_interactive as f64,
    );
    gauge(
        "queue_background",
        "Background images waiting for the model.",
        s.scheduler.queued_background as f64,
    );
    gauge("sources_open", "Open video pipelines.", s.sources_open as f64);
    gauge(
        "playback_viewers",
        "Players that reported in the last 30 s.",
        viewers as f64,
    );
    gauge(
        "playback_first_frame_mean_ms",
        "Mean time from opening the player to the first picture, milliseconds.",
        first_frame_ms,
    );
    gauge(
        "hls_transcoder_queue",
        "HLS segments being made or waiting for the transcoder.",
        s.hls.queued as f64,
    );
    gauge(
        "working_memory_reserved_bytes",
        "Bytes open sources and encoders hold of the memory budget.",
        s.working_memory_reserved_bytes as f64,
    );
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .map_err(|e| ApiError::internal("encoding the metrics").because(e))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    ))
}
