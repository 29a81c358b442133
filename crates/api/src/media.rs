//! What handlers ask of the media: a frame decoded on a blocking thread, the model's boxes on
//! an exact frame (cached per file version, frame and model), and the count at a moment.

use std::sync::Arc;
use std::time::Instant;

use pigweight_decode::{Frame, Mode, Size, Target};
use pigweight_indexer::{IndexState, Provenance, choose_input, on_scheduler, probe_frames};
use pigweight_inference::{Detections, Priority, ResultKey, SharedImage};

use crate::error::ApiError;
use crate::library::Entry;
use crate::state::App;
use crate::wire::{CountAtTime, CountSource};

/// Which answer a count prefers where the index has only neighbouring samples but the model
/// already ran on the very frame (boxes drawn on a paused frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefer {
    /// The model's cached result on the exact frame: for one moment asked for, the most exact
    /// answer there is.
    ExactFrame,
    /// The index's step function: for a stream of counts along the timeline (the WebSocket),
    /// so that results cached for scattered frames do not make the stream flicker.
    IndexSteps,
}

/// The count at `t`: from the index when it has a sample near enough (or is complete), else
/// from the model on the exact frame.
pub(crate) async fn count_at(
    app: &App,
    entry: &Entry,
    t: f64,
    prefer: Prefer,
) -> Result<CountAtTime, ApiError> {
    let (probed, frame) = app.frame_at(entry, t).await?;
    let frame_time = probed.timeline.time(frame).unwrap_or(t);
    let from_index = app
        .indexer
        .view(&entry.path)
        .and_then(|v| v.count_at(frame, frame_time));
    // The model's own answer on this very frame, when it was asked for already (boxes drawn on
    // a paused frame), is more exact than a value carried over from neighbouring samples.
    if prefer == Prefer::ExactFrame
        && from_index.is_none_or(|at| at.provenance != Provenance::Indexed)
        && let Some(found) = app.detections.get(&result_key(app, entry, frame)).await
    {
        return Ok(CountAtTime {
            count: found.count(),
            count_low: found.band.low,
            count_high: found.band.high,
            cached: true,
            t,
            frame_index: frame,
            frame_time,
            source: CountSource::Inferred,
            nearest_sample_distance: 0.0,
        });
    }
    if let Some(at) = from_index {
        let near = at.distance_s <= app.config.max_sample_distance_s;
        let complete = || {
            app.indexer
                .status(&entry.path)
                .is_some_and(|s| s.state == IndexState::Done)
        };
        if near || complete() {
            return Ok(CountAtTime {
                count: at.count,
                count_low: at.band.low,
                count_high: at.band.high,
                cached: true,
                t,
                frame_index: frame,
                frame_time,
                source: at.provenance.into(),
                nearest_sample_distance: at.distance_s,
            });
        }
    }
    let (detections, cached) = detect(app, entry, frame).await?;
    Ok(CountAtTime {
        count: detections.count(),
        count_low: detections.band.low,
        count_high: detections.band.high,
        cached,
        t,
        frame_index: frame,
        frame_time,
        source: CountSource::Inferred,
        nearest_sample_distance: 0.0,
    })
}

/// Decodes one exact frame at its own size on a blocking thread.
pub(crate) async fn decode(
    app: &App,
    entry: &Entry,
    frame: u64,
    mode: Mode,
    size: Size,
) -> Result<Arc<Frame>, ApiError> {
    let decoder = Arc::clone(&app.decoder);
    let path = entry.path.clone();
    let started = Instant::now();
    // The request's span goes with the work, so what decoding logs is the request's.
    let span = tracing::Span::current();
    let decoded = tokio::task::spawn_blocking(move || {
        span.in_scope(|| decoder.frame(&path, Target::Index(frame), mode, size))
    })
    .await
    .map_err(ApiError::join)??;
    app.counters.decode_ms_total.add(started.elapsed());
    app.counters
        .decodes
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(decoded)
}

/// Names the model's result on one frame of one version of a video.
fn result_key(app: &App, entry: &Entry, frame: u64) -> ResultKey {
    ResultKey {
        video: Arc::clone(entry.version()),
        frame,
        model: Arc::clone(&app.model_tag),
    }
}

/// The model's detections on exact frame `frame`, from the cache or run now at interactive
/// priority (once for callers asking at the same moment); and whether they were cached.
pub(crate) async fn detect(
    app: &App,
    entry: &Entry,
    frame: u64,
) -> Result<(Arc<Detections>, bool), ApiError> {
    let infer = async {
        let input = input_of(app, entry).await?;
        let decoded = decode(app, entry, frame, Mode::Exact, Size::Native).await?;
        let image = SharedImage {
            width: decoded.width,
            height: decoded.height,
            pixels: decoded as _,
            input,
        };
        let started = Instant::now();
        let detections = Arc::new(app.scheduler.submit(image, Priority::Interactive)?.await?);
        app.counters.inference_ms_total.add(started.elapsed());
        app.counters
            .inferences
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(detections)
    };
    app.detections
        .get_or_infer(result_key(app, entry, frame), infer)
        .await
        .map_err(|e: Arc<ApiError>| (*e).clone())
}

/// The input size the model runs this video's frames at (`None`: its own), so that a frame
/// inferred here agrees with the index: the index's own choice once it has made one for this
/// version of the file, else chosen here the same way ([`choose_input`]), once per file
/// version.
async fn input_of(app: &App, entry: &Entry) -> Result<Option<u32>, ApiError> {
    if app.scheduler.info().small_objects.is_none() {
        return Ok(None);
    }
    let indexed = app
        .indexer
        .status(&entry.path)
        .filter(|s| s.version == Some(entry.file_key().version))
        .and_then(|s| s.input);
    if let Some(input) = indexed {
        return Ok(input);
    }
    let mut computed = false;
    let choose = async {
        computed = true;
        let probed = app.probed(entry).await?;
        let frames = probe_frames(&probed.timeline);
        let decoder = Arc::clone(&app.decoder);
        let scheduler = Arc::clone(&app.scheduler);
        let path = entry.path.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                choose_input(
                    scheduler.info(),
                    frames,
                    |i| {
                        Ok::<_, ApiError>(decoder.frame(&path, Target::Index(i), Mode::Fast, Size::Native)?)
                    },
                    |frames| Ok(on_scheduler(&scheduler, Priority::Interactive)(frames)?),
                )
                .map(|chosen| chosen.input)
            })
        })
        .await
        .map_err(ApiError::join)?
    };
    let input = app
        .inputs
        .try_get_with(Arc::clone(entry.version()), choose)
        .await
        .map_err(|e: Arc<ApiError>| (*e).clone())?;
    let counter = if computed {
        &app.counters.inputs_misses
    } else {
        &app.counters.inputs_hits
    };
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(input)
}
