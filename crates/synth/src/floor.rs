//! The pen floor, drawn once per scene and copied under every frame.
//!
//! Feature sizes are tied to the pig length in pixels rather than to the image size, so a floor
//! looks the same whether the camera is high (small pigs) or low (big pigs).

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use tiny_skia::{Color, LineCap, Paint, PathBuilder, Pixmap, Stroke, Transform};

use crate::look::Floor;
use crate::noise::{fbm, hash3, smoothstep, unit};
use crate::raster::blank_pixmap;

/// Parameters of the per-pixel base layer.
struct BaseLayer {
    color: [f32; 3],
    stain_color: [f32; 3],
    large_amp: f32,
    mid_amp: f32,
    grain_amp: f32,
    stain_level: f32,
    stain_strength: f32,
    slats: Option<Slats>,
}

/// Drainage slats: dark gaps every `pitch` pixels along direction `(cos, sin)`, on the side of a
/// line where `region` is positive.
struct Slats {
    cos: f32,
    sin: f32,
    pitch: f32,
    gap: f32,
    /// Brightness inside a gap.
    darkness: f32,
    region: [f32; 3],
}

/// Draws an opaque floor of `width`×`height` for pigs about `pig_len` pixels long: of the kind
/// `fixed`, else of one the seed draws.
pub(crate) fn render_floor(
    width: u32,
    height: u32,
    pig_len: f32,
    fixed: Option<Floor>,
    rng: &mut ChaCha8Rng,
) -> Pixmap {
    let drawn = match rng.random_range(0..100) {
        0..30 => Floor::Concrete,
        30..55 => Floor::Slatted,
        55..80 => Floor::Straw,
        _ => Floor::Dirt,
    };
    let kind = fixed.unwrap_or(drawn);
    let base = base_layer(kind, width, height, pig_len, rng);
    let mut pixmap = blank_pixmap(width, height);
    fill_base(&mut pixmap, &base, pig_len, rng.random());
    match kind {
        Floor::Straw => scatter_straw(&mut pixmap, pig_len, 1.0, rng),
        Floor::Dirt => scatter_straw(&mut pixmap, pig_len, 0.12, rng),
        Floor::Concrete | Floor::Slatted => {
            if rng.random_bool(0.3) {
                scatter_straw(&mut pixmap, pig_len, 0.05, rng);
            }
        }
    }
    scatter_debris(&mut pixmap, pig_len, rng);
    pixmap
}

fn base_layer(kind: Floor, width: u32, height: u32, pig_len: f32, rng: &mut ChaCha8Rng) -> BaseLayer {
    let shade = |rng: &mut ChaCha8Rng, c: [f32; 3], spread: f32| {
        let k = rng.random_range(1.0 - spread..1.0 + spread);
        let tint = [
            rng.random_range(-0.03..0.03),
            rng.random_range(-0.03..0.03),
            rng.random_range(-0.03..0.03),
        ];
        [c[0] * k + tint[0], c[1] * k + tint[1], c[2] * k + tint[2]]
    };
    match kind {
        Floor::Concrete | Floor::Slatted => {
            let slats = (kind == Floor::Slatted).then(|| {
                let angle = if rng.random_bool(0.5) {
                    0.0
                } else {
                    std::f32::consts::FRAC_PI_2
                } + rng.random_range(-0.05..0.05f32);
                // Either the whole frame or the part beyond a straight edge.
                let region = if rng.random_bool(0.4) {
                    [0.0, 0.0, 1.0]
                } else {
                    let a: f32 = rng.random_range(0.0..std::f32::consts::TAU);
                    let (cx, cy) = (
                        rng.random_range(0.2..0.8) * width as f32,
                        rng.random_range(0.2..0.8) * height as f32,
                    );
                    [a.cos(), a.sin(), -(a.cos() * cx + a.sin() * cy)]
                };
                let pitch = pig_len * rng.random_range(0.09..0.15);
                Slats {
                    cos: angle.cos(),
                    sin: angle.sin(),
                    pitch,
                    gap: pitch * rng.random_range(0.12..0.22),
                    darkness: rng.random_range(0.3..0.55),
                    region,
                }
            });
            BaseLayer {
                color: shade(rng, [0.60, 0.59, 0.56], 0.18),
                stain_color: shade(rng, [0.42, 0.36, 0.26], 0.2),
                large_amp: rng.random_range(0.05..0.14),
                mid_amp: rng.random_range(0.03..0.08),
                grain_amp: rng.random_range(0.04..0.10),
                stain_level: rng.random_range(0.52..0.66),
                stain_strength: rng.random_range(0.2..0.55),
                slats,
            }
        }
        Floor::Straw => BaseLayer {
            color: shade(rng, [0.55, 0.45, 0.30], 0.15),
            stain_color: shade(rng, [0.35, 0.27, 0.18], 0.15),
            large_amp: rng.random_range(0.08..0.16),
            mid_amp: rng.random_range(0.06..0.12),
            grain_amp: rng.random_range(0.08..0.14),
            stain_level: rng.random_range(0.55..0.7),
            stain_strength: rng.random_range(0.2..0.5),
            slats: None,
        },
        Floor::Dirt => BaseLayer {
            color: shade(rng, [0.47, 0.38, 0.29], 0.18),
            stain_color: shade(rng, [0.26, 0.21, 0.16], 0.15),
            large_amp: rng.random_range(0.10..0.20),
            mid_amp: rng.random_range(0.06..0.12),
            grain_amp: rng.random_range(0.06..0.12),
            stain_level: rng.random_range(0.48..0.62),
            stain_strength: rng.random_range(0.3..0.65),
            slats: None,
        },
    }
}

