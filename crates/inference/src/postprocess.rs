//! From the model's raw output to detections: the output layouts of the common YOLO exports,
//! confidence filtering, the class filter, and class-aware non-maximum suppression, following
//! Ultralytics' `non_max_suppression` so the same detections survive.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::error::InferenceError;

/// How a model lays out its output, per image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum OutputLayout {
    /// YOLOv8/11, and YOLO26 exported without NMS: `[N, 4 + classes, anchors]`: cx, cy, w, h,
    /// then per-class scores (already sigmoid), one column per anchor.
    Anchors { classes: usize },
    /// YOLOv5: `[N, anchors, 5 + classes]`: cx, cy, w, h, objectness, per-class scores.
    Objectness { classes: usize },
    /// End-to-end exports with NMS inside (`nms=True`, YOLOv10/26): `[N, K, 6]`: x1, y1, x2,
    /// y2, score, class. Unused rows are zeros.
    EndToEnd,
}

/// What the configuration says about the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutHint {
    /// Decide from the output's shape and the model's metadata.
    #[default]
    Auto,
    Anchors,
    Objectness,
    EndToEnd,
}

impl LayoutHint {
    /// `self` when the configuration says nothing, else what it says.
    fn or(self, configured: LayoutHint) -> LayoutHint {
        if configured == LayoutHint::Auto {
            self
        } else {
            configured
        }
    }
}

/// The most classes a model may have; a longer axis holds anchors.
const MAX_CLASSES: i64 = 1000;

/// The most rows an end-to-end export holds; Ultralytics bakes in 300.
const MAX_END_TO_END_ROWS: i64 = 1000;

impl OutputLayout {
    /// Works out the layout from the output shape `[N, a, b]` (N may be dynamic, i.e. -1),
    /// the number of class names the model declares (if any), and whether its metadata says it
    /// is end-to-end.
    pub fn detect(
        shape: &[i64],
        names: Option<usize>,
        end_to_end: bool,
        hint: LayoutHint,
    ) -> Result<Self, InferenceError> {
        let bad = |why: &str| {
            Err(InferenceError::UnsupportedModel(format!(
                "output shape {shape:?}: {why}; expected [N, 4+classes, anchors] (YOLOv8/11), \
                 [N, anchors, 5+classes] (YOLOv5) or [N, K, 6] (end-to-end)"
            )))
        };
        let &[_, a, b] = shape else {
            return bad("the output must have three dimensions");
        };
        // Exports with a dynamic input size (`dynamic=True`) leave the anchor (or row) axis
        // dynamic too; the fixed axis then holds the box and class values.
        let layout = match (a > 0, b > 0) {
            (false, false) => return bad("the box and anchor dimensions cannot both be dynamic"),
            (true, false) | (false, true) if names.is_none() && a.max(b) > MAX_CLASSES => {
                return bad("the fixed axis is too long to hold box and class values");
            }
            (true, false) => Self::from_axes(a, i64::MAX, names, end_to_end, LayoutHint::Anchors.or(hint)),
            (false, true) => {
                let rows = if b == 6 && (end_to_end || hint == LayoutHint::EndToEnd) {
                    LayoutHint::EndToEnd
                } else {
                    LayoutHint::Objectness
                };
                Self::from_axes(i64::MAX, b, names, end_to_end, rows.or(hint))
            }
            (true, true) => Self::from_axes(a, b, names, end_to_end, hint),
        };
        layout
            .and_then(|l| l.ok_or_else(|| "no room for class scores".to_owned()))
            .or_else(|why| bad(&why))
    }

    /// The layout of an output `[N, a, b]` whose two last axes are known (a dynamic axis is
    /// given as `i64::MAX` with a hint naming the layout); `Err` says why none fits.
    fn from_axes(
        a: i64,
        b: i64,
        names: Option<usize>,
        end_to_end: bool,
        hint: LayoutHint,
    ) -> Result<Option<Self>, String> {
        let anchors = || {
            (a > 4).then(|| Self::Anchors {
                classes: (a - 4) as usize,
            })
        };
        let objectness = || {
            (b > 5).then(|| Self::Objectness {
                classes: (b - 5) as usize,
            })
        };
        let layout = match hint {
            LayoutHint::Anchors => anchors(),
            LayoutHint::Objectness => objectness(),
            LayoutHint::EndToEnd => (b == 6).then_some(Self::EndToEnd),
            LayoutHint::Auto if b == 6 && (end_to_end || a <= MAX_END_TO_END_ROWS) => Some(Self::EndToEnd),
            // With the class count known, the axis that holds box + classes says which it is.
            LayoutHint::Auto => match names.map(|n| n as i64) {
                Some(n) if a == 4 + n => anchors(),
                Some(n) if b == 5 + n => objectness(),
                Some(n) => {
                    return Err(format!(
                        "it fits neither 4+{n} rows (YOLOv8/11) nor 5+{n} columns (YOLOv5) for the \
                         {n} classes the model names"
                    ));
                }
                // Else anchors outnumber box and class values: the longer axis holds them.
                None if a < b => anchors(),
                None => objectness(),
            },
        };
        // A layout read off a dynamic shape must agree with the class names the model declares.
        match (layout.and_then(|l| l.classes()), names) {
            (Some(c), Some(n)) if c != n => Err(format!(
                "it holds {c} class scores but the model names {n} classes"
            )),
            _ => Ok(layout),
        }
    }

