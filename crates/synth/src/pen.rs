//! A deterministic scene: a pen of pigs seen from above, rendered frame by frame with exact
//! ground truth.
//!
//! Per frame: copy the pre-rendered floor; for each pig, bottom to top, draw its shadow and then
//! composite its sprite; light the result. Ground truth is measured on the sprites, top to
//! bottom, with a per-frame "already covered" buffer: a silhouette pixel (sprite alpha ≥ 128) is
//! visible when it lies in the frame and no pig above has claimed it. Work is proportional to
//! the pigs' boxes, not to one full-frame mask per pig.

use std::fmt;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tiny_skia::Pixmap;

use crate::clutter::{Clutter, Walker, draw_props};
use crate::floor::render_floor;
use crate::herd::{Area, Herd};
use crate::lighting::Lighting;
use crate::look::Look;
use crate::noise::mix64;
use crate::pig::{CoatMix, Looks, Pose, ShadowStyle, Shape};
use crate::raster::blank_pixmap;
use crate::truth::{AnimalTruth, FrameTruth};

/// A sprite pixel belongs to the silhouette from this alpha on.
const SILHOUETTE_ALPHA: u8 = 128;

/// An RGBA image with 8 bits per channel, rows packed without padding.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbaFrame {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl RgbaFrame {
    /// Frame width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Frame height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixels, `width * height * 4` bytes, row by row.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Takes the pixel bytes.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// The RGBA value at (`x`, `y`); panics outside the frame, like slice indexing.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) outside the frame"
        );
        let i = (y as usize * self.width as usize + x as usize) * 4;
        [self.data[i], self.data[i + 1], self.data[i + 2], self.data[i + 3]]
    }
}

impl fmt::Debug for RgbaFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RgbaFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// What a scene is made from; both videos and dataset images are built from one of these.
#[derive(Debug, Clone)]
pub(crate) struct SceneSpec {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) fps_num: u32,
    pub(crate) fps_den: u32,
    pub(crate) frame_count: u64,
    pub(crate) pigs: [u32; 2],
    pub(crate) pig_length: [f32; 2],
    pub(crate) count_threshold: f32,
    pub(crate) clutter: Clutter,
    pub(crate) look: Look,
    pub(crate) seed: u64,
}

/// A pig's sprite as composited in one frame.
struct Placed {
    id: u32,
    sprite: Pixmap,
    x0: i32,
    y0: i32,
}

/// A deterministic pen of pigs. The same configuration renders the same pixels and truth for a
/// given frame index, whatever was rendered before.
pub struct Pen {
    spec: SceneSpec,
    floor: Pixmap,
    lighting: Lighting,
    shadow: Option<ShadowStyle>,
    /// Unit vector in the direction shadows fall.
    light_dir: (f32, f32),
    initial: Herd,
    herd: Herd,
    /// The frame index `herd` is at.
    sim_frame: u64,
    canvas: Pixmap,
    covered: Vec<bool>,
    /// People in the scene, drawn over the pigs.
    walkers: Vec<Walker>,
    /// The people of the frame being rendered (empty when the scene has none).
    people: Pixmap,
}

impl fmt::Debug for Pen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pen")
            .field("spec", &self.spec)
            .field("pigs", &self.herd.pigs().len())
            .field("sim_frame", &self.sim_frame)
            .finish_non_exhaustive()
    }
}

