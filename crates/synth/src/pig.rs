//! What a pig looks like from above, and how one is drawn.
//!
//! A pig is laid out along a possibly bent centreline: `x` runs from the rump (-0.5) to the snout
//! (+0.5) in units of body length, and the lateral offset is in units of half the body width. A
//! width profile along `x` gives the outline (round rump, long barrel, slight neck, tapering
//! head, blunt snout); ears, eyes, snout disc, coat marks and shading are placed in the same
//! body coordinates, so everything bends with the body when the pig turns or swings its head.
//!
//! Each pig is drawn into its own small sprite covering only its bounding box. The sprite's alpha
//! is the silhouette: the ground truth is measured on exactly what is composited.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use tiny_skia::{
    BlendMode, FillRule, GradientStop, LineCap, Paint, Path, PathBuilder, Pixmap, Point, RadialGradient,
    Rect, SpreadMode, Stroke, Transform,
};

use crate::look::Coat;
use crate::raster::{Rgb, blank_pixmap, color, mix, polygon, scale, smooth_closed};

/// Half-width of the body along its length, as (x, fraction of the widest point).
const PROFILE: [(f32, f32); 18] = [
    (-0.500, 0.00),
    (-0.490, 0.36),
    (-0.470, 0.56),
    (-0.430, 0.75),
    (-0.370, 0.89),
    (-0.280, 0.97),
    (-0.150, 1.00),
    (0.000, 0.98),
    (0.100, 0.93),
    (0.170, 0.83),
    (0.220, 0.72),
    (0.270, 0.63),
    (0.330, 0.56),
    (0.390, 0.48),
    (0.440, 0.40),
    (0.475, 0.33),
    (0.494, 0.28),
    (0.500, 0.00),
];

/// Number of samples along each side of the outline.
const OUTLINE_SAMPLES: usize = 44;

/// Where the ears sit along the body.
const EAR_X: f32 = 0.27;

/// Relative frequencies of the coats in one scene, in [`COATS`]' order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CoatMix([f32; 5]);

const COATS: [Coat; 5] = [Coat::Pink, Coat::Spotted, Coat::Dark, Coat::Red, Coat::Belted];

impl CoatMix {
    /// An even mix of `coats` (every coat where it is empty).
    pub(crate) fn only(coats: &[Coat]) -> Self {
        Self(COATS.map(|c| {
            if coats.is_empty() || coats.contains(&c) {
                1.0
            } else {
                0.0
            }
        }))
    }

    /// A random mix: most farms are mostly pink, some mixed, a few mostly another breed.
    pub(crate) fn random(rng: &mut ChaCha8Rng) -> Self {
        let mut w = [
            rng.random_range(1.0..4.0f32),
            rng.random_range(0.0..1.2),
            rng.random_range(0.0..1.0),
            rng.random_range(0.0..0.8),
            rng.random_range(0.0..0.6),
        ];
        if rng.random_bool(0.35) {
            // A farm with essentially one breed.
            let keep = rng.random_range(0..5);
            for (i, v) in w.iter_mut().enumerate() {
                *v = if i == keep { 1.0 } else { *v * 0.05 };
            }
        }
        Self(w)
    }

    fn pick(&self, rng: &mut ChaCha8Rng) -> Coat {
        let total: f32 = self.0.iter().sum();
        let mut r = rng.random_range(0.0..total.max(1e-6));
        for (i, w) in self.0.iter().enumerate() {
            if r < *w {
                return COATS[i];
            }
            r -= w;
        }
        Coat::Pink
    }
}

/// A patch of colour on the coat, in body coordinates.
#[derive(Debug, Clone)]
struct Mark {
    /// Outline in body coordinates (x in lengths, y in half-widths).
    points: Vec<(f32, f32)>,
    color: Rgb,
    alpha: f32,
    /// Smooth blob (true) or hard-edged polygon (false).
    smooth: bool,
}

