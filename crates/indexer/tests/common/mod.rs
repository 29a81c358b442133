//! A real scheduler on the shipped pig model, and a synthetic pen video.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use pigweight_indexer::IndexKey;
use pigweight_inference::{ModelConfig, OnnxDetector, Scheduler, SchedulerConfig};
use pigweight_synth::{VideoConfig, render_video};

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn scheduler() -> (Scheduler, IndexKey) {
    let lib = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(pigweight_inference::ORT_LIBRARY));
    let config = ModelConfig {
        path: workspace().join("models/pigs.onnx"),
        ..ModelConfig::default()
    };
    let detector = OnnxDetector::load(&lib, &config).unwrap();
    let key = IndexKey::new(pigweight_inference::Detector::info(&detector), 1.0);
    (
        Scheduler::start(Box::new(detector), SchedulerConfig::default()).unwrap(),
        key,
    )
}

pub fn video(dir: &Path) -> PathBuf {
    let path = dir.join("pen.mp4");
    let cfg = VideoConfig {
        width: 640,
        height: 360,
        duration_s: 12.0,
        seed: 9601,
        pigs: [6, 12],
        ..VideoConfig::default()
    };
    render_video(&cfg, &path).unwrap();
    path
}
