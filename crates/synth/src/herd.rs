//! How pigs move around the pen.
//!
//! The pen is larger than the camera's view, so pigs walk out of the frame and back in and the
//! count changes. Each pig alternates between walking to a goal (now and then one outside the
//! view), standing and rooting around, and resting. Bodies are approximated by three circles
//! along the spine; overlapping circles push each other apart, but only down to a fixed allowed
//! overlap, so pigs touch and partly cover each other without passing through.
//!
//! The simulation advances in fixed steps of one frame and all randomness comes from one seeded
//! generator, so a scene replays identically.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::look::SEED_PACE;
use crate::pig::{Looks, Pose};

/// Positions of the collision circles along the spine (in body lengths) and their radii (in
/// body widths).
const CIRCLES: [(f32, f32); 3] = [(-0.28, 0.48), (0.0, 0.5), (0.27, 0.42)];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Activity {
    Walking { goal_x: f32, goal_y: f32 },
    Rooting,
    Resting,
}

/// Motion state of one pig.
#[derive(Debug, Clone)]
struct Motion {
    x: f32,
    y: f32,
    heading: f32,
    speed: f32,
    turn_rate: f32,
    bend: f32,
    head_yaw: f32,
    head_target: f32,
    head_timer: f32,
    activity: Activity,
    /// Seconds left in the current activity.
    timer: f32,
    walk_speed: f32,
    /// Distance to the goal at the last progress check, and seconds until the next check.
    progress: (f32, f32),
}

/// One animal.
#[derive(Debug, Clone)]
pub(crate) struct Pig {
    pub(crate) id: u32,
    pub(crate) looks: Looks,
    motion: Motion,
}

/// Where pigs may go: the pen, and the frame (the part the camera sees) inside it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Area {
    pub(crate) frame_w: f32,
    pub(crate) frame_h: f32,
    /// How far the pen extends beyond each frame edge, in pixels.
    pub(crate) margin: f32,
}

/// All pigs of a scene and the generator that drives them.
#[derive(Debug, Clone)]
pub(crate) struct Herd {
    pigs: Vec<Pig>,
    area: Area,
    dt: f32,
    /// Fraction of walks that head outside the frame.
    roam: f32,
    /// Fraction of summed circle radii that two pigs may overlap by.
    allowed_overlap: f32,
    /// Range of the walking pace, body lengths a second; `None`: the seed's.
    pace: Option<[f32; 2]>,
    rng: ChaCha8Rng,
}

impl Herd {
    /// Places `looks.len()` pigs at random in the pen. `dt` is the step length in seconds, and
    /// each pig walks at a pace drawn from `pace` (body lengths a second; the seed's range where
    /// `None`).
    pub(crate) fn new(
        looks: Vec<Looks>,
        area: Area,
        dt: f32,
        pace: Option<[f32; 2]>,
        mut rng: ChaCha8Rng,
    ) -> Self {
        let allowed_overlap = rng.random_range(0.12..0.3);
        let roam = rng.random_range(0.15..0.3);
        let mut herd = Self {
            pigs: Vec::with_capacity(looks.len()),
            area,
            dt,
            roam,
            allowed_overlap,
            pace,
            rng,
        };
        for (i, looks) in looks.into_iter().enumerate() {
            let motion = herd.place(&looks);
            herd.pigs.push(Pig {
                id: i as u32 + 1,
                looks,
                motion,
            });
        }
        herd
    }

    pub(crate) fn pigs(&self) -> &[Pig] {
        &self.pigs
    }

    /// A random starting state, avoiding heavy overlap with pigs already placed.
    fn place(&mut self, looks: &Looks) -> Motion {
        let (x0, y0, x1, y1) = self.bounds(looks);
        let mut best = (f32::MIN, 0.0, 0.0, 0.0);
        for _ in 0..40 {
            let x = self.rng.random_range(x0..x1);
            let y = self.rng.random_range(y0..y1);
            let heading = self.rng.random_range(-std::f32::consts::PI..std::f32::consts::PI);
            // Slack = how far the closest circle pair is from touching; positive is free.
            let slack = self
                .pigs
                .iter()
                .map(|other| {
                    let mut worst = f32::MAX;
                    for a in circles(looks, x, y, heading) {
                        for b in circles(&other.looks, other.motion.x, other.motion.y, other.motion.heading) {
                            worst = worst.min((a.0 - b.0).hypot(a.1 - b.1) - (a.2 + b.2));
                        }
                    }
                    worst
                })
                .fold(f32::MAX, f32::min);
            if slack > best.0 {
                best = (slack, x, y, heading);
            }
            if slack > 0.0 {
                break;
            }
        }
        let (_, x, y, heading) = best;
        // The seed's draw, mapped into the pace asked for: the same draws whatever the pace.
        let [seed_lo, seed_hi] = SEED_PACE;
        let drawn = self.rng.random_range(seed_lo..seed_hi);
        let pace = self.pace.map_or(drawn, |[lo, hi]| {
            lo + (drawn - seed_lo) / (seed_hi - seed_lo) * (hi - lo)
        });
        let walk_speed = looks.length * pace;
        let mut motion = Motion {
            x,
            y,
            heading,
            speed: 0.0,
            turn_rate: 0.0,
            bend: self.rng.random_range(-0.3..0.3),
            head_yaw: self.rng.random_range(-0.3..0.3),
            head_target: 0.0,
            head_timer: 0.0,
            activity: Activity::Resting,
            timer: 0.0,
            walk_speed,
            progress: (f32::MAX, 2.0),
        };
        self.next_activity(&mut motion, looks);
        // Start part-way through the first activity, already moving if walking.
        motion.timer *= self.rng.random_range(0.1..1.0);
        if matches!(motion.activity, Activity::Walking { .. }) {
            motion.speed = walk_speed;
        }
        motion
    }

