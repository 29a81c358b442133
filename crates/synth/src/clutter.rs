//! What else is in a pen and must not be counted: props on the floor (buckets, feeders, hoses,
//! toy balls, boards, dirt, hard shadows, a test-pattern card) and people walking through or
//! standing among the pigs.
//!
//! Props are drawn once into the floor, so they lie under the pigs. People are drawn over the
//! pigs every frame, into their own layer, and hide what they cover: ground truth treats a
//! person's pixels like a pig above the others.
//!
//! Everything is sized by the scene's typical pig length, like the floor's features.

use std::f32::consts::{PI, TAU};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tiny_skia::{FillRule, LineCap, Paint, PathBuilder, Pixmap, Point, Rect, Stroke, Transform};

use crate::SynthError;
use crate::look::{Clothes, Prop};
use crate::noise::mix64;
use crate::raster::{Rgb, blank_pixmap, color, polygon, smooth_closed};

/// How many things that are not pigs a scene holds; each scene draws its numbers from these
/// ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Clutter {
    /// Fewest and most props on the floor.
    pub props: [u32; 2],
    /// Fewest and most people in the scene (walking through, or standing).
    pub people: [u32; 2],
}

impl Default for Clutter {
    /// None: a plain pen, as the sample video shows.
    fn default() -> Self {
        Self {
            props: [0, 0],
            people: [0, 0],
        }
    }
}

/// Most props a scene may ask for.
const MAX_PROPS: u32 = 64;
/// Most people a scene may ask for.
const MAX_PEOPLE: u32 = 8;

impl Clutter {
    /// Checks both ranges; the error names the wrong one.
    pub fn validate(&self) -> Result<(), SynthError> {
        for (name, [lo, hi], max) in [
            ("props", self.props, MAX_PROPS),
            ("people", self.people, MAX_PEOPLE),
        ] {
            if lo > hi || hi > max {
                return Err(SynthError::InvalidConfig(format!(
                    "{name} must be [min, max] with min <= max <= {max}, got [{lo}, {hi}]"
                )));
            }
        }
        Ok(())
    }
}

fn fill(pixmap: &mut Pixmap, path: &tiny_skia::Path, rgb: Rgb, alpha: f32, ts: Transform) {
    let mut paint = Paint::default();
    paint.set_color(color(rgb, alpha));
    pixmap.fill_path(path, &paint, FillRule::Winding, ts, None);
}

fn stroke(pixmap: &mut Pixmap, path: &tiny_skia::Path, rgb: Rgb, alpha: f32, width: f32, ts: Transform) {
    let mut paint = Paint::default();
    paint.set_color(color(rgb, alpha));
    let stroke = Stroke {
        width,
        line_cap: LineCap::Round,
        ..Stroke::default()
    };
    pixmap.stroke_path(path, &paint, &stroke, ts, None);
}

fn oval(cx: f32, cy: f32, rx: f32, ry: f32) -> Option<tiny_skia::Path> {
    Rect::from_xywh(cx - rx, cy - ry, 2.0 * rx, 2.0 * ry).and_then(PathBuilder::from_oval)
}

fn rect(x: f32, y: f32, w: f32, h: f32) -> Option<tiny_skia::Path> {
    Rect::from_xywh(x, y, w, h).map(PathBuilder::from_rect)
}

/// A colour picked from `palette`, varied a little in brightness.
fn pick(palette: &[Rgb], rng: &mut ChaCha8Rng) -> Rgb {
    pick_as(palette, rng, |drawn| drawn)
}

/// [`pick`] with the drawn entry's index mapped by `entry` before it is used: the same draws.
fn pick_as(palette: &[Rgb], rng: &mut ChaCha8Rng, entry: impl Fn(usize) -> usize) -> Rgb {
    let c = palette[entry(rng.random_range(0..palette.len()))];
    let k = rng.random_range(0.85..1.15f32);
    c.map(|v| v * k)
}

