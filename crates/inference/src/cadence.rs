//! Which frames go through the model: every N-th, and sooner when the scene changes.
//!
//! Pigs move slowly, so between inferred frames the tracker carries the animals (see
//! [`crate::Tracker`]). What tracking cannot follow is a sudden change: a light
//! switched on, the camera bumped, a cut in the recording. To catch those cheaply, each frame
//! is shrunk to a 64×36 grey thumbnail and compared with the thumbnail of the last inferred
//! frame; a mean absolute difference above the threshold infers at once. Comparing with the
//! last *inferred* frame, not the previous one, means a slow drift is caught too once it adds
//! up.
//!
//! The thumbnail does not read every pixel: each cell averages a 4×4 grid of samples spread
//! evenly over it, about 37,000 pixels whatever the frame size, so deciding costs far less
//! than decoding the frame did. The averaging keeps pixel noise from looking like a change.

use serde::Deserialize;

const THUMBNAIL_WIDTH: usize = 64;
const THUMBNAIL_HEIGHT: usize = 36;
/// Samples per thumbnail cell along each axis.
const SAMPLES: usize = 4;
const CELLS: usize = THUMBNAIL_WIDTH * THUMBNAIL_HEIGHT;

type Thumbnail = [u8; CELLS];

/// When to infer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CadenceConfig {
    /// Infer when this many frames have passed since the last inferred frame (5); 0 and 1
    /// both mean every frame. The count starts again at every inferred frame, scene changes
    /// included, so no stretch goes longer than this without inference.
    pub every_n_frames: u64,
    /// Infer sooner when a frame differs from the last inferred one by more than this: the
    /// mean absolute difference of their 64×36 grey thumbnails, on a 0–255 scale (12). Sensor
    /// noise stays near 1–3; a light switched on moves it by tens. Above 255 never triggers.
    pub scene_change_threshold: f32,
}

impl Default for CadenceConfig {
    fn default() -> Self {
        Self {
            every_n_frames: 5,
            scene_change_threshold: 12.0,
        }
    }
}

/// Whether to infer a frame, and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// The first frame seen, or the first after a jump back (a seek) to before the last
    /// inferred frame, which starts the schedule over.
    First,
    /// `every_n_frames` have passed since the last inferred frame.
    EveryN,
    /// The frame differs from the last inferred one by `difference` (mean absolute
    /// difference of the thumbnails, 0–255), more than the threshold.
    SceneChange { difference: f32 },
    /// Estimate this frame from the inferred frames around it.
    Skip,
}

impl Decision {
    /// Whether the frame should go through the model.
    pub fn infer(&self) -> bool {
        !matches!(self, Self::Skip)
    }
}

/// Decides frame by frame which frames to infer. Holds two thumbnails, allocated once.
#[derive(Debug, Clone)]
pub struct Cadence {
    config: CadenceConfig,
    last_inferred: Option<u64>,
    /// Thumbnail of the last inferred frame; meaningful only when `has_reference`.
    reference: Box<Thumbnail>,
    has_reference: bool,
    /// Thumbnail of the frame being decided; swapped into `reference` when it is inferred.
    current: Box<Thumbnail>,
}

