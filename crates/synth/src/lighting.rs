//! Scene lighting, applied as the last step of every frame.
//!
//! Light is a fixed per-pixel, per-channel gain map (vignette, a gradient across the pen, warm
//! heat-lamp pools, a colour cast) times a global gain that drifts slowly over time, plus
//! sensor grain. The map is computed once per scene; per frame only a multiply and an add per
//! channel remain, which keeps the pass to a few milliseconds at 720p.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::noise::mix64;

/// Length of the grain table; a prime so that rows do not line up with the table's period.
const GRAIN_LEN: usize = 65_521;

/// One slow sinusoidal brightness drift.
#[derive(Debug, Clone, Copy)]
struct Drift {
    amplitude: f32,
    period_s: f32,
    phase: f32,
}

/// The lighting of one scene.
#[derive(Debug, Clone)]
pub(crate) struct Lighting {
    /// Gain per pixel and channel in RGBA order, fixed point with 256 = 1.0; alpha's gain is 0.
    map: Vec<u16>,
    exposure: f32,
    drifts: [Drift; 2],
    /// Grain per pixel and channel in RGBA order: one luma value repeated for R, G and B, and
    /// 255 for alpha, so that the same arithmetic on every byte yields an opaque pixel.
    grain: Vec<i16>,
    grain_seed: u64,
}

impl Lighting {
    pub(crate) fn new(width: u32, height: u32, rng: &mut ChaCha8Rng) -> Self {
        let (w, h) = (width as f32, height as f32);
        let vignette = rng.random_range(0.05..0.45f32);
        let (cx, cy) = (w * rng.random_range(0.35..0.65), h * rng.random_range(0.35..0.65));
        let r_max2 = (w * w + h * h) * 0.25;
        let grad_angle: f32 = rng.random_range(0.0..std::f32::consts::TAU);
        let grad_strength = rng.random_range(0.0..0.3f32);
        let (gx, gy) = (grad_angle.cos(), grad_angle.sin());
        let grad_norm = gx.abs() * w + gy.abs() * h;
        let tint = if rng.random_bool(0.3) {
            // Warm tungsten or cool fluorescent cast.
            if rng.random_bool(0.5) {
                [1.06, 1.0, 0.88]
            } else {
                [0.95, 1.0, 1.06]
            }
        } else {
            [
                1.0 + rng.random_range(-0.04..0.04),
                1.0,
                1.0 + rng.random_range(-0.04..0.04),
            ]
        };
        let lamps: Vec<(f32, f32, f32, f32)> = (0..[0, 0, 0, 1, 2][rng.random_range(0..5)])
            .map(|_| {
                let r = rng.random_range(0.15..0.4) * w.max(h);
                (
                    rng.random_range(-0.1..1.1) * w,
                    rng.random_range(-0.1..1.1) * h,
                    r * r,
                    rng.random_range(0.15..0.5),
                )
            })
            .collect();
        const WARM: [f32; 3] = [1.0, 0.7, 0.4];

        let mut map = Vec::with_capacity(width as usize * height as usize * 4);
        for y in 0..height {
            let fy = y as f32 + 0.5;
            for x in 0..width {
                let fx = x as f32 + 0.5;
                let d2 = (fx - cx).powi(2) + (fy - cy).powi(2);
                let vig = 1.0 - vignette * (d2 / r_max2).min(1.5);
                let grad = 1.0 + grad_strength * ((fx - w / 2.0) * gx + (fy - h / 2.0) * gy) / grad_norm;
                let lamp: f32 = lamps
                    .iter()
                    .map(|&(lx, ly, r2, s)| s * (-((fx - lx).powi(2) + (fy - ly).powi(2)) / r2).exp())
                    .sum();
                for c in 0..3 {
                    let gain = vig * grad * tint[c] + lamp * WARM[c];
                    map.push((gain.clamp(0.0, 2.5) * 256.0).round() as u16); // At most 640.
                }
                map.push(0);
            }
        }

        let sigma = rng.random_range(1.0..3.5f32);
        let grain = (0..GRAIN_LEN)
            .flat_map(|_| {
                let s: f32 = (0..3).map(|_| rng.random::<f32>()).sum::<f32>() - 1.5;
                let n = (s * 2.0 * sigma).round().clamp(-127.0, 127.0) as i16;
                [n, n, n, 255]
            })
            .collect();
        let mut drift = || Drift {
            amplitude: rng.random_range(0.02..0.08),
            period_s: rng.random_range(15.0..80.0),
            phase: rng.random_range(0.0..std::f32::consts::TAU),
        };
        let drifts = [drift(), drift()];
        Self {
            map,
            exposure: rng.random_range(0.8..1.12),
            drifts,
            grain,
            grain_seed: rng.random(),
        }
    }

