//! The input size a video's frames go in at: the model's own, or its larger one for small
//! animals ([`SmallObjectInput`]), chosen from what the model finds at its own size on a few
//! keyframes spread over the video. The indexer and the API's own model runs choose with the
//! same function on the same frames, so an index and a frame inferred on demand agree.

use std::sync::Arc;

use pigweight_decode::{Frame, Timeline};
use pigweight_inference::{
    Detections, InferenceError, ModelInfo, PROBE_FRAMES, Priority, Scheduler, SharedImage,
};

/// The keyframes a video's input is chosen from: [`PROBE_FRAMES`] of them, evenly spread (the
/// middle of each of as many equal parts of the keyframe list), or all where there are fewer.
pub fn probe_frames(timeline: &Timeline) -> Vec<u64> {
    let keyframes = timeline.keyframes();
    let n = keyframes.len();
    let take = n.min(PROBE_FRAMES);
    (0..take)
        .map(|i| keyframes[(2 * i + 1) * n / (2 * take)])
        .collect()
}

/// What [`choose_input`] chose, and from what.
#[derive(Debug, Clone)]
pub struct InputChoice {
    /// The input for the video's frames (`None`: the model's own).
    pub input: Option<u32>,
    /// Each probed frame and what the model found on it at its own input (none where the model
    /// has no other input to choose).
    pub probed: Vec<(Arc<Frame>, Detections)>,
}

/// The input for a video's frames (`None`: the model's own), and what the model found on each
/// probe at its own input: where the model has a larger input for small animals, its
/// detections at its own input on `frames`, the video's [`probe_frames`], decide
/// ([`ModelInfo::input_for`]). `decode` gives each of them
/// (keyframes: fast) and `detect` runs the model on them at its own input ([`on_scheduler`],
/// or a detector of one's own). Runs the model, so call it off the async runtime.
pub fn choose_input<E>(
    info: &ModelInfo,
    frames: Vec<u64>,
    mut decode: impl FnMut(u64) -> Result<Arc<Frame>, E>,
    detect: impl FnOnce(&[Arc<Frame>]) -> Result<Vec<Detections>, E>,
) -> Result<InputChoice, E> {
    let none = InputChoice {
        input: None,
        probed: Vec::new(),
    };
    if info.small_objects.is_none() {
        return Ok(none);
    }
    let decoded = frames
        .into_iter()
        .map(&mut decode)
        .collect::<Result<Vec<_>, E>>()?;
    let Some((width, height)) = decoded.first().map(|f| (f.width, f.height)) else {
        return Ok(none);
    };
    let found = detect(&decoded)?;
    let chosen = info.input_for(width, height, &found);
    tracing::debug!(input = ?chosen, probed = found.len(), "input size chosen");
    Ok(InputChoice {
        input: chosen,
        probed: decoded.into_iter().zip(found).collect(),
    })
}

/// Runs frames through `scheduler` at the model's own input, at `priority`, all at once: the
/// `detect` of [`choose_input`] in the server.
pub fn on_scheduler(
    scheduler: &Scheduler,
    priority: Priority,
) -> impl FnOnce(&[Arc<Frame>]) -> Result<Vec<Detections>, InferenceError> + '_ {
    move |frames| {
        let tickets = frames
            .iter()
            .map(|frame| {
                let image = SharedImage {
                    width: frame.width,
                    height: frame.height,
                    input: None,
                    pixels: Arc::clone(frame) as _,
                };
                scheduler.submit(image, priority)
            })
            .collect::<Result<Vec<_>, _>>()?;
        tickets.into_iter().map(|t| t.wait()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timelines::timeline;

    #[test]
    fn probes_are_spread_over_the_keyframes() {
        // 20 keyframes (0, 10, ..., 190): the middles of five parts of four.
        assert_eq!(probe_frames(&timeline(200, 10)), vec![20, 60, 100, 140, 180]);
        // Fewer keyframes than probes: all of them.
        assert_eq!(probe_frames(&timeline(30, 10)), vec![0, 10, 20]);
        assert_eq!(probe_frames(&timeline(5, 10)), vec![0]);
    }
}