/// A person's clothes: the seed's draw among all eight, mapped onto `clothes` where it names
/// some (as evenly as eight draws share out), so fixing them leaves every other draw the seed's.
fn dress(clothes: &[Clothes], rng: &mut ChaCha8Rng) -> Rgb {
    pick_as(&CLOTHES, rng, |drawn| {
        if clothes.is_empty() {
            drawn
        } else {
            clothes[drawn % clothes.len()] as usize
        }
    })
}

/// Plastic colours of buckets, balls and hoses (pink among them: it must not pass for a pig).
const PLASTIC: [Rgb; 8] = [
    [0.15, 0.15, 0.16],
    [0.12, 0.3, 0.7],
    [0.75, 0.12, 0.1],
    [0.9, 0.75, 0.1],
    [0.92, 0.55, 0.6],
    [0.2, 0.55, 0.25],
    [0.9, 0.9, 0.88],
    [0.95, 0.45, 0.1],
];

/// Draws between `range[0]` and `range[1]` props into `floor`, for pigs `pig_len` pixels long,
/// each of `kinds` (any of the eight where it is empty). Fixed kinds take the seed's own draw
/// among the eight (as evenly as eight draws share out), and leave `rng` where the seed's props
/// would: what is drawn after them (the people) stays the seed's.
pub(crate) fn draw_props(
    floor: &mut Pixmap,
    pig_len: f32,
    range: [u32; 2],
    kinds: &[Prop],
    rng: &mut ChaCha8Rng,
) {
    if kinds.is_empty() {
        draw_props_as(floor, pig_len, range, |drawn| drawn, rng);
        return;
    }
    draw_props_as(
        floor,
        pig_len,
        range,
        |drawn| kinds[drawn as usize % kinds.len()],
        &mut rng.clone(),
    );
    // The seed's own props, drawn aside only to take their draws from the stream.
    let mut aside = blank_pixmap(floor.width(), floor.height());
    draw_props_as(&mut aside, pig_len, range, |drawn| drawn, rng);
}

fn draw_props_as(
    floor: &mut Pixmap,
    pig_len: f32,
    range: [u32; 2],
    kind: impl Fn(Prop) -> Prop,
    rng: &mut ChaCha8Rng,
) {
    let count = rng.random_range(range[0]..=range[1]);
    let (w, h) = (floor.width() as f32, floor.height() as f32);
    for _ in 0..count {
        let (x, y) = (rng.random_range(0.0..w), rng.random_range(0.0..h));
        let turn = Transform::from_rotate_at(rng.random_range(0.0..360.0), x, y);
        let drawn = match rng.random_range(0..100) {
            0..16 => Prop::Bucket,
            16..30 => Prop::Feeder,
            30..44 => Prop::Hose,
            44..56 => Prop::Ball,
            56..66 => Prop::Board,
            66..80 => Prop::Dirt,
            80..92 => Prop::Shadow,
            _ => Prop::Pattern,
        };
        match kind(drawn) {
            Prop::Bucket => bucket(floor, x, y, pig_len, rng),
            Prop::Feeder => feeder(floor, x, y, pig_len, turn, rng),
            Prop::Hose => hose(floor, pig_len, rng),
            Prop::Ball => toy_ball(floor, x, y, pig_len, rng),
            Prop::Board => board(floor, x, y, pig_len, turn, rng),
            Prop::Dirt => dirt(floor, x, y, pig_len, rng),
            Prop::Shadow => hard_shadow(floor, pig_len, rng),
            Prop::Pattern => pattern_card(floor, x, y, pig_len, turn, rng),
        }
    }
}

/// A bucket seen from above: a rim, the shaded inside, sometimes water, a handle.
fn bucket(pm: &mut Pixmap, x: f32, y: f32, l: f32, rng: &mut ChaCha8Rng) {
    let r = l * rng.random_range(0.1..0.2);
    let c = pick(&PLASTIC, rng);
    let id = Transform::identity();
    if let Some(p) = oval(x, y, r, r) {
        fill(pm, &p, c, 1.0, id);
        stroke(pm, &p, c.map(|v| v * 0.6), 1.0, r * 0.12, id);
    }
    let inner = if rng.random_bool(0.4) {
        [0.25, 0.3, 0.32]
    } else {
        c.map(|v| v * 0.45)
    };
    if let Some(p) = oval(x, y, r * 0.8, r * 0.8) {
        fill(pm, &p, inner, 1.0, id);
    }
    let a = rng.random_range(0.0..TAU);
    let mut pb = PathBuilder::new();
    pb.move_to(x + r * a.cos(), y + r * a.sin());
    let (ca, cb) = (a + PI * 0.5, r * 1.5);
    pb.quad_to(
        x + cb * ca.cos(),
        y + cb * ca.sin(),
        x - r * a.cos(),
        y - r * a.sin(),
    );
    if let Some(p) = pb.finish() {
        stroke(pm, &p, [0.6, 0.6, 0.62], 1.0, (r * 0.06).max(1.0), id);
    }
}