/// Everything about a pig's appearance that stays fixed while it moves.
#[derive(Debug, Clone)]
pub(crate) struct Looks {
    /// What the pig wears (read by the tests of fixed looks).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) coat: Coat,
    /// Nose to rump, in pixels.
    pub(crate) length: f32,
    /// Widest point of the body, in pixels.
    pub(crate) width: f32,
    skin: Rgb,
    ear_color: Rgb,
    snout_color: Rgb,
    marks: Vec<Mark>,
    head_scale: f32,
    /// Ear length as a fraction of body width.
    ear_len: f32,
    /// Ear direction, radians outward from straight ahead.
    ear_angle: f32,
    tail_curl: f32,
    /// Darkening at the body's rim.
    rim: f32,
    /// Brightness of the highlight along the spine.
    sheen: f32,
}

impl Looks {
    /// A random pig of about `length` pixels.
    pub(crate) fn random(length: f32, mix_of: &CoatMix, rng: &mut ChaCha8Rng) -> Self {
        let coat = mix_of.pick(rng);
        let width = length * rng.random_range(0.38..0.46);
        let jitter = |rng: &mut ChaCha8Rng, c: Rgb, s: f32| -> Rgb {
            let k = rng.random_range(1.0 - s..1.0 + s);
            [
                c[0] * k * rng.random_range(0.97..1.03),
                c[1] * k * rng.random_range(0.97..1.03),
                c[2] * k * rng.random_range(0.97..1.03),
            ]
        };
        let pink = if rng.random_bool(0.3) {
            // Whiter pigs.
            jitter(rng, [0.95, 0.86, 0.80], 0.05)
        } else {
            jitter(rng, [0.93, 0.74, 0.67], 0.06)
        };
        let black = jitter(rng, [0.16, 0.14, 0.14], 0.25);
        let (skin, sheen) = match coat {
            Coat::Pink | Coat::Spotted => (pink, rng.random_range(0.05..0.14)),
            Coat::Dark | Coat::Belted => (black, rng.random_range(0.16..0.32)),
            Coat::Red => (jitter(rng, [0.62, 0.36, 0.23], 0.1), rng.random_range(0.12..0.25)),
        };
        let mut marks = Vec::new();
        match coat {
            Coat::Spotted => {
                for _ in 0..rng.random_range(2..7) {
                    let (x, y) = (rng.random_range(-0.45..0.3), rng.random_range(-1.1..1.1));
                    let (rx, ry) = (rng.random_range(0.05..0.16), rng.random_range(0.2..0.6));
                    marks.push(Mark {
                        points: blob(x, y, rx, ry, rng),
                        color: black,
                        alpha: rng.random_range(0.85..1.0),
                        smooth: true,
                    });
                }
            }
            Coat::Belted => {
                // A band over the shoulders, with slightly wavy edges.
                let (x0, x1) = (rng.random_range(0.0..0.08), rng.random_range(0.16..0.24));
                let mut points = Vec::new();
                for i in 0..=4 {
                    let y = -1.6 + 0.8 * i as f32;
                    points.push((x1 + rng.random_range(-0.02..0.02), y));
                }
                for i in (0..=4).rev() {
                    let y = -1.6 + 0.8 * i as f32;
                    points.push((x0 + rng.random_range(-0.02..0.02), y));
                }
                marks.push(Mark {
                    points,
                    color: mix(pink, [0.85, 0.8, 0.78], 0.5),
                    alpha: 1.0,
                    smooth: true,
                });
            }
            Coat::Pink | Coat::Dark | Coat::Red => {}
        }
        // Mud and dung smears, more visible on pale pigs.
        let dirt_count = match coat {
            Coat::Pink | Coat::Spotted => rng.random_range(0..5),
            _ => rng.random_range(0..2),
        };
        for _ in 0..dirt_count {
            let (x, y) = (rng.random_range(-0.45..0.35), rng.random_range(-1.0..1.0));
            marks.push(Mark {
                points: blob(
                    x,
                    y,
                    rng.random_range(0.03..0.12),
                    rng.random_range(0.15..0.5),
                    rng,
                ),
                color: [0.36, 0.28, 0.2],
                alpha: rng.random_range(0.15..0.5),
                smooth: true,
            });
        }
        let ear_color = match coat {
            // Thin ears let light through and look pinker.
            Coat::Pink | Coat::Spotted => scale(skin, [1.0, 0.9, 0.9]),
            _ => scale(skin, [0.9, 0.86, 0.86]),
        };
        let snout_color = match coat {
            Coat::Pink | Coat::Spotted => scale(skin, [0.92, 0.72, 0.72]),
            _ => mix(skin, [0.35, 0.25, 0.25], 0.3),
        };
        Self {
            coat,
            length,
            width,
            skin,
            ear_color,
            snout_color,
            marks,
            head_scale: rng.random_range(0.9..1.1),
            ear_len: rng.random_range(0.3..0.45),
            ear_angle: rng.random_range(0.3..0.85),
            tail_curl: rng.random_range(-1.0..1.0),
            rim: rng.random_range(0.3..0.5),
            sheen,
        }
    }

