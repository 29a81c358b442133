//! Counts and boxes for the frames between inferred ones, and where each answer came from.
//!
//! Only some frames go through the model (see [`crate::Schedule`]). For any other frame the
//! answer is estimated from the inferred frames around it ("keyframes" here), and says so:
//!
//! - **inferred**: the frame is a keyframe; its tracks as they are.
//! - **interpolated**: the frame lies between two keyframes. A track in both moves linearly
//!   from one box to the other. A track in only one of them (it appeared or left, or the
//!   tracker lost it and found it again under a new id) is shown while the frame is in that
//!   keyframe's half of the gap, the midpoint going to the earlier one. So where one id simply
//!   replaces another the count does not dip or jump, and a real change in the count happens
//!   once, just after the midpoint.
//! - **held**: the frame lies after the last keyframe, or before the first; the nearest
//!   keyframe's boxes are repeated unchanged. Before the first keyframe the later one is held
//!   too rather than answering zero: the nearest knowledge is the best guess, and the
//!   provenance and distance tell the viewer that it is a guess.
//!
//! `distance` is always the number of frames to the nearest keyframe, so a viewer can fade an
//! estimate the further it is from what the model actually saw.

use serde::{Deserialize, Serialize};

use crate::tracker::Track;

/// One tracked box: which track, where, what.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrackedBox {
    /// The [`Track`] id.
    pub id: u32,
    /// x1, y1, x2, y2.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Class id.
    pub class: u32,
}

impl From<&Track> for TrackedBox {
    fn from(t: &Track) -> Self {
        Self {
            id: t.id,
            bbox: t.bbox,
            class: t.class,
        }
    }
}

/// The tracks of one inferred frame, as counted (typically [`crate::Tracker::counted`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Keyframe {
    /// The inferred frame.
    pub frame_index: u64,
    /// At most one box per track id.
    pub boxes: Vec<TrackedBox>,
}

impl Keyframe {
    /// A keyframe from the tracks that count at `frame_index`.
    pub fn from_tracks<'a>(frame_index: u64, tracks: impl IntoIterator<Item = &'a Track>) -> Self {
        Self {
            frame_index,
            boxes: tracks.into_iter().map(TrackedBox::from).collect(),
        }
    }
}

/// Where an [`Estimate`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provenance {
    /// The model saw this frame.
    Inferred,
    /// Between two inferred frames.
    Interpolated,
    /// Before the first or after the last inferred frame: the nearest one, repeated.
    Held,
}

/// Count and boxes for one frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// The number of boxes.
    pub count: u32,
    /// Ordered by track id.
    pub boxes: Vec<TrackedBox>,
    /// Where the count and boxes came from.
    pub provenance: Provenance,
    /// Frames to the nearest inferred frame; 0 when inferred.
    pub distance: u64,
}

impl Estimate {
    fn new(mut boxes: Vec<TrackedBox>, provenance: Provenance, distance: u64) -> Self {
        boxes.sort_by_key(|b| b.id);
        Self {
            count: u32::try_from(boxes.len()).unwrap_or(u32::MAX),
            boxes,
            provenance,
            distance,
        }
    }
}

/// Estimates frame `frame_index` from `keyframes`, which must be sorted by frame index with
/// no index twice (out of order, the answer is wrong but nothing panics). `None` when there
/// are no keyframes at all.
pub fn interpolate(keyframes: &[Keyframe], frame_index: u64) -> Option<Estimate> {
    // Keyframes before `frame_index`; the one at `after` is the first at or past it.
    let after = keyframes.partition_point(|k| k.frame_index < frame_index);
    let estimate = match (after.checked_sub(1).map(|i| &keyframes[i]), keyframes.get(after)) {
        (_, Some(next)) if next.frame_index == frame_index => {
            Estimate::new(next.boxes.clone(), Provenance::Inferred, 0)
        }
        (Some(prev), Some(next)) => between(prev, next, frame_index),
        (Some(prev), None) => Estimate::new(
            prev.boxes.clone(),
            Provenance::Held,
            frame_index - prev.frame_index,
        ),
        (None, Some(next)) => Estimate::new(
            next.boxes.clone(),
            Provenance::Held,
            next.frame_index - frame_index,
        ),
        (None, None) => return None,
    };
    Some(estimate)
}

/// `prev.frame_index < frame_index < next.frame_index`.
fn between(prev: &Keyframe, next: &Keyframe, frame_index: u64) -> Estimate {
    let since = frame_index - prev.frame_index;
    let until = next.frame_index - frame_index;
    // f64: frame indices and their ratio stay exact far beyond any video's length.
    let t = since as f64 / (since + until) as f64;
    let earlier_half = since <= until;

    let mut boxes = Vec::with_capacity(prev.boxes.len().max(next.boxes.len()));
    // Keyframes hold a few dozen animals: linear lookups are cheaper than building maps.
    for a in &prev.boxes {
        match next.boxes.iter().find(|b| b.id == a.id) {
            Some(b) => boxes.push(TrackedBox {
                bbox: std::array::from_fn(|i| lerp(a.bbox[i], b.bbox[i], t)),
                ..*a
            }),
            None if earlier_half => boxes.push(*a),
            None => {}
        }
    }
    if !earlier_half {
        boxes.extend(
            next.boxes
                .iter()
                .filter(|b| !prev.boxes.iter().any(|a| a.id == b.id)),
        );
    }
    Estimate::new(boxes, Provenance::Interpolated, since.min(until))
}