/// A galvanised trough or a round feeder with feed in it.
fn feeder(pm: &mut Pixmap, x: f32, y: f32, l: f32, turn: Transform, rng: &mut ChaCha8Rng) {
    let steel = pick(&[[0.62, 0.64, 0.66], [0.45, 0.47, 0.5], [0.7, 0.68, 0.6]], rng);
    let feed = pick(&[[0.6, 0.48, 0.3], [0.45, 0.35, 0.2], [0.75, 0.7, 0.5]], rng);
    if rng.random_bool(0.6) {
        let (fw, fh) = (l * rng.random_range(0.6..1.6), l * rng.random_range(0.22..0.45));
        if let Some(p) = rect(x - fw / 2.0, y - fh / 2.0, fw, fh) {
            fill(pm, &p, steel, 1.0, turn);
        }
        let m = fh * 0.15;
        if let Some(p) = rect(x - fw / 2.0 + m, y - fh / 2.0 + m, fw - 2.0 * m, fh - 2.0 * m) {
            fill(pm, &p, feed, 1.0, turn);
        }
        for k in 1..4 {
            let dx = -fw / 2.0 + fw * k as f32 / 4.0;
            if let Some(p) = rect(x + dx - m * 0.3, y - fh / 2.0, m * 0.6, fh) {
                fill(pm, &p, steel.map(|v| v * 0.8), 1.0, turn);
            }
        }
    } else {
        let r = l * rng.random_range(0.25..0.4);
        let id = Transform::identity();
        for (k, c) in [(1.0, steel), (0.85, feed), (0.35, steel.map(|v| v * 1.1))] {
            if let Some(p) = oval(x, y, r * k, r * k) {
                fill(pm, &p, c, 1.0, id);
            }
        }
    }
}

/// A hose lying across the floor in a long curve.
fn hose(pm: &mut Pixmap, l: f32, rng: &mut ChaCha8Rng) {
    let (w, h) = (pm.width() as f32, pm.height() as f32);
    let mut pt = || {
        Point::from_xy(
            rng.random_range(-0.1 * w..1.1 * w),
            rng.random_range(-0.1 * h..1.1 * h),
        )
    };
    let (a, b, c, d) = (pt(), pt(), pt(), pt());
    let mut pb = PathBuilder::new();
    pb.move_to(a.x, a.y);
    pb.cubic_to(b.x, b.y, c.x, c.y, d.x, d.y);
    let Some(path) = pb.finish() else { return };
    let colour = pick(&PLASTIC, rng);
    let width = l * rng.random_range(0.025..0.06);
    let id = Transform::identity();
    stroke(pm, &path, colour.map(|v| v * 0.6), 1.0, width * 1.2, id);
    stroke(pm, &path, colour, 1.0, width, id);
    stroke(
        pm,
        &path,
        colour.map(|v| (v * 1.4).min(1.0)),
        0.7,
        width * 0.25,
        id,
    );
}

/// An enrichment ball with a highlight.
fn toy_ball(pm: &mut Pixmap, x: f32, y: f32, l: f32, rng: &mut ChaCha8Rng) {
    let r = l * rng.random_range(0.08..0.22);
    let c = pick(&PLASTIC, rng);
    let id = Transform::identity();
    if let Some(p) = oval(x, y, r, r) {
        fill(pm, &p, c, 1.0, id);
    }
    if let Some(p) = oval(x - r * 0.3, y - r * 0.3, r * 0.35, r * 0.3) {
        fill(pm, &p, c.map(|v| (v * 1.5 + 0.2).min(1.0)), 0.8, id);
    }
}