impl Pen {
    pub(crate) fn from_spec(spec: SceneSpec) -> Self {
        // Independent streams, so that e.g. changing how the floor is drawn does not change
        // how the pigs move.
        let stream = |k: u64| ChaCha8Rng::seed_from_u64(mix64(spec.seed ^ mix64(k)));
        let mut style = stream(1);
        let short_side = spec.width.min(spec.height) as f32;
        let [lo, hi] = spec.pig_length;
        let typical = short_side * style.random_range(lo..=hi);
        let count = style.random_range(spec.pigs[0]..=spec.pigs[1]);
        // Drawn whatever the look fixes, so the style's later draws stay the seed's.
        let drawn = CoatMix::random(&mut style);
        let coats = if spec.look.coats.is_empty() {
            drawn
        } else {
            CoatMix::only(&spec.look.coats)
        };
        let angle: f32 = style.random_range(0.0..std::f32::consts::TAU);
        let light_dir = (angle.cos(), angle.sin());
        let reach = typical * style.random_range(0.02..0.06);
        let shadow = Some(ShadowStyle {
            dx: light_dir.0 * reach,
            dy: light_dir.1 * reach,
            alpha: style.random_range(0.2..0.45),
        });

        let mut looks_rng = stream(2);
        let looks: Vec<Looks> = (0..count)
            .map(|_| {
                let length = typical * looks_rng.random_range(0.9..1.1);
                Looks::random(length, &coats, &mut looks_rng)
            })
            .collect();
        let area = Area {
            frame_w: spec.width as f32,
            frame_h: spec.height as f32,
            margin: typical * 1.1,
        };
        let dt = spec.fps_den as f32 / spec.fps_num as f32;
        let herd = Herd::new(looks, area, dt, spec.look.pace, stream(3));
        let mut floor = render_floor(spec.width, spec.height, typical, spec.look.floor, &mut stream(4));
        let mut lighting = Lighting::new(spec.width, spec.height, &mut stream(5));
        if let Some([lo, hi]) = spec.look.exposure {
            lighting.set_exposure(stream(7).random_range(lo..=hi));
        }
        let mut clutter_rng = stream(6);
        draw_props(
            &mut floor,
            typical,
            spec.clutter.props,
            &spec.look.props,
            &mut clutter_rng,
        );
        let [p0, p1] = spec.clutter.people;
        let people_count = clutter_rng.random_range(p0..=p1);
        let walkers = Walker::crowd(
            people_count,
            spec.width,
            spec.height,
            typical,
            &spec.look.clothes,
            &mut clutter_rng,
        );
        let people = if walkers.is_empty() {
            blank_pixmap(1, 1)
        } else {
            blank_pixmap(spec.width, spec.height)
        };
        Self {
            walkers,
            people,
            canvas: blank_pixmap(spec.width, spec.height),
            covered: vec![false; spec.width as usize * spec.height as usize],
            spec,
            floor,
            lighting,
            shadow,
            light_dir,
            initial: herd.clone(),
            herd,
            sim_frame: 0,
        }
    }

    /// Frame width in pixels.
    pub fn width(&self) -> u32 {
        self.spec.width
    }

    /// Frame height in pixels.
    pub fn height(&self) -> u32 {
        self.spec.height
    }

    /// Number of frames the configured duration holds.
    pub fn frame_count(&self) -> u64 {
        self.spec.frame_count
    }

    /// Number of pigs in the pen (in view or not).
    pub fn pig_count(&self) -> usize {
        self.herd.pigs().len()
    }

    /// Presentation time of frame `index` in seconds.
    pub fn frame_time(&self, index: u64) -> f64 {
        index as f64 * f64::from(self.spec.fps_den) / f64::from(self.spec.fps_num)
    }

    /// Renders frame `index` and measures its ground truth.
    ///
    /// Rendering frames in increasing order is cheapest; going back replays the scene from the
    /// start. Indices past the configured frame count simply continue the scene.
    pub fn render(&mut self, index: u64) -> (RgbaFrame, FrameTruth) {
        self.render_blurred(index, &[0.0])
    }

    /// The five moments, in seconds around a frame's own, that a shutter open for `open`
    /// seconds renders it at (for [`Self::render_blurred`]).
    pub(crate) fn shutter_moments(open: f32) -> Vec<f32> {
        (0..5).map(|k| (k as f32 / 4.0 - 0.5) * open).collect()
    }