    /// The radius of a circle that certainly contains the whole pig around its centre.
    pub(crate) fn reach(&self) -> f32 {
        self.length * 0.62 + self.width * 0.5
    }
}

/// A jittered ellipse in body coordinates.
fn blob(x: f32, y: f32, rx: f32, ry: f32, rng: &mut ChaCha8Rng) -> Vec<(f32, f32)> {
    let n = 9;
    let rot: f32 = rng.random_range(0.0..std::f32::consts::TAU);
    (0..n)
        .map(|i| {
            let a = rot + i as f32 / n as f32 * std::f32::consts::TAU;
            let r = rng.random_range(0.7..1.2);
            (x + rx * r * a.cos(), y + ry * r * a.sin())
        })
        .collect()
}

/// Where a pig is and how it is bent at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pose {
    /// Body centre in frame pixels.
    pub(crate) x: f32,
    pub(crate) y: f32,
    /// Direction the body faces, radians (image coordinates, y down).
    pub(crate) heading: f32,
    /// Total bend of the body from rump to shoulders, radians.
    pub(crate) bend: f32,
    /// Extra turn of the head relative to the shoulders, radians.
    pub(crate) head_yaw: f32,
}

/// The bent body frame of one pig in one pose: maps body coordinates to frame pixels.
struct BodyFrame {
    /// Centreline samples: (x in lengths, position, direction angle).
    samples: Vec<(f32, Point, f32)>,
    length: f32,
    half_width: f32,
}

impl BodyFrame {
    const STEPS: usize = 48;

    fn new(looks: &Looks, pose: &Pose) -> Self {
        let angle_at =
            |x: f32| pose.heading + pose.bend * x + pose.head_yaw * crate::noise::smoothstep(0.2, 0.36, x);
        // Integrate the centreline outwards from the body centre in both directions.
        let dx = 1.0 / Self::STEPS as f32;
        let mut samples = vec![(0.0, Point::zero(), 0.0); Self::STEPS + 1];
        let mid = Self::STEPS / 2;
        samples[mid] = (0.0, Point::from_xy(pose.x, pose.y), angle_at(0.0));
        for i in mid + 1..=Self::STEPS {
            let (x0, p0, _) = samples[i - 1];
            let x1 = x0 + dx;
            let a = angle_at((x0 + x1) * 0.5);
            let p1 = Point::from_xy(
                p0.x + a.cos() * dx * looks.length,
                p0.y + a.sin() * dx * looks.length,
            );
            samples[i] = (x1, p1, angle_at(x1));
        }
        for i in (0..mid).rev() {
            let (x1, p1, _) = samples[i + 1];
            let x0 = x1 - dx;
            let a = angle_at((x0 + x1) * 0.5);
            let p0 = Point::from_xy(
                p1.x - a.cos() * dx * looks.length,
                p1.y - a.sin() * dx * looks.length,
            );
            samples[i] = (x0, p0, angle_at(x0));
        }
        Self {
            samples,
            length: looks.length,
            half_width: looks.width * 0.5,
        }
    }

