//! Small deterministic noise helpers: an integer hash, lattice value noise and its fractal sum.
//!
//! These are used for textures that are computed once per scene (the floor, the lighting map),
//! so they favour being simple and reproducible over being fast.

/// Mixes three integers into a well-spread 32-bit hash (a "lowbias32"-style finaliser).
pub(crate) fn hash3(x: i32, y: i32, seed: u32) -> u32 {
    let mut h = (x as u32).wrapping_mul(0x8da6_b343)
        ^ (y as u32).wrapping_mul(0xd816_3841)
        ^ seed.wrapping_mul(0xcb1a_b31f);
    h ^= h >> 16;
    h = h.wrapping_mul(0x7feb_352d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846c_a68b);
    h ^= h >> 16;
    h
}

/// Maps a hash to `[0, 1)`.
pub(crate) fn unit(h: u32) -> f32 {
    (h >> 8) as f32 / (1u32 << 24) as f32
}

/// Mixes a 64-bit value (SplitMix64's finaliser); used to derive independent seeds.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn smooth(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

/// Value noise on the integer lattice with smooth interpolation, in `[0, 1)`.
pub(crate) fn value_noise(x: f32, y: f32, seed: u32) -> f32 {
    let (fx, fy) = (x.floor(), y.floor());
    let (ix, iy) = (fx as i32, fy as i32);
    let (tx, ty) = (smooth(x - fx), smooth(y - fy));
    let v00 = unit(hash3(ix, iy, seed));
    let v10 = unit(hash3(ix + 1, iy, seed));
    let v01 = unit(hash3(ix, iy + 1, seed));
    let v11 = unit(hash3(ix + 1, iy + 1, seed));
    let top = v00 + (v10 - v00) * tx;
    let bottom = v01 + (v11 - v01) * tx;
    top + (bottom - top) * ty
}

/// Fractal sum of `octaves` value-noise layers, each twice the frequency and half the weight of
/// the previous one, normalised back to `[0, 1)`.
pub(crate) fn fbm(x: f32, y: f32, octaves: u32, seed: u32) -> f32 {
    let (mut sum, mut weight, mut total, mut freq) = (0.0, 1.0, 0.0, 1.0);
    for octave in 0..octaves {
        sum += weight * value_noise(x * freq, y * freq, seed.wrapping_add(octave * 1013));
        total += weight;
        weight *= 0.5;
        freq *= 2.0;
    }
    sum / total
}

/// Hermite step from 0 at `edge0` to 1 at `edge1`.
pub(crate) fn smoothstep(edge0: f32, edge1: f32, x: f32) -> f32 {
    smooth(((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_stays_in_unit_range_and_depends_on_seed() {
        let mut differs = false;
        for i in 0..500 {
            let (x, y) = (i as f32 * 0.37, i as f32 * 0.11);
            let a = fbm(x, y, 4, 1);
            assert!((0.0..1.0).contains(&a), "{a}");
            differs |= (a - fbm(x, y, 4, 2)).abs() > 1e-3;
        }
        assert!(differs);
    }

    #[test]
    fn value_noise_is_continuous_across_cells() {
        let left = value_noise(2.0 - 1e-4, 5.5, 7);
        let right = value_noise(2.0 + 1e-4, 5.5, 7);
        assert!((left - right).abs() < 1e-3, "{left} vs {right}");
    }
}