    /// Where a pig's centre may be: the pen, less a part of its length so it stays inside.
    fn bounds(&self, looks: &Looks) -> (f32, f32, f32, f32) {
        let a = self.area;
        let inset = looks.length * 0.3;
        (
            -a.margin + inset,
            -a.margin + inset,
            a.frame_w + a.margin - inset,
            a.frame_h + a.margin - inset,
        )
    }

    fn next_activity(&mut self, m: &mut Motion, looks: &Looks) {
        let rng = &mut self.rng;
        let r: f32 = rng.random();
        if r < 0.55 {
            let a = self.area;
            let inset = looks.length * 0.4;
            let (goal_x, goal_y) = if rng.random::<f32>() < self.roam {
                // Somewhere in the band of pen outside the frame.
                let band = (a.margin - inset).max(0.0);
                let along = |rng: &mut ChaCha8Rng, len: f32| rng.random_range(-a.margin..len + a.margin);
                match rng.random_range(0..4) {
                    0 => (-inset - rng.random_range(0.0..=band), along(rng, a.frame_h)),
                    1 => (
                        a.frame_w + inset + rng.random_range(0.0..=band),
                        along(rng, a.frame_h),
                    ),
                    2 => (along(rng, a.frame_w), -inset - rng.random_range(0.0..=band)),
                    _ => (
                        along(rng, a.frame_w),
                        a.frame_h + inset + rng.random_range(0.0..=band),
                    ),
                }
            } else {
                (
                    rng.random_range(
                        inset.min(a.frame_w * 0.5)..(a.frame_w - inset).max(a.frame_w * 0.5 + 1.0),
                    ),
                    rng.random_range(
                        inset.min(a.frame_h * 0.5)..(a.frame_h - inset).max(a.frame_h * 0.5 + 1.0),
                    ),
                )
            };
            m.activity = Activity::Walking { goal_x, goal_y };
            m.timer = rng.random_range(15.0..30.0);
            m.progress = (f32::MAX, 2.0);
        } else if r < 0.8 {
            m.activity = Activity::Rooting;
            m.timer = rng.random_range(2.0..7.0);
        } else {
            m.activity = Activity::Resting;
            m.timer = rng.random_range(2.0..10.0);
        }
    }

    /// Advances every pig by one step.
    pub(crate) fn step(&mut self) {
        let dt = self.dt;
        for i in 0..self.pigs.len() {
            let mut m = self.pigs[i].motion.clone();
            let looks = self.pigs[i].looks.clone();
            self.steer(&mut m, &looks, dt);
            self.pigs[i].motion = m;
        }
        self.separate();
        for i in 0..self.pigs.len() {
            let (x0, y0, x1, y1) = self.bounds(&self.pigs[i].looks);
            let m = &mut self.pigs[i].motion;
            m.x = m.x.clamp(x0, x1);
            m.y = m.y.clamp(y0, y1);
        }
    }