    /// Centre and direction of the centreline at `x`; beyond the body's ends the centreline
    /// continues straight.
    fn at(&self, x: f32) -> (Point, f32) {
        let t = (x + 0.5) * Self::STEPS as f32;
        let i = (t.floor().max(0.0) as usize).min(Self::STEPS - 1);
        let f = (t - i as f32).clamp(0.0, 1.0);
        let (_, p0, a0) = self.samples[i];
        let (_, p1, a1) = self.samples[i + 1];
        let a = a0 + (a1 - a0) * f;
        let p = Point::from_xy(p0.x + (p1.x - p0.x) * f, p0.y + (p1.y - p0.y) * f);
        let beyond = x - x.clamp(-0.5, 0.5);
        (
            Point::from_xy(
                p.x + a.cos() * beyond * self.length,
                p.y + a.sin() * beyond * self.length,
            ),
            a,
        )
    }

    /// Frame position of body coordinates (x in lengths, y in half-widths).
    fn map(&self, x: f32, y: f32) -> Point {
        let (p, a) = self.at(x);
        let off = y * self.half_width;
        Point::from_xy(p.x - a.sin() * off, p.y + a.cos() * off)
    }
}

/// Catmull-Rom interpolation of [`PROFILE`] at `x`.
fn profile(x: f32) -> f32 {
    let k = PROFILE
        .iter()
        .position(|&(px, _)| px > x)
        .unwrap_or(PROFILE.len() - 1);
    let k = k.clamp(1, PROFILE.len() - 1);
    let (x0, y0) = PROFILE[k - 1];
    let (x1, y1) = PROFILE[k];
    let tangent = |i: usize| {
        let a = PROFILE[i.saturating_sub(1)];
        let b = PROFILE[(i + 1).min(PROFILE.len() - 1)];
        (b.1 - a.1) / (b.0 - a.0)
    };
    let (m0, m1) = (tangent(k - 1) * (x1 - x0), tangent(k) * (x1 - x0));
    let t = ((x - x0) / (x1 - x0)).clamp(0.0, 1.0);
    let (t2, t3) = (t * t, t * t * t);
    let y = (2.0 * t3 - 3.0 * t2 + 1.0) * y0
        + (t3 - 2.0 * t2 + t) * m0
        + (-2.0 * t3 + 3.0 * t2) * y1
        + (t3 - t2) * m1;
    y.clamp(0.0, 1.0)
}

/// The geometry of one pig in one pose, in frame pixels.
pub(crate) struct Shape {
    outline: Path,
    /// Both ears, as one path.
    ears: Path,
    tail: Path,
    tail_width: f32,
    frame: BodyFrame,
    /// Pixel bounds of everything drawn for the pig (not its shadow).
    pub(crate) bounds: Rect,
}

