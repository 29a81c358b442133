//! How sure a count is: the fewest and most animals a frame may hold, from what the model is
//! unsure of.
//!
//! A count is the number of detections at or above the counting confidence. It may be wrong
//! where the model hesitates, and the band says so:
//! - a counted detection scoring just above the threshold may be nothing (one fewer), and a
//!   candidate below it may be an animal (one more), unless it overlaps a counted box enough
//!   to be that same animal again;
//! - a counted box at the frame's edge that is much smaller than the animals fully in view may
//!   be an animal under half visible, which the counting rule leaves out (one fewer);
//! - two counted boxes that overlap a lot may be one animal found twice (one fewer);
//! - a counted box far larger than the animals fully in view may be a phantom over several
//!   animals or over none (one fewer).
//!
//! The default rule was chosen on a tuning grid (models/README.md, "The count band"): wide
//! score margins, and neither the overlap rule (a candidate over a counted box may be a second
//! animal pressed against it) nor the edge rule, which held the truth less often for the width
//! they cost; both stay available (`overlap_iou` under 1, `edge_area` over 0).

use serde::{Deserialize, Serialize};

use crate::postprocess::Detection;

/// The fewest and most animals a frame may hold; `low <= count <= high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CountBand {
    pub low: u32,
    pub high: u32,
}

impl CountBand {
    /// A band of one value: nothing to doubt.
    pub fn exact(count: u32) -> Self {
        Self {
            low: count,
            high: count,
        }
    }

    /// The smallest band holding both.
    pub fn union(self, other: CountBand) -> Self {
        Self {
            low: self.low.min(other.low),
            high: self.high.max(other.high),
        }
    }

    /// Whether `count` lies inside.
    pub fn holds(&self, count: u32) -> bool {
        (self.low..=self.high).contains(&count)
    }

    /// `high - low`.
    pub fn width(&self) -> u32 {
        self.high - self.low
    }
}

/// What makes a count unsure; see the module's documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BandRule {
    /// Candidates scoring this far below the counting confidence may be animals.
    pub below: f32,
    /// Counted detections scoring less than this far above it may not be.
    pub above: f32,
    /// A candidate overlapping a counted box by more than this IoU is taken to be the same
    /// animal, and two counted boxes overlapping by more than it may be one.
    pub overlap_iou: f32,
    /// A box within this many pixels of the frame's edge is cut by it.
    pub edge_px: f32,
    /// A cut box smaller than this share of the typical box fully in view may show an animal
    /// under half visible.
    pub edge_area: f32,
    /// A box larger than this many times the typical box fully in view may be a phantom.
    pub large_area: f32,
}

impl Default for BandRule {
    fn default() -> Self {
        Self {
            below: 0.35,
            above: 0.2,
            // Off: no IoU is over 1.
            overlap_iou: 1.0,
            edge_px: 2.0,
            // Off: no box is smaller than none.
            edge_area: 0.0,
            large_area: 2.5,
        }
    }
}

/// One image's result: what counts, and how sure the count is.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Detections {
    /// Detections at or above the counting confidence, after overlap suppression; their number
    /// is the count.
    pub boxes: Vec<Detection>,
    pub band: CountBand,
}

impl Detections {
    /// Detections with nothing to doubt: the band is their number.
    pub fn exact(boxes: Vec<Detection>) -> Self {
        let band = CountBand::exact(boxes.len() as u32);
        Self { boxes, band }
    }

    /// The count: the number of boxes.
    pub fn count(&self) -> u32 {
        self.boxes.len() as u32
    }
}

impl BandRule {
    /// The lowest score a detector must keep for the band: candidates down to here may count,
    /// never under [`Self::FLOOR_SHARE`] of the confidence.
    pub fn floor(&self, confidence: f32) -> f32 {
        (confidence - self.below).max(confidence * Self::FLOOR_SHARE)
    }

    /// The floor's least share of the counting confidence. Under it a detector's scores are
    /// the background's: with `below` at or over the confidence (`--conf 0.3` and the default
    /// 0.35) every anchor was a candidate and the band reached hundreds. The default rule at
    /// the sample model's 0.5 stays above it (0.15 against 0.125).
    pub const FLOOR_SHARE: f32 = 0.25;