/// A plank or a pallet.
fn board(pm: &mut Pixmap, x: f32, y: f32, l: f32, turn: Transform, rng: &mut ChaCha8Rng) {
    let wood = pick(&[[0.55, 0.4, 0.25], [0.7, 0.58, 0.4], [0.4, 0.32, 0.24]], rng);
    let (bw, planks) = (l * rng.random_range(0.6..1.4), rng.random_range(1..=5u32));
    let plank_h = l * rng.random_range(0.08..0.14);
    for k in 0..planks {
        let yy = y + k as f32 * plank_h * 1.25 - planks as f32 * plank_h * 0.6;
        if let Some(p) = rect(x - bw / 2.0, yy, bw, plank_h) {
            fill(pm, &p, wood.map(|v| v * rng.random_range(0.85..1.1)), 1.0, turn);
        }
    }
}

/// A wet patch or dung, pig-sized and darker than the floor.
fn dirt(pm: &mut Pixmap, x: f32, y: f32, l: f32, rng: &mut ChaCha8Rng) {
    let size = l * rng.random_range(0.2..1.0);
    let stretch = rng.random_range(0.4..1.0);
    let n = rng.random_range(7..12);
    let points: Vec<Point> = (0..n)
        .map(|k| {
            let a = k as f32 / n as f32 * TAU;
            let r = size * 0.5 * rng.random_range(0.6..1.2);
            Point::from_xy(x + r * a.cos(), y + r * stretch * a.sin())
        })
        .collect();
    if let Some(p) = smooth_closed(&points) {
        let c = pick(&[[0.25, 0.18, 0.1], [0.35, 0.28, 0.18], [0.15, 0.13, 0.1]], rng);
        fill(pm, &p, c, rng.random_range(0.3..0.75), Transform::identity());
    }
}

/// The hard-edged shadow of a beam or a wall, across part of the frame.
fn hard_shadow(pm: &mut Pixmap, l: f32, rng: &mut ChaCha8Rng) {
    let (w, h) = (pm.width() as f32, pm.height() as f32);
    let (cx, cy) = (rng.random_range(0.0..w), rng.random_range(0.0..h));
    let a = rng.random_range(0.0..PI);
    let (dx, dy) = (a.cos(), a.sin());
    let (len, half) = (w.max(h) * 1.5, l * rng.random_range(0.1..0.8));
    let (nx, ny) = (-dy * half, dx * half);
    let pts = [
        Point::from_xy(cx - dx * len + nx, cy - dy * len + ny),
        Point::from_xy(cx + dx * len + nx, cy + dy * len + ny),
        Point::from_xy(cx + dx * len - nx, cy + dy * len - ny),
        Point::from_xy(cx - dx * len - nx, cy - dy * len - ny),
    ];
    if let Some(p) = polygon(&pts) {
        fill(
            pm,
            &p,
            [0.0, 0.0, 0.0],
            rng.random_range(0.2..0.5),
            Transform::identity(),
        );
    }
}

/// The colour bars of a test card (SMPTE's order), then a row of blocks.
const BARS: [Rgb; 7] = [
    [0.75, 0.75, 0.75],
    [0.75, 0.75, 0.0],
    [0.0, 0.75, 0.75],
    [0.0, 0.75, 0.0],
    [0.75, 0.0, 0.75],
    [0.75, 0.0, 0.0],
    [0.0, 0.0, 0.75],
];