fn lerp(a: f32, b: f32, t: f64) -> f32 {
    (f64::from(a) + (f64::from(b) - f64::from(a)) * t) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tb(id: u32, bbox: [f32; 4]) -> TrackedBox {
        TrackedBox { id, bbox, class: 0 }
    }

    /// Track 1 moves right by 8 px over 4 frames, track 2 leaves after frame 10, track 3
    /// appears at frame 14; then frame 20 sees only track 1.
    fn keyframes() -> Vec<Keyframe> {
        vec![
            Keyframe {
                frame_index: 10,
                boxes: vec![tb(2, [50.0, 50.0, 60.0, 60.0]), tb(1, [0.0, 0.0, 10.0, 20.0])],
            },
            Keyframe {
                frame_index: 14,
                boxes: vec![tb(3, [80.0, 0.0, 90.0, 10.0]), tb(1, [8.0, 4.0, 18.0, 24.0])],
            },
            Keyframe {
                frame_index: 20,
                boxes: vec![tb(1, [20.0, 4.0, 30.0, 24.0])],
            },
        ]
    }

    #[test]
    fn no_keyframes_no_estimate() {
        assert_eq!(interpolate(&[], 3), None);
    }

    #[test]
    fn an_inferred_frame_is_given_as_is() {
        let e = interpolate(&keyframes(), 14).unwrap();
        assert_eq!(
            e,
            Estimate {
                count: 2,
                boxes: vec![tb(1, [8.0, 4.0, 18.0, 24.0]), tb(3, [80.0, 0.0, 90.0, 10.0])],
                provenance: Provenance::Inferred,
                distance: 0,
            }
        );
    }

    #[test]
    fn first_quarter_moves_shared_tracks_and_keeps_the_leaving_one() {
        let e = interpolate(&keyframes(), 11).unwrap();
        assert_eq!(
            e,
            Estimate {
                count: 2,
                boxes: vec![tb(1, [2.0, 1.0, 12.0, 21.0]), tb(2, [50.0, 50.0, 60.0, 60.0])],
                provenance: Provenance::Interpolated,
                distance: 1,
            }
        );
    }

    #[test]
    fn the_midpoint_belongs_to_the_earlier_keyframe() {
        let e = interpolate(&keyframes(), 12).unwrap();
        assert_eq!(
            e,
            Estimate {
                count: 2,
                boxes: vec![tb(1, [4.0, 2.0, 14.0, 22.0]), tb(2, [50.0, 50.0, 60.0, 60.0])],
                provenance: Provenance::Interpolated,
                distance: 2,
            }
        );
    }

    #[test]
    fn past_the_midpoint_the_arriving_track_replaces_the_leaving_one() {
        let e = interpolate(&keyframes(), 13).unwrap();
        assert_eq!(
            e,
            Estimate {
                count: 2,
                boxes: vec![tb(1, [6.0, 3.0, 16.0, 23.0]), tb(3, [80.0, 0.0, 90.0, 10.0])],
                provenance: Provenance::Interpolated,
                distance: 1,
            }
        );
    }

    #[test]
    fn a_leaving_track_lowers_the_count_after_the_midpoint() {
        let at = |f| interpolate(&keyframes(), f).unwrap();
        let e = at(17);
        assert_eq!(
            e,
            Estimate {
                count: 2,
                boxes: vec![tb(1, [14.0, 4.0, 24.0, 24.0]), tb(3, [80.0, 0.0, 90.0, 10.0])],
                provenance: Provenance::Interpolated,
                distance: 3,
            }
        );
        let e = at(18);
        assert_eq!(
            e,
            Estimate {
                count: 1,
                boxes: vec![tb(1, [16.0, 4.0, 26.0, 24.0])],
                provenance: Provenance::Interpolated,
                distance: 2,
            }
        );
    }

    #[test]
    fn after_the_last_keyframe_it_is_held() {
        let e = interpolate(&keyframes(), 27).unwrap();
        assert_eq!(
            e,
            Estimate {
                count: 1,
                boxes: vec![tb(1, [20.0, 4.0, 30.0, 24.0])],
                provenance: Provenance::Held,
                distance: 7,
            }
        );
    }

    #[test]
    fn before_the_first_keyframe_it_is_held_too() {
        let e = interpolate(&keyframes(), 0).unwrap();
        assert_eq!(
            e,
            Estimate {
                count: 2,
                boxes: vec![tb(1, [0.0, 0.0, 10.0, 20.0]), tb(2, [50.0, 50.0, 60.0, 60.0])],
                provenance: Provenance::Held,
                distance: 10,
            }
        );
    }

    #[test]
    fn keyframe_from_tracks() {
        let track = Track {
            id: 7,
            bbox: [1.0, 2.0, 3.0, 4.0],
            score: 0.9,
            class: 2,
            hits: 3,
            missed: 1,
            last_seen: 5,
        };
        assert_eq!(
            Keyframe::from_tracks(6, [&track]),
            Keyframe {
                frame_index: 6,
                boxes: vec![TrackedBox {
                    id: 7,
                    bbox: [1.0, 2.0, 3.0, 4.0],
                    class: 2,
                }],
            }
        );
    }

    #[test]
    fn provenance_names_are_lowercase() {
        use serde::de::IntoDeserializer;
        use serde::de::value::Error;

        let parse = |s: &str| -> Result<Provenance, Error> { Provenance::deserialize(s.into_deserializer()) };
        assert_eq!(parse("interpolated").unwrap(), Provenance::Interpolated);
        assert_eq!(parse("held").unwrap(), Provenance::Held);
        assert_eq!(parse("inferred").unwrap(), Provenance::Inferred);
        assert!(parse("Held").is_err());
    }
}
