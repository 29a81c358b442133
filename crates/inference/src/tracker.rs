//! Tracking across inferred frames: each animal keeps one id, so a pig the detector misses for a
//! frame or two is not counted out and back in.
//!
//! The idea is ByteTrack's: associate confident detections with the existing tracks first, then
//! give the tracks still unmatched a second chance with the low-score detections that a plain
//! confidence cut would throw away (a pig half hidden behind another scores low, but it is the
//! pig we were already following). Only confident detections start new tracks. A track that
//! finds no detection is kept for `max_missed` inferred frames, moved along its last velocity,
//! and still counted meanwhile.
//!
//! Association is greedy by IoU, highest first, and only within a class. Greedy and an optimal
//! (Hungarian) assignment differ only when two tracks compete for the same two detections with
//! crossed overlaps; pigs seen from above between inferred frames a fraction of a second apart
//! move a small part of their length, so such ties are rare, and when greedy does choose
//! differently the usual outcome is two ids swapped, which leaves the count unchanged. The
//! count is what this tracker is for; identity over long stretches is not.

use serde::{Deserialize, Serialize};

use crate::postprocess::Detection;

/// How detections become tracks and how long tracks outlive their last detection.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Detections scoring at least this are matched first and may start new tracks (0.5).
    pub high_score: f32,
    /// Detections scoring at least this, but under `high_score`, only keep existing tracks
    /// alive; anything lower is ignored (0.1). They only arrive if the detector's own
    /// confidence threshold is this low too.
    pub low_score: f32,
    /// A detection and a track match only when their boxes overlap at least this much (IoU,
    /// 0.3). The track's box is first moved to where its velocity says it is now.
    pub match_iou: f32,
    /// Inferred frames in a row a confirmed track may go unseen and still live and count (2).
    pub max_missed: u32,
    /// Detections a track needs before it counts (1). At 1 a pig counts the first time it is
    /// seen, so counts react at once, but a one-frame false positive also counts, until it has
    /// been missed `max_missed + 1` times. Raising it hides such flickers at the price of
    /// counting a new pig `min_hits - 1` inferred frames late. A track not yet confirmed is
    /// dropped the first time it is missed.
    pub min_hits: u32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_score: 0.5,
            low_score: 0.1,
            match_iou: 0.3,
            max_missed: 2,
            min_hits: 1,
        }
    }
}

/// One animal followed across inferred frames.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Track {
    /// Unique within its [`Tracker`], never reused.
    pub id: u32,
    /// x1, y1, x2, y2 at the frame of the last update: the matched detection's box, or for a
    /// missed track its last box moved along its velocity.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Score of the last matched detection.
    pub score: f32,
    /// Class id, as the detector gives it; a track never changes class.
    pub class: u32,
    /// Detections matched to this track so far.
    pub hits: u32,
    /// Inferred frames in a row without a detection, up to the last update; 0 when seen.
    pub missed: u32,
    /// Frame index of the last matched detection.
    pub last_seen: u64,
}

/// A track and what is needed to predict it.
#[derive(Debug, Clone)]
struct State {
    track: Track,
    /// The box as last observed (`track.bbox` drifts from it while missed).
    observed: [f32; 4],
    /// Motion of the box's centre per frame, from the last two observations.
    velocity: [f32; 2],
}

impl State {
    /// The box at `frame_index`: the observed box with its centre moved along the velocity and
    /// its size kept, so a prediction can never turn inside out.
    fn predict(&self, frame_index: u64) -> [f32; 4] {
        let frames = frame_index.saturating_sub(self.track.last_seen) as f32;
        let [dx, dy] = self.velocity.map(|v| v * frames);
        let [x1, y1, x2, y2] = self.observed;
        [x1 + dx, y1 + dy, x2 + dx, y2 + dy]
    }

    fn observe(&mut self, frame_index: u64, detection: &Detection) {
        let frames = frame_index.saturating_sub(self.track.last_seen);
        self.velocity = if frames == 0 {
            [0.0; 2]
        } else {
            let [a, b] = [center(&self.observed), center(&detection.bbox)];
            [(b[0] - a[0]) / frames as f32, (b[1] - a[1]) / frames as f32]
        };
        self.observed = detection.bbox;
        let t = &mut self.track;
        t.bbox = detection.bbox;
        t.score = detection.score;
        t.hits = t.hits.saturating_add(1);
        t.missed = 0;
        t.last_seen = frame_index;
    }
}

