//! Scoring a detector against ground truth: how often the count is exact, the count error, and
//! average precision at an IoU threshold (AP50 at 0.5), the figures a model is accepted by.

use serde::Serialize;

use crate::band::CountBand;
use crate::postprocess::Detection;

/// Accumulates frames of detections and their ground truth.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// A detection is counted when its score is at least this.
    count_confidence: f32,
    /// A detection matches a true box when their IoU is at least this.
    match_iou: f32,
    frames: u64,
    exact: u64,
    abs_error: u64,
    signed_error: i64,
    positives: u64,
    /// (score, matched a true box) for every detection, for the precision-recall curve.
    scored: Vec<(f32, bool)>,
    /// Frames given a band, those whose true count it held, and the sum of their widths.
    banded: u64,
    band_held: u64,
    band_widths: u64,
}

/// What [`Evaluation::summary`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EvaluationSummary {
    pub frames: u64,
    /// Fraction of frames whose count equals the true count.
    pub exact_count_rate: f64,
    /// Mean of |counted - true|.
    pub count_mae: f64,
    /// Mean of (counted - true): positive when the model over-counts.
    pub count_bias: f64,
    /// True boxes over all frames.
    pub true_boxes: u64,
    /// Average precision at the match IoU (101-point interpolation, as COCO and Ultralytics).
    pub ap: f64,
    /// Precision and recall of the detections that are counted.
    pub precision: f64,
    pub recall: f64,
    /// Fraction of the frames given a band ([`Evaluation::add_band`]) whose true count it held.
    pub band_coverage: f64,
    /// Mean `high - low` of those bands.
    pub band_width: f64,
}

impl Evaluation {
    /// Counts detections scoring at least `count_confidence`; matches at `match_iou` (0.5 for
    /// AP50). Give it detections down to a low confidence (e.g. 0.001) so the AP sees the whole
    /// precision-recall curve.
    pub fn new(count_confidence: f32, match_iou: f32) -> Self {
        Self {
            count_confidence,
            match_iou,
            frames: 0,
            exact: 0,
            abs_error: 0,
            signed_error: 0,
            positives: 0,
            scored: Vec::new(),
            banded: 0,
            band_held: 0,
            band_widths: 0,
        }
    }

    /// Records a frame's count band against its true count.
    pub fn add_band(&mut self, band: CountBand, truth: u32) {
        self.banded += 1;
        self.band_held += u64::from(band.holds(truth));
        self.band_widths += u64::from(band.width());
    }

    /// The score from which a detection is counted.
    pub fn count_confidence(&self) -> f32 {
        self.count_confidence
    }

    /// The detections that count: those at or above the count confidence.
    pub fn counted<'a>(&self, detections: &'a [Detection]) -> impl Iterator<Item = &'a Detection> {
        let confidence = self.count_confidence;
        detections.iter().filter(move |d| d.score >= confidence)
    }

    /// Adds one frame: its detections and the boxes of the animals that truly count. Returns
    /// the frame's count (see [`Self::counted`]).
    pub fn add(&mut self, detections: &[Detection], truth: &[[f32; 4]]) -> u32 {
        let counted = self.counted(detections).count();
        self.frames += 1;
        self.exact += u64::from(counted == truth.len());
        self.abs_error += counted.abs_diff(truth.len()) as u64;
        self.signed_error += counted as i64 - truth.len() as i64;
        self.positives += truth.len() as u64;

        // Greedy in score order: each detection takes the best still-unmatched true box.
        let mut order: Vec<&Detection> = detections.iter().collect();
        order.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut taken = vec![false; truth.len()];
        for det in order {
            let best = truth
                .iter()
                .enumerate()
                .filter(|(i, _)| !taken[*i])
                .map(|(i, b)| (i, det.iou(&Detection { bbox: *b, ..*det })))
                .filter(|&(_, iou)| iou >= self.match_iou)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((i, _)) = best {
                taken[i] = true;
            }
            self.scored.push((det.score, best.is_some()));
        }
        counted as u32
    }

    pub fn summary(&self) -> EvaluationSummary {
        let frames = self.frames.max(1) as f64;
        let mut scored = self.scored.clone();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        // Precision and recall after each detection, highest score first.
        let positives = self.positives.max(1) as f64;
        let (mut tp, mut fp) = (0u64, 0u64);
        let mut curve = Vec::with_capacity(scored.len());
        let (mut counted_tp, mut counted_fp) = (0u64, 0u64);
        for &(score, matched) in &scored {
            if matched {
                tp += 1;
            } else {
                fp += 1;
            }
            if score >= self.count_confidence {
                (counted_tp, counted_fp) = (tp, fp);
            }
            curve.push((tp as f64 / positives, tp as f64 / (tp + fp) as f64));
        }
        EvaluationSummary {
            frames: self.frames,
            exact_count_rate: self.exact as f64 / frames,
            count_mae: self.abs_error as f64 / frames,
            count_bias: self.signed_error as f64 / frames,
            true_boxes: self.positives,
            ap: average_precision(&curve),
            precision: if counted_tp + counted_fp == 0 {
                1.0
            } else {
                counted_tp as f64 / (counted_tp + counted_fp) as f64
            },
            recall: counted_tp as f64 / positives,
            band_coverage: self.band_held as f64 / self.banded.max(1) as f64,
            band_width: self.band_widths as f64 / self.banded.max(1) as f64,
        }
    }
}