    /// Number of classes, where the layout tells it.
    pub fn classes(&self) -> Option<usize> {
        match *self {
            Self::Anchors { classes } | Self::Objectness { classes } => Some(classes),
            Self::EndToEnd => None,
        }
    }
}

/// One detected object, in the pixels of whatever image the caller is talking about.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Detection {
    /// x1, y1, x2, y2.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    pub score: f32,
    pub class: u32,
}

impl Detection {
    /// Whether the box reaches within `margin` pixels of the edge of a `width` x `height`
    /// image: the object may be cut by it.
    pub fn cut_by_edge(&self, width: u32, height: u32, margin: f32) -> bool {
        let [x1, y1, x2, y2] = self.bbox;
        let (w, h) = (width as f32, height as f32);
        x1 <= margin || y1 <= margin || x2 >= w - margin || y2 >= h - margin
    }

    pub fn area(&self) -> f32 {
        let [x1, y1, x2, y2] = self.bbox;
        (x2 - x1).max(0.0) * (y2 - y1).max(0.0)
    }

    /// Intersection over union of two boxes.
    pub fn iou(&self, other: &Detection) -> f32 {
        let [a1, b1, a2, b2] = self.bbox;
        let [c1, d1, c2, d2] = other.bbox;
        let w = (a2.min(c2) - a1.max(c1)).max(0.0);
        let h = (b2.min(d2) - b1.max(d1)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
}

/// Which detections survive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Minimum confidence (Ultralytics' `conf`, default 0.25).
    pub confidence: f32,
    /// Boxes of one class overlapping more than this are suppressed (Ultralytics' `iou`, 0.7).
    pub iou: f32,
    /// At most this many detections per image (Ultralytics' `max_det`, 300).
    pub max_detections: usize,
    /// Only these class ids; empty keeps every class.
    pub classes: Vec<u32>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            confidence: 0.25,
            iou: 0.7,
            max_detections: 300,
            classes: Vec::new(),
        }
    }
}

impl Thresholds {
    /// A stable digest of these settings, for cache keys: results differ when they differ.
    pub fn digest(&self) -> u64 {
        let mut h = blake3::Hasher::new();
        h.update(&self.confidence.to_le_bytes());
        h.update(&self.iou.to_le_bytes());
        h.update(&(self.max_detections as u64).to_le_bytes());
        for c in &self.classes {
            h.update(&c.to_le_bytes());
        }
        let bytes = h.finalize();
        u64::from_le_bytes(bytes.as_bytes()[..8].try_into().unwrap_or_default())
    }
}

/// Ultralytics' `max_nms`: the most candidates NMS looks at, best first.
const MAX_NMS: usize = 30_000;

/// Decodes one image's output (`[a, b]` as in [`OutputLayout`]) into detections in model-input
/// pixels, filtered and suppressed.
pub fn decode(output: ArrayView2<'_, f32>, layout: OutputLayout, th: &Thresholds) -> Vec<Detection> {
    let wanted = |class: u32| th.classes.is_empty() || th.classes.contains(&class);
    let mut candidates = Vec::new();
    match layout {
        OutputLayout::Anchors { classes } => {
            for a in 0..output.ncols() {
                let col = output.column(a);
                let (class, score) = best_class((4..4 + classes).map(|r| col[r]));
                if score > th.confidence && wanted(class) {
                    candidates.push(from_center(col[0], col[1], col[2], col[3], score, class));
                }
            }
        }
        OutputLayout::Objectness { classes } => {
            for row in output.rows() {
                let objectness = row[4];
                if objectness <= th.confidence {
                    continue;
                }
                let (class, score) = best_class((5..5 + classes).map(|c| row[c] * objectness));
                if score > th.confidence && wanted(class) {
                    candidates.push(from_center(row[0], row[1], row[2], row[3], score, class));
                }
            }
        }
        OutputLayout::EndToEnd => {
            for row in output.rows() {
                let (score, class) = (row[4], row[5]);
                if score > th.confidence && class >= 0.0 && wanted(class as u32) {
                    candidates.push(Detection {
                        bbox: [row[0], row[1], row[2], row[3]],
                        score,
                        class: class as u32,
                    });
                }
            }
            candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
            candidates.truncate(th.max_detections);
            return candidates;
        }
    }
    nms(candidates, th.iou, th.max_detections)
}