impl Shape {
    pub(crate) fn new(looks: &Looks, pose: &Pose) -> Option<Self> {
        let frame = BodyFrame::new(looks, pose);
        let head = |x: f32| {
            if x > 0.2 {
                1.0 + (looks.head_scale - 1.0) * crate::noise::smoothstep(0.2, 0.3, x)
            } else {
                1.0
            }
        };
        // Samples crowd towards the two ends, where the outline curves fastest.
        let xs: Vec<f32> = (0..=OUTLINE_SAMPLES)
            .map(|i| {
                let u = i as f32 / OUTLINE_SAMPLES as f32;
                -0.5 * (u * std::f32::consts::PI).cos()
            })
            .collect();
        let mut pts: Vec<Point> = xs.iter().map(|&x| frame.map(x, profile(x) * head(x))).collect();
        pts.extend(
            xs.iter()
                .rev()
                .skip(1)
                .take(OUTLINE_SAMPLES - 1)
                .map(|&x| frame.map(x, -profile(x) * head(x))),
        );
        let outline = polygon(&pts)?;

        let mut ears = PathBuilder::new();
        ears.push_path(&ear(looks, &frame, 1.0)?);
        ears.push_path(&ear(looks, &frame, -1.0)?);
        let ears = ears.finish()?;

        let (start, a) = frame.at(-0.49);
        let back = (a + std::f32::consts::PI).sin_cos();
        let (bx, by) = (back.1 * looks.length, back.0 * looks.length);
        let (sx, sy) = (-by * looks.tail_curl, bx * looks.tail_curl);
        let mut pb = PathBuilder::new();
        pb.move_to(start.x, start.y);
        pb.cubic_to(
            start.x + bx * 0.06 + sx * 0.05,
            start.y + by * 0.06 + sy * 0.05,
            start.x + bx * 0.10 - sx * 0.03,
            start.y + by * 0.10 - sy * 0.03,
            start.x + bx * 0.08 - sx * 0.06,
            start.y + by * 0.08 - sy * 0.06,
        );
        let tail = pb.finish()?;
        // At least 1.6 px, so the tail's core reaches the silhouette's alpha threshold even when
        // pigs are small.
        let tail_width = (looks.width * 0.05).max(1.6);

        let mut bounds = union(outline.bounds(), ears.bounds())?;
        let tb = tail.bounds();
        let tb = Rect::from_ltrb(
            tb.left() - tail_width,
            tb.top() - tail_width,
            tb.right() + tail_width,
            tb.bottom() + tail_width,
        )?;
        bounds = union(bounds, tb)?;
        Some(Self {
            outline,
            ears,
            tail,
            tail_width,
            frame,
            bounds,
        })
    }

    /// Draws the pig's shadow straight onto the frame.
    pub(crate) fn draw_shadow(&self, canvas: &mut Pixmap, shadow: &ShadowStyle) {
        let mut paint = Paint::default();
        paint.set_color(color([0.0; 3], shadow.alpha));
        let ts = Transform::from_translate(shadow.dx, shadow.dy);
        canvas.fill_path(&self.outline, &paint, FillRule::Winding, ts, None);
    }

    /// Renders the pig into a sprite covering its bounds, lit from the side opposite to `light`
    /// (the unit direction in which shadows fall). Returns the sprite and the frame position of
    /// its top-left pixel.
    pub(crate) fn sprite(&self, looks: &Looks, light: (f32, f32)) -> (Pixmap, i32, i32) {
        let x0 = self.bounds.left().floor() as i32 - 1;
        let y0 = self.bounds.top().floor() as i32 - 1;
        let w = (self.bounds.right().ceil() as i32 + 1 - x0).max(1) as u32;
        let h = (self.bounds.bottom().ceil() as i32 + 1 - y0).max(1) as u32;
        let mut sprite = blank_pixmap(w, h);
        let ts = Transform::from_translate(-x0 as f32, -y0 as f32);
        let mut paint = Paint::default();

        // Tail first so the rump covers its root.
        paint.set_color(color(scale(looks.skin, [0.92, 0.88, 0.88]), 1.0));
        let stroke = Stroke {
            width: self.tail_width,
            line_cap: LineCap::Round,
            ..Stroke::default()
        };
        sprite.stroke_path(&self.tail, &paint, &stroke, ts, None);

        paint.set_color(color(looks.skin, 1.0));
        sprite.fill_path(&self.outline, &paint, FillRule::Winding, ts, None);

        // Everything below only recolours the body: SourceAtop keeps the body's alpha, so the
        // silhouette stays exactly the outline.
        paint.blend_mode = BlendMode::SourceAtop;
        for mark in &looks.marks {
            let pts: Vec<Point> = mark.points.iter().map(|&(x, y)| self.frame.map(x, y)).collect();
            let path = if mark.smooth {
                smooth_closed(&pts)
            } else {
                polygon(&pts)
            };
            if let Some(path) = path {
                paint.set_color(color(mark.color, mark.alpha));
                sprite.fill_path(&path, &paint, FillRule::Winding, ts, None);
            }
        }

        // Snout disc and eyes.
        let (nose, nose_angle) = self.frame.at(0.5);
        let snout_w = self.frame.half_width * 0.3 * looks.head_scale;
        let snout_l = looks.length * 0.045;
        if let Some(oval) =
            Rect::from_xywh(-snout_l, -snout_w, 2.0 * snout_l, 2.0 * snout_w).and_then(PathBuilder::from_oval)
        {
            let place = Transform::from_translate(nose.x, nose.y)
                .pre_rotate(nose_angle.to_degrees())
                .post_concat(ts);
            paint.set_color(color(looks.snout_color, 1.0));
            sprite.fill_path(&oval, &paint, FillRule::Winding, place, None);
        }
        let eye_r = (looks.width * 0.025).max(0.6);
        let mut eyes = PathBuilder::new();
        for side in [1.0, -1.0] {
            let p = self.frame.map(0.40, side * 0.45 * looks.head_scale);
            eyes.push_circle(p.x, p.y, eye_r);
        }
        if let Some(eyes) = eyes.finish() {
            paint.set_color(color([0.08, 0.06, 0.06], 0.8));
            sprite.fill_path(&eyes, &paint, FillRule::Winding, ts, None);
        }

        self.shade(&mut sprite, looks, light, ts);
        self.draw_ears(&mut sprite, looks, light, ts);
        (sprite, x0, y0)
    }

