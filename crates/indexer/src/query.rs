//! Answers from an index, without a model: the count shown at a frame (with how it is known),
//! the next and previous change, and the count series for drawing a timeline at any zoom.
//!
//! Between two samples the count is a step function: it holds the earlier sample's value until
//! the later one. Where both neighbours agree the value in between is `interpolated` (refinement
//! would have found a change there only if one neighbour disagreed); where they disagree it is
//! `held` from the earlier one, and refinement narrows such gaps to a frame.
//!
//! The series comes from a pyramid over that step function sampled on a regular grid: level 0
//! holds min, max and sum per grid cell, each level above merges pairs. A bucket's cells are
//! merged from O(log n) pyramid cells (as in a segment tree), so any zoom costs
//! O(points × log n) whatever the video's length, and is exact to the grid.

use serde::Serialize;

use pigweight_inference::CountBand;

use crate::store::{Sample, Source};

/// How a count is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provenance {
    /// The model saw this very frame.
    Indexed,
    /// Between two samples that agree.
    Interpolated,
    /// The last known value, before a change somewhere up to the next sample (or at either end).
    Held,
}

/// The count at one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CountAt {
    pub count: u32,
    /// The fewest and most animals the frame may hold: the sample's own band where the model saw
    /// the frame; between two samples, both samples' bands together (where they disagree, the
    /// count changes somewhere between them, so either value may hold).
    pub band: CountBand,
    pub provenance: Provenance,
    /// The sample the value comes from.
    pub sample_frame: u64,
    /// Seconds to the nearest sample.
    pub distance_s: f64,
}

/// A change of count between two neighbouring samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CountStep {
    /// The first sample with the new count, and its time.
    pub frame: u64,
    pub time: f64,
    pub from: u32,
    pub to: u32,
}

/// One bucket of a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bucket {
    /// Start of the bucket, seconds.
    pub time: f64,
    pub min: u32,
    pub max: u32,
    pub mean: f64,
    /// The lowest band bottom and the highest band top in the bucket.
    pub low: u32,
    pub high: u32,
    /// Samples inside the bucket: 0 where its values are only carried over from neighbours
    /// (a stretch the index has not looked at closely yet).
    pub samples: u32,
}

#[derive(Debug, Clone, Copy)]
struct Cell {
    min: u32,
    max: u32,
    low: u32,
    high: u32,
    sum: f64,
    n: u32,
    /// Real samples merged in (the held value at a cell's start is not one).
    samples: u32,
}

impl Cell {
    const EMPTY: Self = Self {
        min: u32::MAX,
        max: 0,
        low: u32::MAX,
        high: 0,
        sum: 0.0,
        n: 0,
        samples: 0,
    };

    fn merge(self, o: Self) -> Self {
        Self {
            min: self.min.min(o.min),
            max: self.max.max(o.max),
            low: self.low.min(o.low),
            high: self.high.max(o.high),
            sum: self.sum + o.sum,
            n: self.n + o.n,
            samples: self.samples + o.samples,
        }
    }
}

/// Level-0 cells of a view at most: its memory stays bounded however long the video.
const MAX_CELLS: usize = 1 << 16;

/// An index's samples, ready for queries.
#[derive(Debug, Clone)]
pub struct IndexView {
    frames: Vec<u64>,
    times: Vec<f64>,
    counts: Vec<u32>,
    bands: Vec<CountBand>,
    /// Positions (in the vectors above) of the samples whose count differs from the one before.
    changes: Vec<usize>,
    /// Seconds per level-0 cell.
    resolution: f64,
    /// levels[0]: one cell per `resolution`; levels[k]: pairs of levels[k-1].
    levels: Vec<Vec<Cell>>,
    /// Frames with a thumbnail (keyframe and regular samples) and their times, in order.
    thumbs: Vec<(u64, f64)>,
}