fn center(b: &[f32; 4]) -> [f32; 2] {
    [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0]
}

/// Follows animals across inferred frames. Deterministic: the same detections in the same
/// order give the same tracks and ids.
#[derive(Debug, Clone)]
pub struct Tracker {
    config: TrackerConfig,
    /// Ordered by id, since tracks are only ever appended with a growing id.
    states: Vec<State>,
    next_id: u32,
}

impl Tracker {
    /// A tracker with no tracks yet; ids start at 1.
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            config,
            states: Vec::new(),
            next_id: 1,
        }
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Takes the detections of one inferred frame and returns the tracks alive after it,
    /// ordered by id, confirmed or not (see [`Tracker::counted`] for those that count).
    /// Frame indices are expected to grow from call to call; one that does not is treated as
    /// no time having passed.
    pub fn update(&mut self, frame_index: u64, detections: &[Detection]) -> Vec<Track> {
        let cfg = &self.config;
        let predicted: Vec<Detection> = self
            .states
            .iter()
            .map(|s| Detection {
                bbox: s.predict(frame_index),
                score: s.track.score,
                class: s.track.class,
            })
            .collect();
        let (high, low): (Vec<&Detection>, Vec<&Detection>) = detections
            .iter()
            .filter(|d| d.score >= cfg.low_score)
            .partition(|d| d.score >= cfg.high_score);

        let mut track_taken = vec![false; predicted.len()];
        let mut matches = Vec::new();
        let high_taken = associate(&predicted, &mut track_taken, &high, cfg.match_iou, &mut matches);
        let high_matches = matches.len();
        associate(&predicted, &mut track_taken, &low, cfg.match_iou, &mut matches);

        for (i, &(t, d)) in matches.iter().enumerate() {
            let detection = if i < high_matches { high[d] } else { low[d] };
            self.states[t].observe(frame_index, detection);
        }
        for (state, (taken, bbox)) in self.states.iter_mut().zip(track_taken.iter().zip(&predicted)) {
            if !taken {
                state.track.missed = state.track.missed.saturating_add(1);
                state.track.bbox = bbox.bbox;
            }
        }
        let (max_missed, min_hits) = (cfg.max_missed, cfg.min_hits);
        self.states
            .retain(|s| s.track.missed == 0 || (s.track.hits >= min_hits && s.track.missed <= max_missed));

        for (detection, _) in high.iter().zip(&high_taken).filter(|(_, taken)| !**taken) {
            let id = self.next_id;
            // 2^32 tracks is far beyond any video; saturating keeps this from panicking.
            self.next_id = self.next_id.saturating_add(1);
            self.states.push(State {
                track: Track {
                    id,
                    bbox: detection.bbox,
                    score: detection.score,
                    class: detection.class,
                    hits: 1,
                    missed: 0,
                    last_seen: frame_index,
                },
                observed: detection.bbox,
                velocity: [0.0; 2],
            });
        }
        self.states.iter().map(|s| s.track).collect()
    }

    /// The tracks that count: confirmed (`min_hits` detections) and missed at most
    /// `max_missed` inferred frames in a row. Ordered by id.
    pub fn counted(&self) -> impl Iterator<Item = &Track> + '_ {
        let cfg = &self.config;
        self.states
            .iter()
            .map(|s| &s.track)
            .filter(|t| t.hits >= cfg.min_hits && t.missed <= cfg.max_missed)
    }

    /// How many animals to show for the last inferred frame: the number of
    /// [`Tracker::counted`] tracks.
    pub fn count(&self) -> u32 {
        u32::try_from(self.counted().count()).unwrap_or(u32::MAX)
    }
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new(TrackerConfig::default())
    }
}