/// Area under a precision-recall curve given as (recall, precision) points in score order:
/// precision made monotone (the best precision at any higher recall), then averaged over the
/// recall levels 0, 0.01, …, 1.
fn average_precision(curve: &[(f64, f64)]) -> f64 {
    let mut envelope: Vec<(f64, f64)> = curve.to_vec();
    for i in (0..envelope.len().saturating_sub(1)).rev() {
        envelope[i].1 = envelope[i].1.max(envelope[i + 1].1);
    }
    (0..=100)
        .map(|k| {
            let level = f64::from(k) / 100.0;
            envelope
                .iter()
                .find(|(recall, _)| *recall >= level - 1e-12)
                .map_or(0.0, |&(_, precision)| precision)
        })
        .sum::<f64>()
        / 101.0
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

    #[test]
    fn perfect_detections_score_one() {
        let mut eval = Evaluation::new(0.25, 0.5);
        let truth = [[0.0, 0.0, 10.0, 10.0], [20.0, 0.0, 30.0, 10.0]];
        let counted = eval.add(&[det(truth[0], 0.9), det(truth[1], 0.8)], &truth);
        assert_eq!(counted, 2);
        let s = eval.summary();
        assert_eq!((s.frames, s.true_boxes), (1, 2));
        assert_eq!((s.exact_count_rate, s.count_mae, s.count_bias), (1.0, 0.0, 0.0));
        assert!((s.ap - 1.0).abs() < 1e-12, "{s:?}");
        assert_eq!((s.precision, s.recall), (1.0, 1.0));
    }

    #[test]
    fn counts_use_the_count_confidence_and_errors_are_signed() {
        let mut eval = Evaluation::new(0.5, 0.5);
        let truth = [[0.0, 0.0, 10.0, 10.0]];
        // Frame 1: one true hit and a confident false one -> counted 2 of 1.
        eval.add(&[det(truth[0], 0.9), det([50.0, 50.0, 60.0, 60.0], 0.6)], &truth);
        // Frame 2: the hit is below the count confidence -> counted 0 of 1.
        eval.add(&[det(truth[0], 0.3)], &truth);
        // Frame 3: exact.
        eval.add(&[det(truth[0], 0.7)], &truth);
        let s = eval.summary();
        assert_eq!(s.frames, 3);
        assert!((s.exact_count_rate - 1.0 / 3.0).abs() < 1e-12);
        assert!((s.count_mae - 2.0 / 3.0).abs() < 1e-12);
        assert!(s.count_bias.abs() < 1e-12);
        // Counted detections: 0.9 hit, 0.7 hit, 0.6 miss.
        assert!((s.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.recall - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn ap_follows_the_interpolated_curve() {
        // Scores: 0.9 hit, 0.8 miss, 0.7 hit; two true boxes.
        // Curve: (0.5, 1), (0.5, 0.5), (1, 2/3). Envelope: 1 up to recall 0.5, then 2/3.
        let mut eval = Evaluation::new(0.0, 0.5);
        let truth = [[0.0, 0.0, 10.0, 10.0], [20.0, 0.0, 30.0, 10.0]];
        eval.add(
            &[
                det(truth[0], 0.9),
                det([40.0, 0.0, 50.0, 10.0], 0.8),
                det(truth[1], 0.7),
            ],
            &truth,
        );
        let expected = (51.0 * 1.0 + 50.0 * 2.0 / 3.0) / 101.0;
        assert!(
            (eval.summary().ap - expected).abs() < 1e-12,
            "{:?}",
            eval.summary()
        );
    }

    #[test]
    fn a_true_box_matches_once_and_poor_overlap_does_not_match() {
        let mut eval = Evaluation::new(0.0, 0.5);
        let truth = [[0.0, 0.0, 10.0, 10.0]];
        // A duplicate of the hit and a box overlapping at IoU 1/3 are both false positives.
        eval.add(
            &[
                det(truth[0], 0.9),
                det(truth[0], 0.8),
                det([5.0, 0.0, 15.0, 10.0], 0.7),
            ],
            &truth,
        );
        let s = eval.summary();
        assert!((s.precision - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.recall, 1.0);
        assert!((s.ap - 1.0).abs() < 1e-12);
    }

    #[test]
    fn no_detections_and_no_truth_is_exact_with_zero_ap() {
        let mut eval = Evaluation::new(0.25, 0.5);
        eval.add(&[], &[]);
        let s = eval.summary();
        assert_eq!(s.exact_count_rate, 1.0);
        assert_eq!(s.ap, 0.0);
    }
}