    /// Renders frame `index` as the average of the scene at each of `offsets` seconds around
    /// it (motion blur). Ground truth is measured at offset 0.
    pub(crate) fn render_blurred(&mut self, index: u64, offsets: &[f32]) -> (RgbaFrame, FrameTruth) {
        self.seek(index);
        let time = self.frame_time(index) as f32;
        let placed = if offsets.len() <= 1 {
            let offset = offsets.first().copied().unwrap_or(0.0);
            self.compose(&self.herd.poses(offset), time + offset)
        } else {
            let mut sum = vec![0u32; self.canvas.data().len()];
            for &offset in offsets {
                self.compose(&self.herd.poses(offset), time + offset);
                for (s, &v) in sum.iter_mut().zip(self.canvas.data()) {
                    *s += u32::from(v);
                }
            }
            let n = offsets.len() as u32;
            for (d, s) in self.canvas.data_mut().iter_mut().zip(&sum) {
                *d = ((s + n / 2) / n) as u8;
            }
            self.draw_people(time);
            self.sprites(&self.herd.poses(0.0))
        };
        let truth = self.measure(index, &placed);
        let mut data = vec![0u8; self.canvas.data().len()];
        self.lighting
            .apply(self.canvas.data(), &mut data, self.frame_time(index), index);
        let frame = RgbaFrame {
            width: self.spec.width,
            height: self.spec.height,
            data,
        };
        (frame, truth)
    }

    /// The lit floor alone at frame `index`, exactly as it appears under the pigs.
    #[cfg(test)]
    pub(crate) fn bare_floor(&self, index: u64) -> RgbaFrame {
        let mut data = vec![0u8; self.floor.data().len()];
        self.lighting
            .apply(self.floor.data(), &mut data, self.frame_time(index), index);
        RgbaFrame {
            width: self.spec.width,
            height: self.spec.height,
            data,
        }
    }

    /// Moves the simulation to frame `index`.
    pub(crate) fn seek(&mut self, index: u64) {
        if index < self.sim_frame {
            self.herd = self.initial.clone();
            self.sim_frame = 0;
        }
        while self.sim_frame < index {
            self.herd.step();
            self.sim_frame += 1;
        }
    }

    /// Draws the people at `time` seconds into their layer.
    fn draw_people(&mut self, time: f32) {
        if self.walkers.is_empty() {
            return;
        }
        self.people.data_mut().fill(0);
        for walker in &self.walkers {
            walker.draw(&mut self.people, time);
        }
    }

    /// Draws floor, shadows, pigs and, over them, people at `time` seconds into the canvas
    /// (unlit); returns the composited pig sprites, bottom first.
    fn compose(&mut self, poses: &[Pose], time: f32) -> Vec<Placed> {
        self.canvas.data_mut().copy_from_slice(self.floor.data());
        let (w, h) = (self.spec.width as f32, self.spec.height as f32);
        let mut placed = Vec::new();
        for (pig, pose) in self.herd.pigs().iter().zip(poses) {
            let Some(shape) = Shape::new(&pig.looks, pose) else {
                continue;
            };
            let b = shape.bounds;
            let slack = pig.looks.width * 0.2;
            if b.right() < -slack || b.bottom() < -slack || b.left() > w + slack || b.top() > h + slack {
                continue;
            }
            if let Some(shadow) = &self.shadow {
                shape.draw_shadow(&mut self.canvas, shadow);
            }
            let (sprite, x0, y0) = shape.sprite(&pig.looks, self.light_dir);
            composite(&mut self.canvas, &sprite, x0, y0);
            placed.push(Placed {
                id: pig.id,
                sprite,
                x0,
                y0,
            });
        }
        if !self.walkers.is_empty() {
            self.draw_people(time);
            composite(&mut self.canvas, &self.people, 0, 0);
        }
        placed
    }

    /// Sprites at `poses` without drawing anything.
    fn sprites(&self, poses: &[Pose]) -> Vec<Placed> {
        self.herd
            .pigs()
            .iter()
            .zip(poses)
            .filter_map(|(pig, pose)| {
                let shape = Shape::new(&pig.looks, pose)?;
                let (sprite, x0, y0) = shape.sprite(&pig.looks, self.light_dir);
                Some(Placed {
                    id: pig.id,
                    sprite,
                    x0,
                    y0,
                })
            })
            .collect()
    }