/// Greedy association: every (track, detection) pair of one class overlapping at least
/// `min_iou`, best overlap first, each track and detection used once. Ties go to the lower
/// track, then the lower detection index, so the result never depends on sort stability.
/// Appends `(track, detection)` index pairs to `matches`, marks the tracks used in
/// `track_taken`, and returns which detections were used.
fn associate(
    tracks: &[Detection],
    track_taken: &mut [bool],
    detections: &[&Detection],
    min_iou: f32,
    matches: &mut Vec<(usize, usize)>,
) -> Vec<bool> {
    let mut pairs = Vec::new();
    for (t, track) in tracks.iter().enumerate().filter(|(t, _)| !track_taken[*t]) {
        for (d, detection) in detections.iter().enumerate() {
            if detection.class != track.class {
                continue;
            }
            let iou = track.iou(detection);
            if iou >= min_iou && iou > 0.0 {
                pairs.push((iou, t, d));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut detection_taken = vec![false; detections.len()];
    for (_, t, d) in pairs {
        if !track_taken[t] && !detection_taken[d] {
            track_taken[t] = true;
            detection_taken[d] = true;
            matches.push((t, d));
        }
    }
    detection_taken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, score: f32) -> Detection {
        Detection {
            bbox: [x, y, x + 10.0, y + 10.0],
            score,
            class: 0,
        }
    }

    fn ids(tracks: &[Track]) -> Vec<u32> {
        tracks.iter().map(|t| t.id).collect()
    }

    #[test]
    fn new_detections_start_tracks_in_order() {
        let mut tracker = Tracker::default();
        let tracks = tracker.update(0, &[det(0.0, 0.0, 0.9), det(50.0, 0.0, 0.8)]);
        assert_eq!(
            tracks,
            vec![
                Track {
                    id: 1,
                    bbox: [0.0, 0.0, 10.0, 10.0],
                    score: 0.9,
                    class: 0,
                    hits: 1,
                    missed: 0,
                    last_seen: 0,
                },
                Track {
                    id: 2,
                    bbox: [50.0, 0.0, 60.0, 10.0],
                    score: 0.8,
                    class: 0,
                    hits: 1,
                    missed: 0,
                    last_seen: 0,
                },
            ]
        );
        assert_eq!(tracker.count(), 2);
    }

    #[test]
    fn moving_detections_keep_their_ids() {
        let mut tracker = Tracker::default();
        tracker.update(0, &[det(0.0, 0.0, 0.9), det(50.0, 0.0, 0.9)]);
        // Given in the other order, each moved 2 px: still the same animals.
        let tracks = tracker.update(5, &[det(52.0, 0.0, 0.9), det(2.0, 0.0, 0.9)]);
        assert_eq!(ids(&tracks), vec![1, 2]);
        assert_eq!(tracks[0].bbox, [2.0, 0.0, 12.0, 10.0]);
        assert_eq!(tracks[1].bbox, [52.0, 0.0, 62.0, 10.0]);
        assert_eq!((tracks[0].hits, tracks[0].last_seen), (2, 5));
    }

    #[test]
    fn a_missed_pig_is_still_counted_then_dropped() {
        let mut tracker = Tracker::default();
        tracker.update(0, &[det(0.0, 0.0, 0.9), det(50.0, 0.0, 0.9)]);
        for (frame, missed) in [(5, 1), (10, 2)] {
            let tracks = tracker.update(frame, &[det(0.0, 0.0, 0.9)]);
            assert_eq!(ids(&tracks), vec![1, 2]);
            assert_eq!(tracks[1].missed, missed);
            assert_eq!(tracks[1].last_seen, 0);
            assert_eq!(tracker.count(), 2);
        }
        // A third miss is one too many.
        let tracks = tracker.update(15, &[det(0.0, 0.0, 0.9)]);
        assert_eq!(ids(&tracks), vec![1]);
        assert_eq!(tracker.count(), 1);
    }

    #[test]
    fn a_pig_found_again_keeps_its_id() {
        let mut tracker = Tracker::default();
        tracker.update(0, &[det(0.0, 0.0, 0.9), det(50.0, 0.0, 0.9)]);
        tracker.update(5, &[det(0.0, 0.0, 0.9)]);
        let tracks = tracker.update(10, &[det(0.0, 0.0, 0.9), det(50.0, 0.0, 0.9)]);
        assert_eq!(ids(&tracks), vec![1, 2]);
        assert_eq!((tracks[1].hits, tracks[1].missed), (2, 0));
    }

    #[test]
    fn a_missed_track_moves_along_its_velocity() {
        let mut tracker = Tracker::default();
        tracker.update(0, &[det(0.0, 0.0, 0.9)]);
        tracker.update(2, &[det(2.0, 4.0, 0.9)]);
        // 1 px/frame right, 2 px/frame down.
        let tracks = tracker.update(4, &[]);
        assert_eq!(tracks[0].bbox, [4.0, 8.0, 14.0, 18.0]);
        // Found where the prediction says, though the last observed box overlaps it by IoU 0.09.
        let tracks = tracker.update(6, &[det(6.0, 12.0, 0.9)]);
        assert_eq!(ids(&tracks), vec![1]);
        assert_eq!((tracks[0].hits, tracks[0].missed, tracks[0].last_seen), (3, 0, 6));
    }

    #[test]
    fn low_scores_keep_tracks_but_do_not_start_them() {
        let mut tracker = Tracker::default();
        tracker.update(0, &[det(0.0, 0.0, 0.9)]);
        let tracks = tracker.update(5, &[det(1.0, 0.0, 0.3), det(50.0, 0.0, 0.3)]);
        assert_eq!(ids(&tracks), vec![1]);
        assert_eq!((tracks[0].missed, tracks[0].score), (0, 0.3));
        // Below low_score: ignored altogether.
        let tracks = tracker.update(10, &[det(1.0, 0.0, 0.05)]);
        assert_eq!(tracks[0].missed, 1);
    }

    #[test]
    fn high_scores_are_matched_before_low_ones() {
        let mut tracker = Tracker::default();
        tracker.update(0, &[det(0.0, 0.0, 0.9)]);
        // The low one overlaps better, but the high one goes first.
        let tracks = tracker.update(5, &[det(0.0, 0.0, 0.2), det(4.0, 0.0, 0.6)]);
        assert_eq!(ids(&tracks), vec![1]);
        assert_eq!(tracks[0].bbox, [4.0, 0.0, 14.0, 10.0]);
    }

    #[test]
    fn classes_never_match_each_other() {
        let mut tracker = Tracker::default();
        tracker.update(0, &[det(0.0, 0.0, 0.9)]);
        let other = Detection {
            class: 1,
            ..det(0.0, 0.0, 0.9)
        };
        let tracks = tracker.update(5, &[other]);
        assert_eq!(ids(&tracks), vec![1, 2]);
        assert_eq!((tracks[0].missed, tracks[1].class), (1, 1));
    }

    #[test]
    fn greedy_takes_the_best_overlap_first() {
        let mut tracker = Tracker::default();
        tracker.update(0, &[det(0.0, 0.0, 0.9), det(4.0, 0.0, 0.9)]);
        // One detection overlapping both (IoU 0.54 and 0.82): track 2 takes it, 1 is missed.
        let tracks = tracker.update(5, &[det(3.0, 0.0, 0.9)]);
        assert_eq!(ids(&tracks), vec![1, 2]);
        assert_eq!((tracks[0].missed, tracks[1].missed), (1, 0));
    }

    #[test]
    fn ids_are_never_reused() {
        let mut tracker = Tracker::default();
        tracker.update(0, &[det(0.0, 0.0, 0.9)]);
        for frame in 1..=3 {
            tracker.update(frame, &[]);
        }
        assert_eq!(tracker.count(), 0);
        let tracks = tracker.update(4, &[det(0.0, 0.0, 0.9)]);
        assert_eq!(ids(&tracks), vec![2]);
    }

    #[test]
    fn min_hits_delays_counting_and_drops_unconfirmed_misses() {
        let mut tracker = Tracker::new(TrackerConfig {
            min_hits: 2,
            ..TrackerConfig::default()
        });
        tracker.update(0, &[det(0.0, 0.0, 0.9), det(50.0, 0.0, 0.9)]);
        assert_eq!(tracker.count(), 0);
        let tracks = tracker.update(5, &[det(0.0, 0.0, 0.9)]);
        // Track 2 was never confirmed: one miss ends it.
        assert_eq!(ids(&tracks), vec![1]);
        assert_eq!(tracker.count(), 1);
    }

    #[test]
    fn config_rejects_unknown_fields_and_fills_defaults() {
        use serde::de::value::{Error, MapDeserializer};

        let partial = MapDeserializer::<_, Error>::new([("max_missed", 4u32)].into_iter());
        let config = TrackerConfig::deserialize(partial).unwrap();
        assert_eq!(
            config,
            TrackerConfig {
                max_missed: 4,
                ..TrackerConfig::default()
            }
        );
        let unknown = MapDeserializer::<_, Error>::new([("max_mised", 4u32)].into_iter());
        assert!(TrackerConfig::deserialize(unknown).is_err());
    }
}