impl IndexView {
    /// Builds the view of `samples` (any order) with series cells of `resolution` seconds, or
    /// coarser where the video is long: at most [`MAX_CELLS`] of them (a day-long recording gets
    /// cells of 1.3 s; its exact counts still come from the samples).
    pub fn new<'a>(samples: impl IntoIterator<Item = &'a Sample>, resolution: f64) -> Self {
        let mut sorted: Vec<&Sample> = samples.into_iter().collect();
        sorted.sort_by_key(|s| s.frame);
        let frames: Vec<u64> = sorted.iter().map(|s| s.frame).collect();
        let times: Vec<f64> = sorted.iter().map(|s| s.time).collect();
        let counts: Vec<u32> = sorted.iter().map(|s| s.count).collect();
        let bands: Vec<CountBand> = sorted.iter().map(|s| s.band).collect();
        let changes = (1..counts.len())
            .filter(|&i| counts[i] != counts[i - 1])
            .collect();
        let thumbs = sorted
            .iter()
            .filter(|s| s.source != Source::Refine)
            .map(|s| (s.frame, s.time))
            .collect();
        let resolution = if resolution.is_finite() && resolution > 0.0 {
            resolution
        } else {
            0.25
        };
        let span = times.last().copied().unwrap_or(0.0);
        let resolution = resolution.max(span / MAX_CELLS as f64);
        let mut view = Self {
            frames,
            times,
            counts,
            bands,
            changes,
            resolution,
            levels: Vec::new(),
            thumbs,
        };
        view.build_pyramid();
        view
    }

    /// Frames that have a thumbnail, with their times, in order.
    pub fn thumbnails(&self) -> &[(u64, f64)] {
        &self.thumbs
    }

    /// The frame of the thumbnail to show at `time`: the last one at or before it (the first
    /// one before the first).
    pub fn thumbnail_at(&self, time: f64) -> Option<u64> {
        let after = self.thumbs.partition_point(|&(_, t)| t <= time);
        self.thumbs.get(after.saturating_sub(1)).map(|&(f, _)| f)
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Bytes the view holds on the heap (its samples and its series cells).
    pub fn heap_bytes(&self) -> u64 {
        use std::mem::size_of;
        let cells: usize = self.levels.iter().map(Vec::capacity).sum();
        (self.frames.capacity() * size_of::<u64>()
            + self.times.capacity() * size_of::<f64>()
            + self.counts.capacity() * size_of::<u32>()
            + self.bands.capacity() * size_of::<CountBand>()
            + self.changes.capacity() * size_of::<usize>()
            + self.thumbs.capacity() * size_of::<(u64, f64)>()
            + cells * size_of::<Cell>()) as u64
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    fn build_pyramid(&mut self) {
        let Some(&end) = self.times.last() else {
            return;
        };
        let cells = (end / self.resolution).floor() as usize + 1;
        // Level 0: the step function at each cell start (held from the sample at or before it),
        // plus every sample falling inside the cell, so short spikes still show in min/max.
        let mut level0 = Vec::with_capacity(cells);
        let mut i = 0; // first sample with time > cell start
        let mut k = 0; // first sample with time >= cell start
        for c in 0..cells {
            let start = c as f64 * self.resolution;
            while i < self.times.len() && self.times[i] <= start {
                i += 1;
            }
            while k < self.times.len() && self.times[k] < start {
                k += 1;
            }
            let inside = self.times[k..]
                .iter()
                .take_while(|&&t| t < start + self.resolution)
                .count();
            let held = self.counts[i.saturating_sub(1)];
            let held_band = self.bands[i.saturating_sub(1)];
            let mut cell = Cell {
                min: held,
                max: held,
                low: held_band.low,
                high: held_band.high,
                sum: f64::from(held),
                n: 1,
                samples: 0,
            };
            let mut j = i;
            while j < self.times.len() && self.times[j] < start + self.resolution {
                let v = self.counts[j];
                cell = cell.merge(Cell {
                    min: v,
                    max: v,
                    low: self.bands[j].low,
                    high: self.bands[j].high,
                    sum: f64::from(v),
                    n: 1,
                    samples: 0,
                });
                j += 1;
            }
            cell.samples = inside as u32;
            level0.push(cell);
        }
        self.levels = vec![level0];
        while self.levels.last().is_some_and(|l| l.len() > 1) {
            let below = self.levels.last().map(Vec::as_slice).unwrap_or_default();
            let up: Vec<Cell> = below
                .chunks(2)
                .map(|p| p.iter().copied().fold(Cell::EMPTY, Cell::merge))
                .collect();
            self.levels.push(up);
        }
    }

    /// The count at frame `frame` shown at `time` seconds; `None` when the index is empty.
    pub fn count_at(&self, frame: u64, time: f64) -> Option<CountAt> {
        let after = self.frames.partition_point(|&f| f <= frame); // first sample past the frame
        if after > 0 && self.frames[after - 1] == frame {
            return Some(CountAt {
                count: self.counts[after - 1],
                band: self.bands[after - 1],
                provenance: Provenance::Indexed,
                sample_frame: frame,
                distance_s: 0.0,
            });
        }
        let before = after.checked_sub(1);
        let next = (after < self.frames.len()).then_some(after);
        let dist = |i: usize| (self.times[i] - time).abs();
        match (before, next) {
            (None, None) => None,
            (Some(b), None) => Some(self.held(b, dist(b))),
            (None, Some(n)) => Some(self.held(n, dist(n))),
            (Some(b), Some(n)) => {
                let distance_s = dist(b).min(dist(n));
                let band = self.bands[b].union(self.bands[n]);
                Some(if self.counts[b] == self.counts[n] {
                    CountAt {
                        count: self.counts[b],
                        band,
                        provenance: Provenance::Interpolated,
                        sample_frame: self.frames[b],
                        distance_s,
                    }
                } else {
                    CountAt {
                        distance_s,
                        band,
                        ..self.held(b, distance_s)
                    }
                })
            }
        }
    }

    fn held(&self, i: usize, distance_s: f64) -> CountAt {
        CountAt {
            count: self.counts[i],
            band: self.bands[i],
            provenance: Provenance::Held,
            sample_frame: self.frames[i],
            distance_s,
        }
    }

    fn change_at(&self, i: usize) -> CountStep {
        CountStep {
            frame: self.frames[i],
            time: self.times[i],
            from: self.counts[i - 1],
            to: self.counts[i],
        }
    }

    /// The first change after `frame`.
    pub fn next_change(&self, frame: u64) -> Option<CountStep> {
        let after = self.changes.partition_point(|&i| self.frames[i] <= frame);
        self.changes.get(after).map(|&i| self.change_at(i))
    }

    /// The last change before `frame` (at a sample earlier than it).
    pub fn previous_change(&self, frame: u64) -> Option<CountStep> {
        let before = self.changes.partition_point(|&i| self.frames[i] < frame);
        before.checked_sub(1).map(|k| self.change_at(self.changes[k]))
    }

    /// Up to `max_points` buckets of equal length covering `from..to` seconds: min, max and
    /// mean count in each. Empty when the index is.
    pub fn series(&self, from: f64, to: f64, max_points: usize) -> Vec<Bucket> {
        let Some(level0) = self.levels.first() else {
            return Vec::new();
        };
        let end = level0.len() as f64 * self.resolution;
        let (from, to) = (from.max(0.0), to.min(end));
        // NaN bounds fail this comparison too.
        if to.partial_cmp(&from) != Some(std::cmp::Ordering::Greater) || max_points == 0 {
            return Vec::new();
        }
        // Buckets no finer than a level-0 cell.
        let cells_total = ((to - from) / self.resolution).ceil().max(1.0);
        let points = (max_points as f64).min(cells_total) as usize;
        let width = (to - from) / points as f64;
        (0..points)
            .map(|p| {
                let start = from + p as f64 * width;
                let lo = ((start / self.resolution).floor() as usize).min(level0.len() - 1);
                let hi = (((start + width) / self.resolution).ceil() as usize).clamp(lo + 1, level0.len());
                let cell = self.range(lo, hi);
                Bucket {
                    time: start,
                    min: cell.min,
                    max: cell.max,
                    low: cell.low,
                    high: cell.high,
                    mean: cell.sum / f64::from(cell.n.max(1)),
                    samples: cell.samples,
                }
            })
            .collect()
    }

    /// Level-0 cells `lo..hi` merged, from O(log n) pyramid cells.
    fn range(&self, mut lo: usize, mut hi: usize) -> Cell {
        let mut cell = Cell::EMPTY;
        for level in &self.levels {
            if lo >= hi {
                break;
            }
            if lo % 2 == 1 {
                cell = cell.merge(level[lo]);
                lo += 1;
            }
            if hi % 2 == 1 {
                hi -= 1;
                cell = cell.merge(level[hi]);
            }
            lo /= 2;
            hi /= 2;
        }
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples at 25 fps: (frame, count), each sure of its count.
    fn view(points: &[(u64, u32)]) -> IndexView {
        banded(
            &points
                .iter()
                .map(|&(f, c)| (f, c, CountBand::exact(c)))
                .collect::<Vec<_>>(),
        )
    }

    /// Samples at 25 fps: (frame, count, band).
    fn banded(points: &[(u64, u32, CountBand)]) -> IndexView {
        let samples: Vec<Sample> = points
            .iter()
            .map(|&(frame, count, band)| Sample {
                frame,
                time: frame as f64 / 25.0,
                count,
                band,
                source: Source::Regular,
                detections: Vec::new(),
            })
            .collect();
        IndexView::new(&samples, 0.25)
    }

    /// A sampled frame has its own band; between samples that agree, both bands together;
    /// between samples that disagree, both counts too; the series carries them per bucket.
    #[test]
    fn bands_follow_the_samples() {
        let b = |low, high| CountBand { low, high };
        let v = banded(&[
            (0, 3, b(3, 3)),
            (25, 3, b(2, 3)),
            (50, 5, b(5, 6)),
            (75, 5, b(5, 5)),
        ]);
        assert_eq!(v.count_at(0, 0.0).unwrap().band, b(3, 3));
        assert_eq!(v.count_at(25, 1.0).unwrap().band, b(2, 3));
        assert_eq!(v.count_at(10, 0.4).unwrap().band, b(2, 3));
        let between = v.count_at(40, 1.6).unwrap();
        assert_eq!((between.count, between.band), (3, b(2, 6)));
        assert_eq!(v.count_at(90, 3.6).unwrap().band, b(5, 5));
        let series = v.series(0.0, 3.0, 3);
        let bands: Vec<(u32, u32)> = series.iter().map(|s| (s.low, s.high)).collect();
        assert_eq!(bands, vec![(3, 3), (2, 3), (5, 6)]);
    }

    #[test]
    fn count_at_says_how_it_knows() {
        let v = view(&[(0, 3), (25, 3), (50, 5), (75, 5)]);
        let at = |f: u64| v.count_at(f, f as f64 / 25.0).unwrap();
        assert_eq!(at(25).provenance, Provenance::Indexed);
        assert_eq!(at(25).count, 3);
        // Between agreeing samples.
        let mid = at(10);
        assert_eq!(
            (mid.count, mid.provenance, mid.sample_frame),
            (3, Provenance::Interpolated, 0)
        );
        assert!((mid.distance_s - 0.4).abs() < 1e-9);
        // Between disagreeing samples: held from the earlier one.
        let gap = at(40);
        assert_eq!(
            (gap.count, gap.provenance, gap.sample_frame),
            (3, Provenance::Held, 25)
        );
        assert!((gap.distance_s - 0.4).abs() < 1e-9);
        // Past the end.
        assert_eq!(at(100).provenance, Provenance::Held);
        assert_eq!(at(100).count, 5);
        assert!(view(&[]).count_at(3, 0.1).is_none());
    }

    #[test]
    fn changes_forward_and_back() {
        let v = view(&[(0, 3), (25, 3), (37, 4), (50, 4), (75, 2)]);
        let next = v.next_change(0).unwrap();
        assert_eq!((next.frame, next.from, next.to), (37, 3, 4));
        assert_eq!(v.next_change(37).unwrap().frame, 75);
        assert!(v.next_change(75).is_none());
        assert_eq!(v.previous_change(75).unwrap().frame, 37);
        assert_eq!(v.previous_change(76).unwrap().frame, 75);
        assert!(v.previous_change(37).is_none());
    }

    #[test]
    fn changes_agree_with_a_scan_of_every_sample() {
        // Long flat stretches and single-sample blips, every 5th frame sampled.
        let points: Vec<(u64, u32)> = (0..400u64)
            .map(|i| {
                (
                    i * 5,
                    [3, 3, 3, 4, 3, 3, 5, 5, 5, 5, 5, 2][(i * i % 97 % 12) as usize],
                )
            })
            .collect();
        let v = view(&points);
        let scan: Vec<u64> = points
            .windows(2)
            .filter(|w| w[0].1 != w[1].1)
            .map(|w| w[1].0)
            .collect();
        for frame in 0..2_010 {
            let next = scan.iter().copied().find(|&f| f > frame);
            let previous = scan.iter().copied().rev().find(|&f| f < frame);
            assert_eq!(v.next_change(frame).map(|c| c.frame), next, "next after {frame}");
            assert_eq!(
                v.previous_change(frame).map(|c| c.frame),
                previous,
                "before {frame}"
            );
        }
    }

    #[test]
    fn series_buckets_hold_min_max_and_time_weighted_mean() {
        // 3 pigs for 2 s, 5 for 2 s, then 1 at 4 s.
        let v = view(&[(0, 3), (50, 5), (100, 1)]);
        let s = v.series(0.0, 4.0, 2);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].min, s[0].max, s[0].mean), (3, 3, 3.0));
        assert_eq!((s[1].min, s[1].max), (5, 5));
        assert!((s[1].mean - 5.0).abs() < 1e-9);
        let whole = v.series(0.0, 10.0, 1);
        assert_eq!(whole.len(), 1);
        assert_eq!((whole[0].min, whole[0].max), (1, 5));
        // More points than cells: one per cell at most.
        assert_eq!(v.series(0.0, 1.0, 1000).len(), 4);
        assert!(v.series(3.0, 2.0, 10).is_empty());
        assert!(view(&[]).series(0.0, 1.0, 10).is_empty());
        // Samples per bucket: the stretches between samples have none.
        let s = v.series(0.0, 4.0, 8);
        let samples: Vec<u32> = s.iter().map(|b| b.samples).collect();
        assert_eq!(samples, [1, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(whole[0].samples, 3);
    }

    #[test]
    fn a_spike_shorter_than_a_bucket_shows_in_its_max() {
        let v = view(&[(0, 2), (500, 2), (501, 9), (502, 2), (1000, 2)]);
        let s = v.series(0.0, 40.0, 4);
        assert_eq!(s.len(), 4);
        assert_eq!(s[2].max, 9, "{s:?}");
        assert_eq!(s[0].max, 2);
    }

    /// The pyramid answers like a brute-force scan of level 0 at every zoom.
    #[test]
    fn series_agrees_with_brute_force() {
        let points: Vec<(u64, u32)> = (0..400u64)
            .map(|i| (i * 25 + (i % 3), ((i * 7) % 11) as u32))
            .collect();
        let v = view(&points);
        let level0 = &v.levels[0];
        for (from, to, n) in [
            (0.0, 399.0, 7),
            (13.3, 97.1, 50),
            (0.0, 399.0, 1000),
            (250.0, 260.0, 3),
        ] {
            for b in v.series(from, to, n) {
                let width = (to - from) / v.series(from, to, n).len() as f64;
                let first = (b.time / 0.25).floor() as usize;
                let last = (((b.time + width) / 0.25).ceil() as usize).min(level0.len());
                let brute = level0[first..last].iter().copied().fold(Cell::EMPTY, Cell::merge);
                assert_eq!(
                    (b.min, b.max, b.samples),
                    (brute.min, brute.max, brute.samples),
                    "{b:?}"
                );
                assert!((b.mean - brute.sum / f64::from(brute.n)).abs() < 1e-9, "{b:?}");
            }
        }
    }
}