    /// Sets the scene's exposure (1: as its light is set up), in place of the one drawn.
    pub(crate) fn set_exposure(&mut self, exposure: f32) {
        self.exposure = exposure;
    }

    /// Global gain at time `t` seconds.
    pub(crate) fn gain(&self, t: f64) -> f32 {
        let drift: f32 = self
            .drifts
            .iter()
            .map(|d| {
                let angle = (t / f64::from(d.period_s)).fract() as f32 * std::f32::consts::TAU;
                d.amplitude * (angle + d.phase).sin()
            })
            .sum();
        self.exposure * (1.0 + drift)
    }

    /// Lights the opaque RGBA image `src` into `dst` for frame `frame_index` shown at `t`.
    ///
    /// The grain pattern depends only on the scene and the frame index, so rendering the same
    /// frame twice gives the same pixels.
    pub(crate) fn apply(&self, src: &[u8], dst: &mut [u8], t: f64, frame_index: u64) {
        // All products are "multiply high" of two u16 values, which compiles to one SIMD
        // instruction even on baseline x86-64 (32-bit lane multiplies would not vectorise).
        let gain = ((self.gain(t) * 256.0).round() as u16).min(4095) << 4;
        let mul_hi = |a: u16, b: u16| ((u32::from(a) * u32::from(b)) >> 16) as u16;
        let mut k = 4 * (mix64(self.grain_seed ^ frame_index) % GRAIN_LEN as u64) as usize;
        let mut start = 0;
        // Runs over which the grain table does not wrap, each a flat loop over bytes.
        while start < src.len() {
            let run = (src.len() - start).min(self.grain.len() - k);
            let range = start..start + run;
            let bytes = src[range.clone()]
                .iter()
                .zip(&mut dst[range.clone()])
                .zip(&self.map[range])
                .zip(&self.grain[k..k + run]);
            for (((&s, d), &m), &n) in bytes {
                // m and the gain are 8.8 fixed point: b = m * gain / 256, then s * b / 256.
                let b = mul_hi(m << 4, gain);
                let v = mul_hi(u16::from(s) << 8, b) as i16 + n;
                *d = v.clamp(0, 255) as u8;
            }
            start += run;
            k = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn lighting_is_deterministic_per_frame_and_varies_across_frames() {
        let light = Lighting::new(40, 30, &mut ChaCha8Rng::seed_from_u64(3));
        let src = vec![128u8; 40 * 30 * 4];
        let mut a = vec![0u8; src.len()];
        let mut b = vec![0u8; src.len()];
        light.apply(&src, &mut a, 1.0, 25);
        light.apply(&src, &mut b, 1.0, 25);
        assert_eq!(a, b);
        light.apply(&src, &mut b, 1.0, 26);
        assert_ne!(a, b, "grain must change from frame to frame");
        assert!(a.chunks_exact(4).all(|px| px[3] == 255));
    }

    #[test]
    fn gain_drifts_slowly_within_bounds() {
        let light = Lighting::new(8, 8, &mut ChaCha8Rng::seed_from_u64(9));
        let gains: Vec<f32> = (0..1500).map(|i| light.gain(i as f64 / 25.0)).collect();
        for g in &gains {
            assert!((0.8 * 0.84..=1.12 * 1.16).contains(g), "{g}");
        }
        // Adjacent frames differ by well under 1% (no flicker).
        assert!(gains.windows(2).all(|w| (w[0] - w[1]).abs() < 0.01));
        let (lo, hi) = gains
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), &g| (lo.min(g), hi.max(g)));
        assert!(hi - lo > 0.01, "brightness should drift over a minute");
    }
}