    /// Rim darkening and a soft highlight on the side facing the light give the body some
    /// volume. One focal radial gradient does both, which halves the cost of two fills.
    fn shade(&self, sprite: &mut Pixmap, looks: &Looks, light: (f32, f32), ts: Transform) {
        let (centre, angle) = self.frame.at(-0.03);
        let ellipse = Transform::from_translate(centre.x, centre.y)
            .pre_rotate(angle.to_degrees())
            .pre_scale(looks.length * 0.56, self.frame.half_width * 1.08);
        // The light source lies opposite to where shadows fall; express that direction in the
        // ellipse's unit coordinates, where the highlight sits.
        let (sin, cos) = angle.sin_cos();
        let along = -(light.0 * cos + light.1 * sin);
        let across = -(-light.0 * sin + light.1 * cos);
        let focus = Point::from_xy(along * 0.12, across * 0.3);
        let glow = mix(looks.skin, [1.0; 3], 0.45);
        let Some(shader) = RadialGradient::new(
            focus,
            0.0,
            Point::zero(),
            1.0,
            vec![
                GradientStop::new(0.0, color(glow, looks.sheen)),
                GradientStop::new(0.45, color(glow, 0.0)),
                GradientStop::new(0.62, color([0.0; 3], 0.0)),
                GradientStop::new(1.0, color([0.0; 3], looks.rim)),
            ],
            SpreadMode::Pad,
            ellipse,
        ) else {
            return;
        };
        let paint = Paint {
            shader,
            blend_mode: BlendMode::SourceAtop,
            ..Paint::default()
        };
        sprite.fill_path(&self.outline, &paint, FillRule::Winding, ts, None);
    }

    fn draw_ears(&self, sprite: &mut Pixmap, looks: &Looks, light: (f32, f32), ts: Transform) {
        let mut paint = Paint {
            blend_mode: BlendMode::SourceAtop,
            ..Paint::default()
        };
        // A little shadow cast on the head, clipped to what is already drawn.
        let shadow_ts = Transform::from_translate(light.0 * looks.width * 0.05, light.1 * looks.width * 0.05)
            .post_concat(ts);
        paint.set_color(color([0.0; 3], 0.25));
        sprite.fill_path(&self.ears, &paint, FillRule::Winding, shadow_ts, None);
        paint.blend_mode = BlendMode::SourceOver;
        paint.set_color(color(looks.ear_color, 1.0));
        sprite.fill_path(&self.ears, &paint, FillRule::Winding, ts, None);
        paint.blend_mode = BlendMode::SourceAtop;
        paint.set_color(color([0.0; 3], 0.3));
        let stroke = Stroke {
            width: (looks.width * 0.02).max(0.7),
            ..Stroke::default()
        };
        sprite.stroke_path(&self.ears, &paint, &stroke, ts, None);
    }
}

