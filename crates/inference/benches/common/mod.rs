//! What the inference benchmarks share: the ONNX Runtime library, the frames, the statistics.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)] // each bench uses part of it

use std::path::{Path, PathBuf};
use std::time::Duration;

/// `ORT_DYLIB_PATH`, else the library `make setup` put in the checkout.
pub fn ort_lib() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(pigweight_inference::ORT_LIBRARY)
        },
        PathBuf::from,
    )
}

/// The `.png` frames of `dir`, in name order, as RGB; all of one size.
pub fn load_frames(dir: &Path) -> Vec<image::RgbImage> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no .png frames in {}", dir.display());
    paths.iter().map(|p| image::open(p).unwrap().to_rgb8()).collect()
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The `p` quantile (0..=1) of `values`, which it sorts.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}