    /// Splits one image's candidates (after overlap suppression, down to [`Self::floor`] or
    /// lower) into what counts at `confidence`, and the band around that count, for an image
    /// `width` × `height` pixels in the boxes' coordinates.
    pub fn apply(&self, candidates: Vec<Detection>, confidence: f32, width: u32, height: u32) -> Detections {
        let (counted, rest): (Vec<Detection>, Vec<Detection>) =
            candidates.into_iter().partition(|d| d.score >= confidence);
        let cut = |d: &Detection| d.cut_by_edge(width, height, self.edge_px);
        // The typical animal fully in view: the median area of the counted boxes off the edges.
        let mut inside: Vec<f32> = counted.iter().filter(|d| !cut(d)).map(Detection::area).collect();
        inside.sort_by(f32::total_cmp);
        let typical = inside.get(inside.len() / 2).copied();

        let mut fewer = 0u32;
        for (i, d) in counted.iter().enumerate() {
            let weak = d.score < confidence + self.above;
            let small_cut = typical.is_some_and(|t| cut(d) && d.area() < self.edge_area * t);
            let huge = typical.is_some_and(|t| inside.len() >= 2 && d.area() > self.large_area * t);
            let twin = counted[..i].iter().any(|o| o.iou(d) > self.overlap_iou);
            if weak || small_cut || huge || twin {
                fewer += 1;
            }
        }
        let floor = self.floor(confidence);
        let more = rest
            .iter()
            .filter(|d| d.score >= floor)
            .filter(|d| !counted.iter().any(|c| c.iou(d) > self.overlap_iou))
            .count() as u32;
        let count = counted.len() as u32;
        Detections {
            boxes: counted,
            band: CountBand {
                low: count - fewer.min(count),
                high: count + more,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(bbox: [f32; 4], score: f32) -> Detection {
        Detection {
            bbox,
            score,
            class: 0,
        }
    }

    /// Every rule on: the overlap and edge rules as they were before the default turned them
    /// off.
    fn every_rule() -> BandRule {
        BandRule {
            below: 0.2,
            above: 0.15,
            overlap_iou: 0.3,
            edge_area: 0.65,
            ..BandRule::default()
        }
    }

    /// Three pigs well inside a 400x300 frame, sure of all of them.
    fn sure() -> Vec<Detection> {
        vec![
            det([50.0, 50.0, 110.0, 80.0], 0.95),
            det([150.0, 100.0, 210.0, 130.0], 0.9),
            det([250.0, 150.0, 310.0, 180.0], 0.92),
        ]
    }

    #[test]
    fn sure_detections_give_an_exact_band() {
        for rule in [BandRule::default(), every_rule()] {
            let found = rule.apply(sure(), 0.5, 400, 300);
            assert_eq!(found.count(), 3);
            assert_eq!(found.band, CountBand::exact(3));
        }
    }

    #[test]
    fn scores_near_the_threshold_widen_the_band_both_ways() {
        let mut dets = sure();
        dets.push(det([300.0, 40.0, 360.0, 70.0], 0.65)); // counted, by 0.15
        dets.push(det([20.0, 200.0, 80.0, 230.0], 0.4)); // not counted, by 0.1
        dets.push(det([100.0, 220.0, 160.0, 250.0], 0.2)); // 0.3 under
        dets.push(det([200.0, 250.0, 260.0, 280.0], 0.1)); // far below: ignored
        let found = BandRule::default().apply(dets.clone(), 0.5, 400, 300);
        assert_eq!(found.count(), 4);
        assert_eq!(found.band, CountBand { low: 3, high: 6 });
        assert!(found.boxes.iter().all(|d| d.score >= 0.5));
        // Narrower margins: the counted one is sure, and the one 0.3 under is nothing.
        let found = every_rule().apply(dets, 0.5, 400, 300);
        assert_eq!(found.band, CountBand { low: 4, high: 5 });
    }

    #[test]
    fn a_candidate_over_a_counted_box_may_be_another_animal_or_the_same() {
        let mut dets = sure();
        dets.push(det([55.0, 52.0, 112.0, 82.0], 0.45));
        let found = BandRule::default().apply(dets.clone(), 0.5, 400, 300);
        assert_eq!(found.band, CountBand { low: 3, high: 4 });
        let found = every_rule().apply(dets, 0.5, 400, 300);
        assert_eq!(found.band, CountBand::exact(3));
    }

    #[test]
    fn a_small_box_at_the_edge_may_be_under_half_visible() {
        let mut dets = sure();
        dets.push(det([0.0, 120.0, 25.0, 150.0], 0.9)); // 25x30 against 60x30 inside
        dets.push(det([340.0, 0.0, 400.0, 30.0], 0.9)); // cut but as large as those inside
        let found = every_rule().apply(dets.clone(), 0.5, 400, 300);
        assert_eq!((found.count(), found.band), (5, CountBand { low: 4, high: 5 }));
        let found = BandRule::default().apply(dets, 0.5, 400, 300);
        assert_eq!((found.count(), found.band), (5, CountBand::exact(5)));
    }

    #[test]
    fn overlapping_and_huge_boxes_may_be_one_animal_or_none() {
        let mut dets = sure();
        dets.push(det([150.0, 105.0, 205.0, 132.0], 0.9)); // twin of the second
        dets.push(det([20.0, 20.0, 380.0, 280.0], 0.9)); // over most of the frame
        let found = every_rule().apply(dets.clone(), 0.5, 400, 300);
        assert_eq!(found.count(), 5);
        assert_eq!(found.band, CountBand { low: 3, high: 5 });
        // By default only the huge one is doubted.
        let found = BandRule::default().apply(dets, 0.5, 400, 300);
        assert_eq!(found.band, CountBand { low: 4, high: 5 });
    }

    #[test]
    fn band_arithmetic() {
        let a = CountBand { low: 2, high: 4 };
        assert!(a.holds(2) && a.holds(4) && !a.holds(5));
        assert_eq!(a.union(CountBand::exact(6)), CountBand { low: 2, high: 6 });
        assert_eq!(a.width(), 2);
        assert_eq!(Detections::exact(sure()).band, CountBand::exact(3));
        assert_eq!(BandRule::default().floor(0.5), 0.5 - 0.35);
        // Never down to the background's scores.
        assert_eq!(BandRule::default().floor(0.3), 0.3 * BandRule::FLOOR_SHARE);
        assert_eq!(BandRule::default().floor(0.1), 0.1 * BandRule::FLOOR_SHARE);
    }
}