/// One ear: a rounded leaf lying on the side of the head, pointing forward and out.
fn ear(looks: &Looks, frame: &BodyFrame, side: f32) -> Option<Path> {
    let base = frame.map(EAR_X, side * 0.4 * looks.head_scale);
    let (_, head_angle) = frame.at(EAR_X);
    let dir = head_angle + side * looks.ear_angle;
    let len = looks.ear_len * looks.width;
    let (dx, dy) = (dir.cos(), dir.sin());
    let (px, py) = (-dy, dx);
    let half = looks.width * 0.14;
    let at = |along: f32, across: f32| {
        Point::from_xy(
            base.x + dx * along * len + px * across,
            base.y + dy * along * len + py * across,
        )
    };
    smooth_closed(&[
        at(-0.15, 0.0),
        at(-0.05, half),
        at(0.55, half * 1.1),
        at(1.1, 0.0),
        at(0.55, -half * 1.1),
        at(-0.05, -half),
    ])
}

fn union(a: Rect, b: Rect) -> Option<Rect> {
    Rect::from_ltrb(
        a.left().min(b.left()),
        a.top().min(b.top()),
        a.right().max(b.right()),
        a.bottom().max(b.bottom()),
    )
}

/// How pigs cast shadows in one scene.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShadowStyle {
    pub(crate) dx: f32,
    pub(crate) dy: f32,
    pub(crate) alpha: f32,
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn profile_passes_through_its_control_points_and_stays_in_range() {
        for &(x, y) in &PROFILE[1..PROFILE.len() - 1] {
            assert!((profile(x) - y).abs() < 1e-4, "{x}: {} vs {y}", profile(x));
        }
        for i in 0..=1000 {
            let v = profile(-0.5 + i as f32 / 1000.0);
            assert!((0.0..=1.0).contains(&v));
        }
    }

    #[test]
    fn straight_pig_outline_has_its_length_and_width() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let looks = Looks::random(200.0, &CoatMix::random(&mut rng), &mut rng);
        let pose = Pose {
            x: 300.0,
            y: 200.0,
            heading: 0.0,
            bend: 0.0,
            head_yaw: 0.0,
        };
        let shape = Shape::new(&looks, &pose).unwrap();
        let b = shape.outline.bounds();
        assert!((b.left() - 200.0).abs() < 0.5, "{b:?}");
        assert!((b.right() - 400.0).abs() < 0.5, "{b:?}");
        assert!((b.height() - looks.width).abs() < 0.02 * looks.width, "{b:?}");
        let outer = shape.bounds;
        assert!(outer.left() <= b.left() && outer.top() <= b.top());
        assert!(outer.right() >= b.right() && outer.bottom() >= b.bottom());
    }

    #[test]
    fn sprite_alpha_is_opaque_inside_and_clear_outside() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let looks = Looks::random(120.0, &CoatMix::random(&mut rng), &mut rng);
        let pose = Pose {
            x: 50.5,
            y: 40.25,
            heading: 0.7,
            bend: 0.3,
            head_yaw: -0.4,
        };
        let shape = Shape::new(&looks, &pose).unwrap();
        let (sprite, x0, y0) = shape.sprite(&looks, (0.6, 0.8));
        let alpha = |x: i32, y: i32| sprite.pixel((x - x0) as u32, (y - y0) as u32).unwrap().alpha();
        assert_eq!(alpha(50, 40), 255);
        // The sprite border is always left clear.
        assert_eq!(sprite.pixel(0, 0).unwrap().alpha(), 0);
        let last = (sprite.width() - 1, sprite.height() - 1);
        assert_eq!(sprite.pixel(last.0, last.1).unwrap().alpha(), 0);
    }
}