    fn steer(&mut self, m: &mut Motion, looks: &Looks, dt: f32) {
        m.timer -= dt;
        let (mut target_speed, mut target_turn, head_range) = match m.activity {
            Activity::Walking { goal_x, goal_y } => {
                let (dx, dy) = (goal_x - m.x, goal_y - m.y);
                let dist = dx.hypot(dy);
                m.progress.1 -= dt;
                let stuck = m.progress.1 <= 0.0 && m.progress.0 - dist < looks.length * 0.15;
                if m.progress.1 <= 0.0 {
                    m.progress = (dist, 2.0);
                }
                if dist < looks.length * 0.3 || m.timer <= 0.0 || stuck {
                    self.next_activity(m, looks);
                    (0.0, 0.0, 0.2)
                } else {
                    let diff = wrap(dy.atan2(dx) - m.heading);
                    let slow = 1.0 - 0.6 * diff.abs() / std::f32::consts::PI;
                    let arrive = (dist / (looks.length * 0.8)).min(1.0);
                    (
                        m.walk_speed * slow * arrive.max(0.3),
                        (diff * 1.8).clamp(-1.3, 1.3),
                        0.25,
                    )
                }
            }
            Activity::Rooting => (looks.length * 0.06, self.rng.random_range(-0.6..0.6), 0.55),
            Activity::Resting => (0.0, 0.0, 0.15),
        };
        if !matches!(m.activity, Activity::Walking { .. }) && m.timer <= 0.0 {
            self.next_activity(m, looks);
            target_speed = 0.0;
            target_turn = 0.0;
        }
        let ease = |v: &mut f32, target: f32, rate: f32| *v += (target - *v) * (rate * dt).min(1.0);
        ease(&mut m.turn_rate, target_turn, 3.0);
        ease(&mut m.speed, target_speed, 2.0);
        m.heading = wrap(m.heading + m.turn_rate * dt);
        m.x += m.heading.cos() * m.speed * dt;
        m.y += m.heading.sin() * m.speed * dt;
        // Turning pigs bend their body into the turn.
        ease(&mut m.bend, (m.turn_rate * 0.45).clamp(-0.55, 0.55), 4.0);
        m.head_timer -= dt;
        if m.head_timer <= 0.0 {
            m.head_target = self.rng.random_range(-head_range..head_range);
            m.head_timer = self.rng.random_range(0.4..2.5);
        }
        ease(&mut m.head_yaw, m.head_target, 2.5);
    }

    /// Soft repulsion: pushes overlapping pigs apart down to the allowed overlap.
    fn separate(&mut self) {
        let n = self.pigs.len();
        let mut push = vec![(0.0f32, 0.0f32); n];
        for i in 0..n {
            for j in i + 1..n {
                let (a, b) = (&self.pigs[i], &self.pigs[j]);
                let reach = a.looks.reach() + b.looks.reach();
                if (a.motion.x - b.motion.x).hypot(a.motion.y - b.motion.y) > reach {
                    continue;
                }
                let ca = circles(&a.looks, a.motion.x, a.motion.y, a.motion.heading);
                let cb = circles(&b.looks, b.motion.x, b.motion.y, b.motion.heading);
                for p in &ca {
                    for q in &cb {
                        let (dx, dy) = (p.0 - q.0, p.1 - q.1);
                        let d = dx.hypot(dy);
                        let min = (p.2 + q.2) * (1.0 - self.allowed_overlap);
                        if d >= min {
                            continue;
                        }
                        // Coincident centres: separate along a fixed direction.
                        let (ux, uy) = if d > 1e-3 { (dx / d, dy / d) } else { (1.0, 0.0) };
                        let k = (min - d) * 0.25;
                        push[i].0 += ux * k;
                        push[i].1 += uy * k;
                        push[j].0 -= ux * k;
                        push[j].1 -= uy * k;
                    }
                }
            }
        }
        for (pig, (px, py)) in self.pigs.iter_mut().zip(push) {
            // Cap the push so a crowd cannot fling a pig across the pen in one step.
            let cap = pig.looks.length * 0.05;
            let len = px.hypot(py);
            let k = if len > cap { cap / len } else { 1.0 };
            pig.motion.x += px * k;
            pig.motion.y += py * k;
        }
    }

    /// Poses of all pigs, extrapolated `offset` seconds from the current step (for motion
    /// blur; 0 gives the current poses).
    pub(crate) fn poses(&self, offset: f32) -> Vec<Pose> {
        self.pigs
            .iter()
            .map(|p| {
                let m = &p.motion;
                let heading = m.heading + m.turn_rate * offset;
                Pose {
                    x: m.x + heading.cos() * m.speed * offset,
                    y: m.y + heading.sin() * m.speed * offset,
                    heading,
                    bend: m.bend,
                    head_yaw: m.head_yaw,
                }
            })
            .collect()
    }
}

/// Collision circles of a pig: (x, y, radius) in pixels.
fn circles(looks: &Looks, x: f32, y: f32, heading: f32) -> [(f32, f32, f32); 3] {
    let (s, c) = heading.sin_cos();
    CIRCLES.map(|(along, r)| {
        (
            x + c * along * looks.length,
            y + s * along * looks.length,
            r * looks.width,
        )
    })
}