fn fill_base(pixmap: &mut Pixmap, base: &BaseLayer, pig_len: f32, seed: u32) {
    let width = pixmap.width() as usize;
    let (large, mid, stain_scale) = (pig_len * 1.6, pig_len * 0.25, pig_len * 0.9);
    // The noise fields are smooth over several pixels, so they are evaluated on a coarse grid
    // and interpolated; only the grain is per pixel.
    let tone = Grid::new(pixmap.width(), pixmap.height(), |x, y| {
        1.0 + base.large_amp * 2.0 * (fbm(x / large, y / large, 3, seed) - 0.5)
            + base.mid_amp * 2.0 * (fbm(x / mid, y / mid, 2, seed ^ 0x55) - 0.5)
    });
    let stain = Grid::new(pixmap.width(), pixmap.height(), |x, y| {
        let n = fbm(x / stain_scale, y / stain_scale, 4, seed ^ 0x3c3c);
        base.stain_strength * smoothstep(base.stain_level, base.stain_level + 0.18, n)
    });
    for (y, row) in pixmap.data_mut().chunks_exact_mut(width * 4).enumerate() {
        let fy = y as f32;
        for (x, px) in row.chunks_exact_mut(4).enumerate() {
            let fx = x as f32;
            let grain = base.grain_amp * (unit(hash3(x as i32, y as i32, seed ^ 0xa5a5)) - 0.5);
            let tone = tone.at(x, y) + grain;
            let stain = stain.at(x, y);
            let mut color = [0.0f32; 3];
            for (c, out) in color.iter_mut().enumerate() {
                *out = (base.color[c] * (1.0 - stain) + base.stain_color[c] * stain) * tone;
            }
            if let Some(slats) = &base.slats {
                let shade = slat_shade(slats, fx + 0.5, fy + 0.5);
                color.iter_mut().for_each(|c| *c *= shade);
            }
            px[0] = to_u8(color[0]);
            px[1] = to_u8(color[1]);
            px[2] = to_u8(color[2]);
            px[3] = 255;
        }
    }
}

/// A smooth field sampled every [`Grid::STEP`] pixels and bilinearly interpolated.
struct Grid {
    cols: usize,
    values: Vec<f32>,
}

impl Grid {
    const STEP: usize = 4;

    fn new(width: u32, height: u32, f: impl Fn(f32, f32) -> f32) -> Self {
        let cols = width as usize / Self::STEP + 2;
        let rows = height as usize / Self::STEP + 2;
        let mut values = Vec::with_capacity(cols * rows);
        for r in 0..rows {
            for c in 0..cols {
                values.push(f((c * Self::STEP) as f32, (r * Self::STEP) as f32));
            }
        }
        Self { cols, values }
    }

    fn at(&self, x: usize, y: usize) -> f32 {
        let (c, r) = (x / Self::STEP, y / Self::STEP);
        let step = Self::STEP as f32;
        let (tx, ty) = ((x % Self::STEP) as f32 / step, (y % Self::STEP) as f32 / step);
        let i = r * self.cols + c;
        let top = self.values[i] + (self.values[i + 1] - self.values[i]) * tx;
        let below = i + self.cols;
        let bottom = self.values[below] + (self.values[below + 1] - self.values[below]) * tx;
        top + (bottom - top) * ty
    }
}

/// Brightness factor of a slatted floor at a pixel centre: dark inside gaps, anti-aliased over
/// one pixel, with a faint highlight on the slat edges.
fn slat_shade(slats: &Slats, x: f32, y: f32) -> f32 {
    let [a, b, c] = slats.region;
    if a * x + b * y + c < 0.0 {
        return 1.0;
    }
    let u = (x * slats.cos + y * slats.sin).rem_euclid(slats.pitch);
    // Distance from the pixel centre to the nearest gap edge; negative inside the gap.
    let dist = if u < slats.gap {
        -(slats.gap - u).min(u)
    } else {
        (u - slats.gap).min(slats.pitch - u)
    };
    let gap_cover = (0.5 - dist).clamp(0.0, 1.0);
    let edge_light = if dist > 0.0 && dist < 1.5 { 1.08 } else { 1.0 };
    edge_light * (1.0 - gap_cover) + slats.darkness * gap_cover
}