impl Cadence {
    /// A schedule that has seen no frame yet.
    pub fn new(config: CadenceConfig) -> Self {
        Self {
            config,
            last_inferred: None,
            reference: Box::new([0; CELLS]),
            has_reference: false,
            current: Box::new([0; CELLS]),
        }
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &CadenceConfig {
        &self.config
    }

    /// Forgets the past: the next frame is inferred as [`Decision::First`].
    pub fn reset(&mut self) {
        self.last_inferred = None;
        self.has_reference = false;
    }

    /// Decides about frame `frame_index`, `width * height` tightly packed RGB pixels, and
    /// when the answer is to infer, remembers it as the last inferred frame. A buffer too
    /// short for its size (or an empty frame) cannot be looked at: it is decided by the
    /// frame count alone and leaves the remembered thumbnail as it was.
    pub fn should_infer(&mut self, frame_index: u64, rgb: &[u8], width: u32, height: u32) -> Decision {
        let seen = thumbnail(rgb, width, height, &mut self.current);
        let decision = match self.last_inferred {
            None => Decision::First,
            Some(last) if frame_index < last => Decision::First,
            Some(last) if frame_index - last >= self.config.every_n_frames.max(1) => Decision::EveryN,
            Some(_) if seen && self.has_reference => {
                let difference = mean_difference(&self.reference, &self.current);
                if difference > self.config.scene_change_threshold {
                    Decision::SceneChange { difference }
                } else {
                    Decision::Skip
                }
            }
            Some(_) => Decision::Skip,
        };
        if decision.infer() {
            self.last_inferred = Some(frame_index);
            if seen {
                std::mem::swap(&mut self.reference, &mut self.current);
                self.has_reference = true;
            } else if decision == Decision::First {
                self.has_reference = false;
            }
        }
        decision
    }
}

impl Default for Cadence {
    fn default() -> Self {
        Self::new(CadenceConfig::default())
    }
}

/// Fills `out` with the grey thumbnail of the frame; false, leaving `out` as it was, when the
/// buffer does not hold `width * height` RGB pixels.
fn thumbnail(rgb: &[u8], width: u32, height: u32, out: &mut Thumbnail) -> bool {
    let (w, h) = (width as usize, height as usize);
    let needed = w.checked_mul(h).and_then(|n| n.checked_mul(3));
    if w == 0 || h == 0 || needed.is_none_or(|n| rgb.len() < n) {
        return false;
    }
    // Sample i of n along an axis of length `len` sits at the centre of the i-th of n equal
    // slices: (2i + 1) * len / 2n, always inside 0..len.
    let positions = |n: usize, len: usize, i: usize| (2 * i + 1) * len / (2 * n);
    let xs: [usize; THUMBNAIL_WIDTH * SAMPLES] =
        std::array::from_fn(|i| 3 * positions(THUMBNAIL_WIDTH * SAMPLES, w, i));
    let rows: [usize; THUMBNAIL_HEIGHT * SAMPLES] =
        std::array::from_fn(|i| 3 * w * positions(THUMBNAIL_HEIGHT * SAMPLES, h, i));
    for (cell, out) in out.iter_mut().enumerate() {
        let (cy, cx) = (cell / THUMBNAIL_WIDTH, cell % THUMBNAIL_WIDTH);
        let mut sum = 0u32;
        for row in &rows[cy * SAMPLES..(cy + 1) * SAMPLES] {
            for x in &xs[cx * SAMPLES..(cx + 1) * SAMPLES] {
                let p = row + x;
                // BT.601 luma in 8-bit fixed point; the weights sum to 256.
                let luma = 77 * u32::from(rgb[p]) + 150 * u32::from(rgb[p + 1]) + 29 * u32::from(rgb[p + 2]);
                sum += (luma + 128) >> 8;
            }
        }
        let samples = (SAMPLES * SAMPLES) as u32;
        // At most 255: the rounded mean of values of at most 255.
        *out = ((sum + samples / 2) / samples) as u8;
    }
    true
}

/// Mean absolute difference of two thumbnails, 0–255.
fn mean_difference(a: &Thumbnail, b: &Thumbnail) -> f32 {
    let total: u32 = a.iter().zip(b).map(|(&x, &y)| u32::from(x.abs_diff(y))).sum();
    total as f32 / CELLS as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u32 = 128;
    const H: u32 = 72;

    fn uniform(value: u8) -> Vec<u8> {
        vec![value; (W * H * 3) as usize]
    }

    /// `base` plus deterministic noise in -amplitude..=amplitude on every channel.
    fn noisy(base: u8, amplitude: i32, seed: u32) -> Vec<u8> {
        let mut state = seed;
        (0..W * H * 3)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (state >> 16) as i32 % (2 * amplitude + 1) - amplitude;
                (i32::from(base) + noise).clamp(0, 255) as u8
            })
            .collect()
    }

    #[test]
    fn thumbnail_of_a_split_frame() {
        // Left half black, right half white; the bottom row pure red.
        let mut rgb = Vec::new();
        for y in 0..H {
            for x in 0..W {
                let v = if x < W / 2 { 0 } else { 255 };
                rgb.extend(if y == H - 1 { [255, 0, 0] } else { [v, v, v] });
            }
        }
        let mut thumb = [7; CELLS];
        assert!(thumbnail(&rgb, W, H, &mut thumb));
        // Cell row 0, left and right halves.
        assert!(thumb[..32].iter().all(|&v| v == 0));
        assert!(thumb[32..64].iter().all(|&v| v == 255));
        // The last cell row samples rows 70, 70, 71, 71: half of them red (luma 77), so
        // (77 + 77 + 0 + 0) / 4 rounded on the left.
        assert_eq!(thumb[CELLS - 64], 39);
        assert_eq!(thumb[CELLS - 1], 166); // (77 + 77 + 255 + 255) / 4 rounded
    }

    #[test]
    fn short_buffers_and_empty_frames_are_not_looked_at() {
        let mut thumb = [7; CELLS];
        assert!(!thumbnail(&[0; 10], W, H, &mut thumb));
        assert!(!thumbnail(&[], 0, 0, &mut thumb));
        assert_eq!(thumb, [7; CELLS]);
        // A single pixel is enough.
        assert!(thumbnail(&[10, 10, 10], 1, 1, &mut thumb));
        assert_eq!(thumb, [10; CELLS]);
    }

    #[test]
    fn every_n_frames_triggers() {
        let mut schedule = Cadence::default();
        let frame = uniform(100);
        let decisions: Vec<Decision> = (0..11).map(|i| schedule.should_infer(i, &frame, W, H)).collect();
        use Decision::*;
        assert_eq!(
            decisions,
            vec![
                First, Skip, Skip, Skip, Skip, EveryN, Skip, Skip, Skip, Skip, EveryN
            ]
        );
    }

    #[test]
    fn a_scene_change_triggers_and_restarts_the_count() {
        let mut schedule = Cadence::default();
        assert_eq!(schedule.should_infer(0, &uniform(100), W, H), Decision::First);
        assert_eq!(schedule.should_infer(1, &uniform(100), W, H), Decision::Skip);
        assert_eq!(
            schedule.should_infer(2, &uniform(140), W, H),
            Decision::SceneChange { difference: 40.0 }
        );
        // Compared with frame 2 now, which it matches.
        assert_eq!(schedule.should_infer(3, &uniform(140), W, H), Decision::Skip);
        assert_eq!(schedule.should_infer(6, &uniform(140), W, H), Decision::Skip);
        assert_eq!(schedule.should_infer(7, &uniform(140), W, H), Decision::EveryN);
    }

    #[test]
    fn a_slow_drift_adds_up() {
        let mut schedule = Cadence::new(CadenceConfig {
            every_n_frames: 100,
            ..CadenceConfig::default()
        });
        let decisions: Vec<Decision> = (0..8)
            .map(|i| schedule.should_infer(i, &uniform(100 + 3 * i as u8), W, H))
            .collect();
        use Decision::*;
        // 3 grey levels a frame: frame 5 is 15 away from frame 0, frame 7 only 6 from frame 5.
        assert_eq!(
            decisions,
            vec![
                First,
                Skip,
                Skip,
                Skip,
                Skip,
                SceneChange { difference: 15.0 },
                Skip,
                Skip
            ]
        );
    }

    #[test]
    fn noise_does_not_trigger() {
        let mut schedule = Cadence::new(CadenceConfig {
            every_n_frames: 100,
            ..CadenceConfig::default()
        });
        assert_eq!(
            schedule.should_infer(0, &noisy(100, 10, 1), W, H),
            Decision::First
        );
        for i in 1..20 {
            assert_eq!(
                schedule.should_infer(i, &noisy(100, 10, i as u32 + 1), W, H),
                Decision::Skip
            );
        }
        let mut a = [0; CELLS];
        let mut b = [0; CELLS];
        assert!(thumbnail(&noisy(100, 10, 1), W, H, &mut a));
        assert!(thumbnail(&noisy(100, 10, 2), W, H, &mut b));
        // Each pixel differs by up to 10 per channel, but the cells average it away: 2.3 here,
        // far under the threshold of 12.
        assert!(mean_difference(&a, &b) < 3.0);
    }

    #[test]
    fn seeking_back_starts_over() {
        let mut schedule = Cadence::default();
        let frame = uniform(100);
        assert_eq!(schedule.should_infer(100, &frame, W, H), Decision::First);
        assert_eq!(schedule.should_infer(101, &frame, W, H), Decision::Skip);
        assert_eq!(schedule.should_infer(10, &frame, W, H), Decision::First);
        assert_eq!(schedule.should_infer(11, &frame, W, H), Decision::Skip);
        schedule.reset();
        assert_eq!(schedule.should_infer(12, &frame, W, H), Decision::First);
    }

    #[test]
    fn every_frame_when_n_is_0_or_1() {
        for every_n_frames in [0, 1] {
            let mut schedule = Cadence::new(CadenceConfig {
                every_n_frames,
                ..CadenceConfig::default()
            });
            let frame = uniform(100);
            assert_eq!(schedule.should_infer(0, &frame, W, H), Decision::First);
            assert_eq!(schedule.should_infer(1, &frame, W, H), Decision::EveryN);
            assert_eq!(schedule.should_infer(2, &frame, W, H), Decision::EveryN);
        }
    }

    #[test]
    fn unreadable_frames_follow_the_count_alone() {
        let mut schedule = Cadence::default();
        assert_eq!(schedule.should_infer(0, &uniform(100), W, H), Decision::First);
        // Too short to look at: no scene change can be seen, the reference stays frame 0's.
        assert_eq!(schedule.should_infer(1, &[0; 3], W, H), Decision::Skip);
        assert_eq!(schedule.should_infer(5, &[0; 3], W, H), Decision::EveryN);
        assert_eq!(
            schedule.should_infer(6, &uniform(0), W, H),
            Decision::SceneChange { difference: 100.0 }
        );
    }

    #[test]
    fn config_rejects_unknown_fields_and_fills_defaults() {
        use serde::de::value::{Error, MapDeserializer};

        let partial = MapDeserializer::<_, Error>::new([("every_n_frames", 10u64)].into_iter());
        assert_eq!(
            CadenceConfig::deserialize(partial).unwrap(),
            CadenceConfig {
                every_n_frames: 10,
                scene_change_threshold: 12.0,
            }
        );
        let unknown = MapDeserializer::<_, Error>::new([("every_n", 10u64)].into_iter());
        assert!(CadenceConfig::deserialize(unknown).is_err());
    }
}