/// A test-pattern card or screen lying in view: colour bars over a row of blocks, or a checker.
fn pattern_card(pm: &mut Pixmap, x: f32, y: f32, l: f32, turn: Transform, rng: &mut ChaCha8Rng) {
    let cw = l * rng.random_range(0.5..1.5);
    let ch = cw * 0.75;
    let (x0, y0) = (x - cw / 2.0, y - ch / 2.0);
    if rng.random_bool(0.7) {
        let bar = cw / 7.0;
        for (k, c) in BARS.iter().enumerate() {
            if let Some(p) = rect(x0 + k as f32 * bar, y0, bar + 0.5, ch * 0.7) {
                fill(pm, &p, *c, 1.0, turn);
            }
        }
        for (k, c) in [
            [0.0, 0.13, 0.3],
            [1.0, 1.0, 1.0],
            [0.2, 0.0, 0.4],
            [0.05, 0.05, 0.05],
        ]
        .iter()
        .enumerate()
        {
            if let Some(p) = rect(x0 + k as f32 * cw / 4.0, y0 + ch * 0.7, cw / 4.0 + 0.5, ch * 0.3) {
                fill(pm, &p, *c, 1.0, turn);
            }
        }
    } else {
        let n = rng.random_range(4..12u32);
        let cell = cw / n as f32;
        for i in 0..n {
            for j in 0..((ch / cell) as u32).max(1) {
                let c = if (i + j) % 2 == 0 { [0.95; 3] } else { [0.05; 3] };
                if let Some(p) = rect(x0 + i as f32 * cell, y0 + j as f32 * cell, cell + 0.5, cell + 0.5) {
                    fill(pm, &p, c, 1.0, turn);
                }
            }
        }
    }
}

/// Work clothes seen from above (pink too), in [`Clothes`]' order.
const CLOTHES: [Rgb; 8] = [
    [0.1, 0.2, 0.5],
    [0.15, 0.35, 0.15],
    [0.9, 0.45, 0.1],
    [0.5, 0.5, 0.52],
    [0.88, 0.88, 0.85],
    [0.9, 0.6, 0.65],
    [0.12, 0.12, 0.14],
    [0.6, 0.1, 0.1],
];

/// Hair, caps and helmets.
const HEADS: [Rgb; 6] = [
    [0.1, 0.08, 0.06],
    [0.4, 0.28, 0.15],
    [0.8, 0.7, 0.45],
    [0.95, 0.85, 0.1],
    [0.95, 0.95, 0.95],
    [0.15, 0.3, 0.7],
];

/// A person who crosses the pen, or stands in it, again and again: trip `k` starts at
/// `k * period` seconds (shifted by `offset`) and its path follows from the seed and `k`.
#[derive(Debug, Clone)]
pub(crate) struct Walker {
    seed: u64,
    period: f32,
    offset: f32,
    /// Shoulder width in pixels.
    size: f32,
    clothes: Rgb,
    head: Rgb,
    /// Pixels per second.
    speed: f32,
}

/// Where a walker is at one moment.
struct Stance {
    x: f32,
    y: f32,
    heading: f32,
    /// Arm swing, -1..1.
    swing: f32,
}

impl Walker {
    /// `count` walkers for a `width`×`height` frame with pigs `pig_len` pixels long, each in
    /// one of `clothes` (any of the eight where it is empty).
    pub(crate) fn crowd(
        count: u32,
        width: u32,
        height: u32,
        pig_len: f32,
        clothes: &[Clothes],
        rng: &mut ChaCha8Rng,
    ) -> Vec<Self> {
        let diagonal = (width as f32).hypot(height as f32);
        (0..count)
            .map(|_| {
                let speed = pig_len * rng.random_range(0.6..1.4);
                let crossing = (diagonal + 2.0 * pig_len) / speed;
                Walker {
                    seed: rng.random(),
                    // Short gaps between trips, so a still caught at any moment often shows one.
                    period: crossing * rng.random_range(1.0..1.2),
                    offset: rng.random_range(0.0..crossing * 2.0),
                    // Seen from a camera above, a standing person is nearer to it than the pigs: wider than
                    // their 0.35 of a pig length.
                    size: pig_len * rng.random_range(0.5..1.0),
                    clothes: dress(clothes, rng),
                    head: pick(&HEADS, rng),
                    speed,
                }
            })
            .collect()
    }