fn to_u8(v: f32) -> u8 {
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

/// Scatters short straw strokes; `density` 1.0 is full bedding.
fn scatter_straw(pixmap: &mut Pixmap, pig_len: f32, density: f32, rng: &mut ChaCha8Rng) {
    let (w, h) = (pixmap.width() as f32, pixmap.height() as f32);
    let len = pig_len * 0.11;
    let width = (pig_len * 0.008).max(0.8);
    let strokes = (density * 0.9 * w * h / (len * width)) as usize;
    // Strokes are grouped into a few colour buckets so each bucket is one path and one stroke.
    const BUCKETS: usize = 8;
    let mut builders: Vec<PathBuilder> = (0..BUCKETS).map(|_| PathBuilder::new()).collect();
    for _ in 0..strokes {
        let (x, y) = (rng.random_range(-len..w + len), rng.random_range(-len..h + len));
        let a: f32 = rng.random_range(0.0..std::f32::consts::TAU);
        let l = len * rng.random_range(0.4..1.3);
        let bend = rng.random_range(-0.25..0.25) * l;
        let (dx, dy) = (a.cos() * l, a.sin() * l);
        let pb = &mut builders[rng.random_range(0..BUCKETS)];
        pb.move_to(x, y);
        pb.quad_to(
            x + dx * 0.5 - dy / l * bend,
            y + dy * 0.5 + dx / l * bend,
            x + dx,
            y + dy,
        );
    }
    let stroke = Stroke {
        width,
        line_cap: LineCap::Round,
        ..Stroke::default()
    };
    for (i, pb) in builders.into_iter().enumerate() {
        let Some(path) = pb.finish() else { continue };
        let t = i as f32 / (BUCKETS - 1) as f32;
        // From pale gold to dull brown, with the pale end more opaque.
        let color = Color::from_rgba(
            0.86 - 0.30 * t + rng.random_range(-0.04..0.04),
            0.72 - 0.30 * t + rng.random_range(-0.04..0.04),
            0.40 - 0.18 * t,
            0.85 - 0.3 * t,
        )
        .unwrap_or(Color::BLACK);
        let mut paint = Paint::default();
        paint.set_color(color);
        pixmap.stroke_path(&path, &paint, &stroke, Transform::identity(), None);
    }
}

/// Small dark specks (dung, feed pellets) and pale pebbles: distractors for a detector.
fn scatter_debris(pixmap: &mut Pixmap, pig_len: f32, rng: &mut ChaCha8Rng) {
    let (w, h) = (pixmap.width() as f32, pixmap.height() as f32);
    let count = (w * h / (pig_len * pig_len) * rng.random_range(0.5..4.0)) as usize;
    let mut dark = PathBuilder::new();
    let mut pale = PathBuilder::new();
    for _ in 0..count {
        let (x, y) = (rng.random_range(0.0..w), rng.random_range(0.0..h));
        let r = pig_len * rng.random_range(0.006..0.025);
        if rng.random_bool(0.75) {
            dark.push_circle(x, y, r);
        } else {
            pale.push_circle(x, y, r * 0.7);
        }
    }
    let specks = [
        (dark, Color::from_rgba8(55, 42, 30, 190)),
        (pale, Color::from_rgba8(200, 190, 170, 150)),
    ];
    for (pb, color) in specks {
        if let Some(path) = pb.finish() {
            let mut paint = Paint::default();
            paint.set_color(color);
            pixmap.fill_path(
                &path,
                &paint,
                tiny_skia::FillRule::Winding,
                Transform::identity(),
                None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn floor_is_opaque_deterministic_and_seed_dependent() {
        let a = render_floor(96, 64, 30.0, None, &mut ChaCha8Rng::seed_from_u64(5));
        let b = render_floor(96, 64, 30.0, None, &mut ChaCha8Rng::seed_from_u64(5));
        let c = render_floor(96, 64, 30.0, None, &mut ChaCha8Rng::seed_from_u64(6));
        assert_eq!(a.data(), b.data());
        assert_ne!(a.data(), c.data());
        assert!(a.data().chunks_exact(4).all(|px| px[3] == 255));
    }

    #[test]
    fn grid_interpolates_exactly_at_its_nodes_and_linearly_between() {
        let grid = Grid::new(10, 6, |x, y| x + 10.0 * y);
        for (x, y) in [(0, 0), (4, 4), (8, 4), (3, 5), (9, 2)] {
            assert!(
                (grid.at(x, y) - (x as f32 + 10.0 * y as f32)).abs() < 1e-4,
                "({x}, {y})"
            );
        }
    }

    #[test]
    fn slat_gaps_are_dark_and_slats_are_not() {
        let slats = Slats {
            cos: 1.0,
            sin: 0.0,
            pitch: 10.0,
            gap: 3.0,
            darkness: 0.18,
            region: [0.0, 0.0, 1.0],
        };
        assert!((slat_shade(&slats, 1.5, 0.0) - 0.18).abs() < 1e-6);
        assert!((slat_shade(&slats, 6.5, 0.0) - 1.0).abs() < 1e-6);
        assert!(slat_shade(&slats, 3.0, 0.0) > 0.18 && slat_shade(&slats, 3.0, 0.0) < 1.08);
    }
}