/// Wraps an angle into `(-π, π]`.
fn wrap(a: f32) -> f32 {
    let t = std::f32::consts::TAU;
    let r = a.rem_euclid(t);
    if r > std::f32::consts::PI { r - t } else { r }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::pig::CoatMix;

    fn herd(n: usize, seed: u64) -> Herd {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mix = CoatMix::random(&mut rng);
        let looks = (0..n).map(|_| Looks::random(100.0, &mix, &mut rng)).collect();
        let area = Area {
            frame_w: 640.0,
            frame_h: 360.0,
            margin: 100.0,
        };
        Herd::new(looks, area, 0.04, None, rng)
    }

    #[test]
    fn wrap_keeps_angles_in_range() {
        for a in [-10.0f32, -3.2, 0.0, 3.2, 7.0] {
            let w = wrap(a);
            assert!(w > -std::f32::consts::PI - 1e-6 && w <= std::f32::consts::PI + 1e-6);
            // Same direction as before wrapping.
            assert!((w.cos() - a.cos()).abs() < 1e-5 && (w.sin() - a.sin()).abs() < 1e-5);
        }
    }

    #[test]
    fn pigs_stay_in_the_pen_and_never_overlap_deeply() {
        let mut h = herd(14, 4);
        for _ in 0..1500 {
            h.step();
            for p in h.pigs() {
                let (x0, y0, x1, y1) = h.bounds(&p.looks);
                assert!((x0..=x1).contains(&p.motion.x) && (y0..=y1).contains(&p.motion.y));
            }
        }
        // After settling, no two pigs' central circles overlap by more than about half.
        let pigs = h.pigs();
        for (i, a) in pigs.iter().enumerate() {
            for b in &pigs[i + 1..] {
                let d = (a.motion.x - b.motion.x).hypot(a.motion.y - b.motion.y);
                assert!(
                    d > 0.45 * (a.looks.width + b.looks.width) * 0.5,
                    "{} and {} at {d}",
                    a.id,
                    b.id
                );
            }
        }
    }

    /// A pace asked for sets every pig's walking speed inside it, and changes nothing else the
    /// seed draws: the same pigs start at the same places, and each keeps its rank in speed.
    #[test]
    fn a_pace_sets_the_walking_speed_and_nothing_else() {
        let with = |pace| {
            let mut rng = ChaCha8Rng::seed_from_u64(9);
            let mix = CoatMix::random(&mut rng);
            let looks = (0..10).map(|_| Looks::random(100.0, &mix, &mut rng)).collect();
            let area = Area {
                frame_w: 640.0,
                frame_h: 360.0,
                margin: 100.0,
            };
            Herd::new(looks, area, 0.04, pace, rng)
        };
        let (seeds, fast) = (with(None), with(Some([2.0, 3.0])));
        let paces = |h: &Herd| -> Vec<f32> {
            h.pigs()
                .iter()
                .map(|p| p.motion.walk_speed / p.looks.length)
                .collect()
        };
        let (drawn, asked) = (paces(&seeds), paces(&fast));
        assert!(drawn.iter().all(|p| (0.3..0.7).contains(p)), "{drawn:?}");
        assert!(asked.iter().all(|p| (2.0..3.0).contains(p)), "{asked:?}");
        for (a, b) in drawn.iter().zip(&asked) {
            assert!(((a - 0.3) / 0.4 - (b - 2.0)).abs() < 1e-4, "{a} maps to {b}");
        }
        let starts =
            |h: &Herd| -> Vec<(f32, f32)> { h.pigs().iter().map(|p| (p.motion.x, p.motion.y)).collect() };
        assert_eq!(starts(&seeds), starts(&fast));
        // Faster pigs walk farther in the same 20 s (their paths; where they end up is bounded
        // by the pen).
        let walked = |mut h: Herd| {
            let mut path = 0.0;
            for _ in 0..500 {
                let before = starts(&h);
                h.step();
                path += starts(&h)
                    .iter()
                    .zip(&before)
                    .map(|(a, b)| (a.0 - b.0).hypot(a.1 - b.1))
                    .sum::<f32>();
            }
            path
        };
        let (slow, quick) = (walked(seeds), walked(fast));
        assert!(quick > 2.0 * slow, "{quick} px against {slow} px");
    }

    #[test]
    fn pigs_move_around() {
        let mut h = herd(8, 5);
        let start: Vec<(f32, f32)> = h.pigs().iter().map(|p| (p.motion.x, p.motion.y)).collect();
        for _ in 0..750 {
            h.step();
        }
        let moved = h
            .pigs()
            .iter()
            .zip(&start)
            .filter(|(p, s)| (p.motion.x - s.0).hypot(p.motion.y - s.1) > 100.0)
            .count();
        assert!(moved >= 4, "only {moved} of 8 pigs moved a body length in 30 s");
    }
}