fn best_class(scores: impl Iterator<Item = f32>) -> (u32, f32) {
    scores.enumerate().fold((0, f32::NEG_INFINITY), |best, (i, s)| {
        if s > best.1 { (i as u32, s) } else { best }
    })
}

fn from_center(cx: f32, cy: f32, w: f32, h: f32, score: f32, class: u32) -> Detection {
    Detection {
        bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
        score,
        class,
    }
}

/// Class-aware greedy NMS: best first, dropping boxes of the same class that overlap a kept
/// one by more than `iou`.
pub fn nms(mut candidates: Vec<Detection>, iou: f32, max_detections: usize) -> Vec<Detection> {
    // Stable sort: equal scores keep their anchor order, as torch's sort does in practice.
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    candidates.truncate(MAX_NMS);
    let mut kept: Vec<Detection> = Vec::new();
    for c in candidates {
        if kept.len() >= max_detections {
            break;
        }
        if !kept.iter().any(|k| k.class == c.class && k.iou(&c) > iou) {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    fn th() -> Thresholds {
        Thresholds::default()
    }

    #[test]
    fn detects_layouts_from_shapes() {
        let auto = LayoutHint::Auto;
        assert_eq!(
            OutputLayout::detect(&[-1, 5, 2100], Some(1), false, auto).unwrap(),
            OutputLayout::Anchors { classes: 1 }
        );
        assert_eq!(
            OutputLayout::detect(&[1, 84, 8400], None, false, auto).unwrap(),
            OutputLayout::Anchors { classes: 80 }
        );
        assert_eq!(
            OutputLayout::detect(&[1, 25200, 85], Some(80), false, auto).unwrap(),
            OutputLayout::Objectness { classes: 80 }
        );
        assert_eq!(
            OutputLayout::detect(&[4, 300, 6], Some(1), false, auto).unwrap(),
            OutputLayout::EndToEnd
        );
        // A one-class YOLOv5 output is also 6 wide; its anchor count tells it apart...
        assert_eq!(
            OutputLayout::detect(&[1, 6300, 6], Some(1), false, auto).unwrap(),
            OutputLayout::Objectness { classes: 1 }
        );
        // ...and a hint overrides.
        assert_eq!(
            OutputLayout::detect(&[1, 300, 6], Some(1), false, LayoutHint::Objectness).unwrap(),
            OutputLayout::Objectness { classes: 1 }
        );
        assert!(OutputLayout::detect(&[1, 8400], None, false, auto).is_err());
        assert!(OutputLayout::detect(&[1, 4, 8400], None, false, auto).is_err());
        assert!(OutputLayout::detect(&[1, 84, 8400], Some(3), false, auto).is_err());
        assert!(OutputLayout::detect(&[1, -1, 8400], None, false, auto).is_err());
        // `dynamic=True` exports: the anchor (or row) axis follows the input size.
        assert_eq!(
            OutputLayout::detect(&[-1, 5, -1], Some(1), false, auto).unwrap(),
            OutputLayout::Anchors { classes: 1 }
        );
        assert_eq!(
            OutputLayout::detect(&[-1, 84, -1], None, false, auto).unwrap(),
            OutputLayout::Anchors { classes: 80 }
        );
        assert_eq!(
            OutputLayout::detect(&[-1, -1, 85], Some(80), false, auto).unwrap(),
            OutputLayout::Objectness { classes: 80 }
        );
        assert_eq!(
            OutputLayout::detect(&[-1, -1, 6], Some(1), true, auto).unwrap(),
            OutputLayout::EndToEnd
        );
        assert_eq!(
            OutputLayout::detect(&[-1, -1, 6], Some(1), false, auto).unwrap(),
            OutputLayout::Objectness { classes: 1 }
        );
        assert!(OutputLayout::detect(&[-1, 7, -1], Some(1), false, auto).is_err());
        assert!(OutputLayout::detect(&[-1, -1, -1], Some(1), false, auto).is_err());
    }

    #[test]
    fn anchors_layout_decodes_and_suppresses() {
        // 2 classes, 4 anchors (columns).
        let out: Array2<f32> = array![
            [50.0, 52.0, 200.0, 10.0], // cx
            [50.0, 50.0, 100.0, 10.0], // cy
            [20.0, 20.0, 40.0, 4.0],   // w
            [10.0, 10.0, 40.0, 4.0],   // h
            [0.9, 0.8, 0.1, 0.2],      // class 0
            [0.1, 0.05, 0.6, 0.24],    // class 1
        ];
        let dets = decode(out.view(), OutputLayout::Anchors { classes: 2 }, &th());
        // Anchor 1 overlaps anchor 0 (same class) and goes; anchor 3 is under the threshold.
        assert_eq!(dets.len(), 2);
        assert_eq!(dets[0].bbox, [40.0, 45.0, 60.0, 55.0]);
        assert_eq!((dets[0].class, dets[0].score), (0, 0.9));
        assert_eq!(dets[1].bbox, [180.0, 80.0, 220.0, 120.0]);
        assert_eq!(dets[1].class, 1);

        let only_1 = Thresholds {
            classes: vec![1],
            ..th()
        };
        let dets = decode(out.view(), OutputLayout::Anchors { classes: 2 }, &only_1);
        assert_eq!(dets.len(), 1);
        assert_eq!(dets[0].class, 1);
    }

    #[test]
    fn threshold_digests_differ_when_settings_do() {
        let base = th();
        assert_eq!(base.digest(), Thresholds::default().digest());
        assert_ne!(
            base.digest(),
            Thresholds {
                confidence: 0.3,
                ..th()
            }
            .digest()
        );
        assert_ne!(
            base.digest(),
            Thresholds {
                classes: vec![0],
                ..th()
            }
            .digest()
        );
    }

    #[test]
    fn nms_is_class_aware() {
        let a = Detection {
            bbox: [0.0, 0.0, 10.0, 10.0],
            score: 0.9,
            class: 0,
        };
        let b = Detection {
            bbox: [1.0, 0.0, 11.0, 10.0],
            score: 0.8,
            class: 0,
        };
        let c = Detection {
            bbox: [1.0, 0.0, 11.0, 10.0],
            score: 0.7,
            class: 1,
        };
        assert!(a.iou(&b) > 0.7);
        assert_eq!(nms(vec![c, b, a], 0.7, 300), vec![a, c]);
        assert_eq!(nms(vec![c, b, a], 0.95, 300), vec![a, b, c]);
        assert_eq!(nms(vec![c, b, a], 0.95, 2), vec![a, b]);
    }

    #[test]
    fn objectness_layout_multiplies_scores() {
        let out: Array2<f32> = array![
            [10.0, 10.0, 4.0, 4.0, 0.9, 0.5, 0.9], // 0.81 for class 1
            [30.0, 30.0, 4.0, 4.0, 0.2, 1.0, 1.0], // objectness under threshold
            [50.0, 50.0, 4.0, 4.0, 0.5, 0.4, 0.2], // 0.2: under threshold
        ];
        let dets = decode(out.view(), OutputLayout::Objectness { classes: 2 }, &th());
        assert_eq!(dets.len(), 1);
        assert_eq!(dets[0].class, 1);
        assert!((dets[0].score - 0.81).abs() < 1e-6);
        assert_eq!(dets[0].bbox, [8.0, 8.0, 12.0, 12.0]);
    }

    #[test]
    fn end_to_end_rows_are_taken_as_they_are() {
        let out: Array2<f32> = array![
            [1.0, 2.0, 3.0, 4.0, 0.3, 0.0],
            [5.0, 6.0, 7.0, 8.0, 0.9, 2.0],
            [1.0, 2.0, 3.0, 4.0, 0.85, 2.0], // overlaps the row above: kept, NMS is the model's
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ];
        let dets = decode(out.view(), OutputLayout::EndToEnd, &th());
        assert_eq!(dets.len(), 3);
        assert_eq!(dets[0].bbox, [5.0, 6.0, 7.0, 8.0]);
        assert_eq!(dets[0].class, 2);
        let capped = Thresholds {
            max_detections: 1,
            ..th()
        };
        assert_eq!(decode(out.view(), OutputLayout::EndToEnd, &capped).len(), 1);
    }
}