    /// Where the walker is at `t` seconds, or `None` while between trips.
    fn stance(&self, t: f32, width: f32, height: f32) -> Option<Stance> {
        let shifted = t + self.offset;
        let trip = (shifted / self.period).floor();
        let local = shifted - trip * self.period;
        let mut rng = ChaCha8Rng::seed_from_u64(mix64(self.seed ^ mix64(trip as i64 as u64)));
        let margin = self.size * 1.5;
        // Any point of the frame's rim, pushed out of view.
        let rim = |rng: &mut ChaCha8Rng| {
            let s = rng.random_range(0.0..2.0 * (width + height));
            let (x, y) = if s < width {
                (s, -margin)
            } else if s < width + height {
                (width + margin, s - width)
            } else if s < 2.0 * width + height {
                (2.0 * width + height - s, height + margin)
            } else {
                (-margin, 2.0 * (width + height) - s)
            };
            (x, y)
        };
        if rng.random_bool(0.4) {
            // Standing among the pigs for most of the trip, turning slowly.
            if local > self.period * 0.8 {
                return None;
            }
            let (x, y) = (rng.random_range(0.0..width), rng.random_range(0.0..height));
            let heading = rng.random_range(0.0..TAU) + (local * 0.3).sin();
            return Some(Stance {
                x,
                y,
                heading,
                swing: 0.15 * (local * 1.3).sin(),
            });
        }
        let (a, b) = (rim(&mut rng), rim(&mut rng));
        let distance = (b.0 - a.0).hypot(b.1 - a.1);
        let walked = local * self.speed;
        if walked > distance || distance < 1.0 {
            return None;
        }
        let f = walked / distance;
        Some(Stance {
            x: a.0 + (b.0 - a.0) * f,
            y: a.1 + (b.1 - a.1) * f,
            heading: (b.1 - a.1).atan2(b.0 - a.0),
            swing: (walked / (self.size * 0.9) * PI).sin(),
        })
    }