    /// Ground truth of composited sprites (bottom first).
    fn measure(&mut self, index: u64, placed: &[Placed]) -> FrameTruth {
        self.covered.fill(false);
        if !self.walkers.is_empty() {
            // People stand above every pig: what they cover is hidden.
            for (cell, px) in self.covered.iter_mut().zip(self.people.data().chunks_exact(4)) {
                *cell = px[3] >= SILHOUETTE_ALPHA;
            }
        }
        let (fw, fh) = (self.spec.width as i32, self.spec.height as i32);
        let mut animals = Vec::new();
        for p in placed.iter().rev() {
            let sw = p.sprite.width() as usize;
            let (mut total, mut visible) = (0u64, 0u64);
            let mut full = BoxAcc::default();
            let mut vis = BoxAcc::default();
            for (sy, row) in p.sprite.data().chunks_exact(sw * 4).enumerate() {
                let y = p.y0 + sy as i32;
                let row_in = (0..fh).contains(&y);
                for (sx, px) in row.chunks_exact(4).enumerate() {
                    if px[3] < SILHOUETTE_ALPHA {
                        continue;
                    }
                    let x = p.x0 + sx as i32;
                    total += 1;
                    full.add(x, y);
                    if row_in && (0..fw).contains(&x) {
                        let cell = &mut self.covered[(y * fw + x) as usize];
                        if !*cell {
                            *cell = true;
                            visible += 1;
                            vis.add(x, y);
                        }
                    }
                }
            }
            if visible == 0 {
                continue;
            }
            // Rounded for compact JSON, but never down to 0 for a pig that shows at all.
            let fraction = ((visible as f64 / total as f64 * 1e4).round() / 1e4).max(1e-4) as f32;
            animals.push(AnimalTruth {
                id: p.id,
                bbox: vis.to_box(),
                full_box: full.to_box(),
                visible_fraction: fraction,
            });
        }
        animals.sort_by_key(|a| a.id);
        let count = animals
            .iter()
            .filter(|a| a.visible_fraction >= self.spec.count_threshold)
            .count() as u32;
        FrameTruth {
            index,
            time: self.frame_time(index),
            count,
            animals,
        }
    }

    #[cfg(test)]
    fn without_shadows(mut self) -> Self {
        self.shadow = None;
        self
    }
}

/// Source-over of a premultiplied sprite onto the canvas with its top-left pixel at
/// (`x0`, `y0`), clipped to the canvas. A plain loop, as the sprite is never scaled or rotated.
fn composite(canvas: &mut Pixmap, sprite: &Pixmap, x0: i32, y0: i32) {
    let (cw, ch) = (canvas.width() as i32, canvas.height() as i32);
    let (sw, sh) = (sprite.width() as i32, sprite.height() as i32);
    let (xa, xb) = (x0.max(0), (x0 + sw).min(cw));
    let (ya, yb) = (y0.max(0), (y0 + sh).min(ch));
    if xa >= xb || ya >= yb {
        return;
    }
    let run = ((xb - xa) * 4) as usize;
    let src = sprite.data();
    let dst = canvas.data_mut();
    for y in ya..yb {
        let s_at = (((y - y0) * sw + (xa - x0)) * 4) as usize;
        let d_at = ((y * cw + xa) * 4) as usize;
        let rows = src[s_at..s_at + run]
            .chunks_exact(4)
            .zip(dst[d_at..d_at + run].chunks_exact_mut(4));
        for (s, d) in rows {
            match s[3] {
                0 => {}
                255 => d.copy_from_slice(s),
                a => {
                    let inv = 255 - u32::from(a);
                    for c in 0..4 {
                        // Premultiplied, so s[c] <= a and the sum stays within 255.
                        d[c] = s[c] + div255(u32::from(d[c]) * inv) as u8;
                    }
                }
            }
        }
    }
}

/// `x / 255`, rounded, for `x <= 255 * 255`.
fn div255(x: u32) -> u32 {
    (x + 128 + ((x + 128) >> 8)) >> 8
}

/// Running pixel bounds.
#[derive(Debug)]
struct BoxAcc {
    x0: i32,
    y0: i32,
    x1: i32,
    y1: i32,
}

impl Default for BoxAcc {
    fn default() -> Self {
        Self {
            x0: i32::MAX,
            y0: i32::MAX,
            x1: i32::MIN,
            y1: i32::MIN,
        }
    }
}

impl BoxAcc {
    fn add(&mut self, x: i32, y: i32) {
        self.x0 = self.x0.min(x);
        self.y0 = self.y0.min(y);
        self.x1 = self.x1.max(x);
        self.y1 = self.y1.max(y);
    }

