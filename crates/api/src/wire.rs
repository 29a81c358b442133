//! Answers that more than one handler sends: a count at a moment (the counts endpoints and the
//! count WebSocket) and where a video's index stands (the library and the WebSocket).

use pigweight_indexer::{IndexState, Pass, Provenance, Status};
use pigweight_inference::ModelInfo;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How a count is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CountSource {
    /// The index has a sample at this very frame.
    Indexed,
    /// Between two index samples that agree.
    Interpolated,
    /// The last indexed value before a change somewhere up to the next sample.
    Held,
    /// The model ran on this exact frame (now, or earlier for another request).
    Inferred,
    /// A live stream's newest count (the tracker's, between inferred frames).
    Live,
}

impl From<Provenance> for CountSource {
    fn from(p: Provenance) -> Self {
        match p {
            Provenance::Indexed => Self::Indexed,
            Provenance::Interpolated => Self::Interpolated,
            Provenance::Held => Self::Held,
        }
    }
}

/// The count shown at a moment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct CountAtTime {
    /// Animals counted on the frame on screen at `t`.
    pub(crate) count: u32,
    /// The fewest animals the frame may hold, given what the model is unsure of (scores near
    /// its threshold, boxes far larger than the others; where the server's band rule says so,
    /// animals near half visible at the frame's edge and boxes that overlap a lot); between
    /// index samples that disagree, the lower of their bands.
    pub(crate) count_low: u32,
    /// The most animals the frame may hold, likewise. Equal to `count_low` and `count` where
    /// nothing is in doubt.
    pub(crate) count_high: u32,
    /// Whether the answer came without running the model now (index or cache).
    pub(crate) cached: bool,
    /// The time asked for, seconds from the first frame.
    pub(crate) t: f64,
    /// The frame on screen at `t` (presentation order, from 0).
    pub(crate) frame_index: u64,
    /// That frame's own time, seconds from the first frame.
    pub(crate) frame_time: f64,
    pub(crate) source: CountSource,
    /// Seconds from the frame to the nearest index sample (0 when indexed or inferred).
    pub(crate) nearest_sample_distance: f64,
}

/// Where a video's indexing stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct IndexStatus {
    state: IndexStateName,
    /// The pass running while `indexing`: keyframes first (a rough timeline), then regular
    /// samples, then refinement of count changes to the frame.
    pass: Option<IndexPass>,
    /// Why indexing failed, when it did.
    reason: Option<String>,
    /// The current pass's progress, 0..=100.
    percent: f64,
    /// Samples in the index so far.
    samples: u64,
    /// Seconds to the end of the current pass at the recent rate, when it can be told.
    eta_s: Option<f64>,
    /// The square input the model runs the video's frames at, once its index has chosen it:
    /// the model's own, or its larger one where the animals are small (judged on five
    /// keyframes). Absent until chosen.
    input_size: Option<u32>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum IndexStateName {
    Queued,
    Indexing,
    Done,
    Failed,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum IndexPass {
    Keyframes,
    Regular,
    Refine,
}

impl IndexStatus {
    /// The status `s` of an index made with `model`.
    pub(crate) fn new(s: &Status, model: &ModelInfo) -> Self {
        let (state, pass, reason) = match &s.state {
            IndexState::Queued => (IndexStateName::Queued, None, None),
            IndexState::Indexing { pass } => {
                let pass = match pass {
                    Pass::Keyframes => Some(IndexPass::Keyframes),
                    Pass::Regular => Some(IndexPass::Regular),
                    Pass::Refine => Some(IndexPass::Refine),
                    Pass::Done | Pass::Failed => None,
                };
                (IndexStateName::Indexing, pass, None)
            }
            IndexState::Done => (IndexStateName::Done, None, None),
            IndexState::Failed { reason } => (IndexStateName::Failed, None, Some(reason.clone())),
        };
        Self {
            state,
            pass,
            reason,
            percent: s.percent,
            samples: s.samples,
            eta_s: s.eta_s,
            input_size: s
                .input
                .map(|input| input.unwrap_or(model.input_size.0.max(model.input_size.1))),
        }
    }
}