    /// Draws the walker at `t` seconds into `layer` (transparent where nobody is).
    pub(crate) fn draw(&self, layer: &mut Pixmap, t: f32) {
        let (w, h) = (layer.width() as f32, layer.height() as f32);
        let Some(s) = self.stance(t, w, h) else {
            return;
        };
        // Drawn facing +x at the origin, then turned and moved.
        let ts = Transform::from_rotate(s.heading.to_degrees()).post_translate(s.x, s.y);
        let (half_w, depth) = (self.size * 0.5, self.size * 0.28);
        let arm = self.size * 0.5;
        for side in [-1.0f32, 1.0] {
            // Arms swing opposite each other.
            let reach = s.swing * side * arm * 0.5;
            if let Some(p) = oval(
                reach * 0.5,
                side * half_w * 0.9,
                arm * 0.3 + reach.abs() * 0.3,
                self.size * 0.09,
            ) {
                fill(layer, &p, self.clothes.map(|v| v * 0.85), 1.0, ts);
            }
            if let Some(p) = oval(reach, side * half_w * 0.95, self.size * 0.07, self.size * 0.07) {
                fill(layer, &p, [0.85, 0.65, 0.55], 1.0, ts);
            }
        }
        if let Some(p) = oval(0.0, 0.0, depth, half_w) {
            fill(layer, &p, self.clothes, 1.0, ts);
        }
        if let Some(p) = oval(depth * 0.15, 0.0, self.size * 0.17, self.size * 0.15) {
            fill(layer, &p, self.head, 1.0, ts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::blank_pixmap;

    #[test]
    fn ranges_are_checked() {
        Clutter::default().validate().unwrap();
        Clutter {
            props: [2, 64],
            people: [0, 8],
        }
        .validate()
        .unwrap();
        for bad in [
            Clutter {
                props: [3, 2],
                people: [0, 0],
            },
            Clutter {
                props: [0, 65],
                people: [0, 0],
            },
            Clutter {
                props: [0, 0],
                people: [0, 9],
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(SynthError::InvalidConfig(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn props_draw_something_and_depend_on_the_seed() {
        let draw = |seed: u64| {
            let mut pm = blank_pixmap(320, 180);
            draw_props(&mut pm, 60.0, [6, 6], &[], &mut ChaCha8Rng::seed_from_u64(seed));
            pm
        };
        let (a, b) = (draw(1), draw(2));
        assert!(a.data().chunks_exact(4).filter(|p| p[3] > 0).count() > 1000);
        assert_eq!(a, draw(1));
        assert_ne!(a, b);
    }

    /// Each kind alone draws something of its own, all eight in the seed's order draw what the
    /// seed does, and either way the stream goes on as after the seed's own props.
    #[test]
    fn fixed_props_are_of_those_kinds_and_leave_the_stream_as_it_was() {
        let all = [
            Prop::Bucket,
            Prop::Feeder,
            Prop::Hose,
            Prop::Ball,
            Prop::Board,
            Prop::Dirt,
            Prop::Shadow,
            Prop::Pattern,
        ];
        let draw = |seed: u64, kinds: &[Prop]| {
            let mut pm = blank_pixmap(320, 180);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            draw_props(&mut pm, 60.0, [6, 6], kinds, &mut rng);
            (pm, rng.random::<u64>())
        };
        for seed in 1..=4 {
            let (seeds, next) = draw(seed, &[]);
            let alone: Vec<_> = all.iter().map(|&kind| draw(seed, &[kind])).collect();
            for (kind, (pm, after)) in all.iter().zip(&alone) {
                assert_eq!(*after, next, "seed {seed}, {kind:?}");
                assert!(
                    pm.data().chunks_exact(4).filter(|p| p[3] > 0).count() > 200,
                    "seed {seed}, {kind:?} drew nothing"
                );
                assert_ne!(*pm, seeds, "seed {seed}, {kind:?} drew the seed's mix");
            }
            for i in 0..all.len() {
                for j in i + 1..all.len() {
                    assert_ne!(
                        alone[i].0, alone[j].0,
                        "seed {seed}: {:?} as {:?}",
                        all[i], all[j]
                    );
                }
            }
            assert_eq!(draw(seed, &all), (seeds, next), "seed {seed}");
        }
    }

    /// A walker crosses the frame: seen at some moments, gone at others, and the same at the
    /// same moment.
    #[test]
    fn walkers_come_and_go() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let walkers = Walker::crowd(1, 320, 180, 60.0, &[], &mut rng);
        let shown = |t: f32| {
            let mut layer = blank_pixmap(320, 180);
            walkers[0].draw(&mut layer, t);
            layer.data().chunks_exact(4).filter(|p| p[3] >= 128).count()
        };
        let seen: Vec<usize> = (0..120).map(|k| shown(k as f32 * 0.25)).collect();
        assert!(seen.iter().any(|&n| n > 200), "{seen:?}");
        assert!(seen.contains(&0), "{seen:?}");
        assert_eq!(shown(3.5), seen[14]);
    }

    /// Fixed clothes dress every walker in one of them and leave the rest of each walker (where
    /// and when it walks, its size and its hair) the seed's.
    #[test]
    fn fixed_clothes_change_only_the_clothes() {
        let fixed = [Clothes::Pink, Clothes::White];
        let is = |rgb: Rgb, kind: Clothes| {
            let base = CLOTHES[kind as usize];
            let k = rgb[0] / base[0];
            (0.85..1.15).contains(&k) && (0..3).all(|i| (rgb[i] - base[i] * k).abs() < 1e-4)
        };
        for seed in [3, 4, 5] {
            let crowd = |clothes: &[Clothes]| {
                Walker::crowd(8, 640, 360, 90.0, clothes, &mut ChaCha8Rng::seed_from_u64(seed))
            };
            let (drawn, dressed) = (crowd(&[]), crowd(&fixed));
            for (a, b) in drawn.iter().zip(&dressed) {
                assert_eq!(
                    (a.seed, a.period, a.offset, a.size, a.head, a.speed),
                    (b.seed, b.period, b.offset, b.size, b.head, b.speed),
                    "seed {seed}"
                );
                assert!(
                    fixed.iter().any(|&c| is(b.clothes, c)),
                    "seed {seed}: {:?}",
                    b.clothes
                );
            }
            assert!(
                drawn.iter().any(|a| !fixed.iter().any(|&c| is(a.clothes, c))),
                "seed {seed}: the seed's own draw dressed all eight in pink or white"
            );
        }
    }
}