    /// Pixel-edge box: the far edges are one past the last pixel.
    fn to_box(&self) -> [f32; 4] {
        [
            self.x0 as f32,
            self.y0 as f32,
            (self.x1 + 1) as f32,
            (self.y1 + 1) as f32,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> SceneSpec {
        SceneSpec {
            width: 320,
            height: 180,
            fps_num: 25,
            fps_den: 1,
            frame_count: 1500,
            pigs: [6, 12],
            pig_length: [0.22, 0.32],
            count_threshold: 0.5,
            clutter: Clutter::default(),
            look: Look::default(),
            seed,
        }
    }

    #[test]
    fn same_seed_renders_identical_frames_and_truth() {
        let mut a = Pen::from_spec(spec(11));
        let mut b = Pen::from_spec(spec(11));
        for i in [0, 7, 30] {
            assert_eq!(a.render(i), b.render(i), "frame {i}");
        }
        // Going back replays the scene exactly.
        let again = a.render(7);
        assert_eq!(again, b.render(7));
    }

    #[test]
    fn different_seeds_render_different_scenes() {
        let (fa, ta) = Pen::from_spec(spec(1)).render(0);
        let (fb, tb) = Pen::from_spec(spec(2)).render(0);
        assert_ne!(fa, fb);
        assert_ne!(ta, tb);
    }

    #[test]
    fn count_matches_visible_fractions_and_boxes_are_consistent() {
        let mut pen = Pen::from_spec(spec(3));
        for i in (0..200).step_by(20) {
            let (_, truth) = pen.render(i);
            let expected = truth.animals.iter().filter(|a| a.visible_fraction >= 0.5).count();
            assert_eq!(truth.count as usize, expected);
            assert!(truth.count as usize <= pen.pig_count());
            for a in &truth.animals {
                assert!(a.visible_fraction > 0.0 && a.visible_fraction <= 1.0);
                let [x1, y1, x2, y2] = a.bbox;
                assert!(0.0 <= x1 && x1 < x2 && x2 <= 320.0 && 0.0 <= y1 && y1 < y2 && y2 <= 180.0);
                let [fx1, fy1, fx2, fy2] = a.full_box;
                assert!(fx1 <= x1 && fy1 <= y1 && fx2 >= x2 && fy2 >= y2, "{a:?}");
            }
            let ids: Vec<u32> = truth.animals.iter().map(|a| a.id).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted, unique ids");
        }
    }

    /// Every pixel that differs from the bare floor lies in some pig's visible box, give or take
    /// one pixel of anti-aliasing (at the frame border that fringe may belong to a pig that is
    /// just outside), and every box edge touches pixels that differ.
    #[test]
    fn boxes_match_the_drawn_pixels() {
        for (seed, index) in [(21, 0), (21, 40), (22, 300), (23, 10)] {
            let mut pen = Pen::from_spec(spec(seed)).without_shadows();
            let (frame, truth) = pen.render(index);
            let floor = pen.bare_floor(index);
            let differs = |x: u32, y: u32| {
                let (a, b) = (frame.pixel(x, y), floor.pixel(x, y));
                (0..3).map(|c| a[c].abs_diff(b[c]) as u32).sum::<u32>() > 12
            };
            assert!(!truth.animals.is_empty());
            for y in 0..180 {
                for x in 0..320 {
                    if !differs(x, y) {
                        continue;
                    }
                    if x == 0 || y == 0 || x == 319 || y == 179 {
                        continue;
                    }
                    let (fx, fy) = (x as f32, y as f32);
                    let inside = truth.animals.iter().any(|a| {
                        let [x1, y1, x2, y2] = a.bbox;
                        fx >= x1 - 1.0 && fx < x2 + 1.0 && fy >= y1 - 1.0 && fy < y2 + 1.0
                    });
                    assert!(inside, "frame {index}: pixel ({x}, {y}) differs but is in no box");
                }
            }
            for a in &truth.animals {
                let [x1, y1, x2, y2] = a.bbox.map(|v| v as u32);
                let column = |x: u32| (y1..y2).any(|y| differs(x, y));
                let row = |y: u32| (x1..x2).any(|x| differs(x, y));
                assert!(column(x1) && column(x2 - 1), "{a:?}");
                assert!(row(y1) && row(y2 - 1), "{a:?}");
            }
        }
    }

    #[test]
    fn lone_pig_inside_the_frame_is_fully_visible() {
        let mut pen = Pen::from_spec(SceneSpec {
            pigs: [1, 1],
            ..spec(5)
        });
        let mut seen_whole = 0;
        for i in (0..1500).step_by(25) {
            let (_, truth) = pen.render(i);
            for a in &truth.animals {
                let [x1, y1, x2, y2] = a.full_box;
                if x1 >= 0.0 && y1 >= 0.0 && x2 <= 320.0 && y2 <= 180.0 {
                    assert_eq!(a.visible_fraction, 1.0, "frame {i}: {a:?}");
                    assert_eq!(a.bbox, a.full_box);
                    seen_whole += 1;
                } else {
                    assert!(a.visible_fraction < 1.0, "frame {i}: {a:?}");
                }
            }
        }
        assert!(seen_whole > 5, "the pig should spend time fully in view");
    }

    #[test]
    fn count_changes_over_a_minute_and_stays_in_bounds() {
        let mut pen = Pen::from_spec(spec(8));
        let pigs = pen.pig_count() as u32;
        let counts: Vec<u32> = (0..1500).map(|i| pen.render(i).1.count).collect();
        let changes = counts.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(changes >= 3, "count changed only {changes} times: {counts:?}");
        assert!(counts.iter().all(|&c| c <= pigs));
        let (lo, hi) = (counts.iter().min(), counts.iter().max());
        assert!(lo < hi);
    }

    /// A fixed floor and exposure change what they name and nothing else: the same seed keeps
    /// its pigs, their moves and so every frame's truth, and a dim exposure darkens the frame.
    /// Fixed coats dress every pig in one of them.
    #[test]
    fn a_fixed_look_changes_only_what_it_names() {
        let mean = |frame: &RgbaFrame| {
            frame
                .data
                .chunks(4)
                .map(|p| u64::from(p[0]) + u64::from(p[1]) + u64::from(p[2]))
                .sum::<u64>()
                / (3 * frame.data.len() as u64 / 4)
        };
        for seed in [31, 32, 33] {
            let dim = Look {
                floor: Some(crate::look::Floor::Straw),
                exposure: Some([0.35, 0.4]),
                ..Look::default()
            };
            let mut seeds = Pen::from_spec(spec(seed));
            let mut fixed = Pen::from_spec(SceneSpec {
                look: dim,
                ..spec(seed)
            });
            let dark = Look {
                coats: vec![crate::look::Coat::Dark, crate::look::Coat::Belted],
                ..Look::default()
            };
            let coats = |look: Look| {
                let pen = Pen::from_spec(SceneSpec { look, ..spec(seed) });
                pen.herd.pigs().iter().map(|p| p.looks.coat).collect::<Vec<_>>()
            };
            let dressed = coats(dark);
            assert!(
                dressed
                    .iter()
                    .all(|c| matches!(c, crate::look::Coat::Dark | crate::look::Coat::Belted)),
                "seed {seed}: {dressed:?}"
            );
            assert!(
                coats(Look::default()).iter().any(|c| !dressed.contains(c)),
                "seed {seed}"
            );
            for i in (0..1500).step_by(150) {
                let (a, ta) = seeds.render(i);
                let (b, tb) = fixed.render(i);
                assert_eq!(ta, tb, "seed {seed}, frame {i}");
                assert!(
                    mean(&b) * 2 < mean(&a),
                    "seed {seed}, frame {i}: {} against {}",
                    mean(&b),
                    mean(&a)
                );
            }
        }
    }

    /// Seed 31's pen with `clutter`, as drawn and with `look`, over 1500 frames every `step`:
    /// the truth is the same on every frame; gives how many frames differ.
    fn frames_differing_with_the_same_truth(clutter: Clutter, look: Look, step: usize) -> usize {
        let pen = |look: Look| {
            Pen::from_spec(SceneSpec {
                clutter,
                look,
                ..spec(31)
            })
        };
        let (mut drawn, mut fixed) = (pen(Look::default()), pen(look));
        let mut differ = 0;
        for i in (0..1500).step_by(step) {
            let (fa, ta) = drawn.render(i);
            let (fb, tb) = fixed.render(i);
            assert_eq!(ta, tb, "frame {i}");
            differ += usize::from(fa != fb);
        }
        differ
    }

    /// Fixed clothes change how the people look, not where they are: the truth, in which their
    /// shapes hide pigs, stays the seed's.
    #[test]
    fn fixed_clothes_keep_the_truth() {
        let differ = frames_differing_with_the_same_truth(
            Clutter {
                props: [0, 0],
                people: [3, 3],
            },
            Look {
                clothes: vec![crate::look::Clothes::Pink],
                ..Look::default()
            },
            30,
        );
        assert!(differ > 5, "pink clothes changed {differ} frames");
    }

    /// Fixed props change the floor, not the pigs or the people: the truth, in which the
    /// people's shapes hide pigs, stays the seed's, and every frame differs.
    #[test]
    fn fixed_props_keep_the_truth() {
        let differ = frames_differing_with_the_same_truth(
            Clutter {
                props: [6, 6],
                people: [2, 2],
            },
            Look {
                props: vec![crate::look::Prop::Feeder],
                ..Look::default()
            },
            60,
        );
        assert_eq!(differ, 25, "troughs changed {differ} of 25 frames");
    }

    /// People stand over the pigs and hide what they cover; props lie under them and hide
    /// nothing. The herd is the same with and without them (separate random streams).
    #[test]
    fn people_hide_pigs_and_props_do_not() {
        let plain = spec(31);
        let props = SceneSpec {
            clutter: Clutter {
                props: [8, 8],
                people: [0, 0],
            },
            ..spec(31)
        };
        let crowd = SceneSpec {
            clutter: Clutter {
                props: [0, 0],
                people: [3, 3],
            },
            ..spec(31)
        };
        let (mut a, mut b, mut c) = (
            Pen::from_spec(plain),
            Pen::from_spec(props),
            Pen::from_spec(crowd),
        );
        let mut hidden = 0;
        for i in (0..1500).step_by(15) {
            let (fa, ta) = a.render(i);
            let (fb, tb) = b.render(i);
            let (_, tc) = c.render(i);
            assert_eq!(ta, tb, "frame {i}: props changed the truth");
            assert_ne!(fa, fb, "frame {i}: props drew nothing");
            for pig in &ta.animals {
                let seen = tc
                    .animals
                    .iter()
                    .find(|x| x.id == pig.id)
                    .map_or(0.0, |x| x.visible_fraction);
                assert!(
                    seen <= pig.visible_fraction,
                    "frame {i}: {pig:?} became more visible"
                );
                if seen < pig.visible_fraction - 0.05 {
                    hidden += 1;
                }
            }
            assert!(tc.count <= ta.count, "frame {i}");
        }
        assert!(hidden >= 5, "people hid {hidden} pigs");
    }

    #[test]
    fn div255_rounds_like_division() {
        for x in 0..=255 * 255 {
            assert_eq!(div255(x), (x as f64 / 255.0).round() as u32, "{x}");
        }
    }

    #[test]
    fn composite_blends_and_clips() {
        let mut canvas = blank_pixmap(4, 3);
        canvas.fill(tiny_skia::Color::from_rgba8(100, 100, 100, 255));
        let mut sprite = blank_pixmap(3, 3);
        sprite.data_mut()[..4].copy_from_slice(&[200, 0, 0, 255]);
        // Half-transparent white, premultiplied.
        sprite.data_mut()[4..8].copy_from_slice(&[128, 128, 128, 128]);
        composite(&mut canvas, &sprite, 2, 1);
        let px = |x: usize, y: usize| &canvas.data()[(y * 4 + x) * 4..][..4];
        assert_eq!(px(2, 1), [200, 0, 0, 255]);
        assert_eq!(px(3, 1), [178, 178, 178, 255]);
        assert_eq!(px(2, 2), [100, 100, 100, 255]);
        assert_eq!(px(1, 1), [100, 100, 100, 255]);
    }

    #[test]
    fn motion_blur_keeps_truth_and_changes_pixels() {
        let mut pen = Pen::from_spec(spec(13));
        let (sharp, truth) = pen.render(50);
        let (blurred, blurred_truth) = pen.render_blurred(50, &[-0.04, 0.0, 0.04]);
        assert_eq!(truth, blurred_truth);
        assert_ne!(sharp, blurred);
    }
}
