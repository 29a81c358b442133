//! Our letterbox, output decoding and NMS against Ultralytics' own `predict` on the same model
//! and images: the same detections survive, and every box agrees within 1 px.
//!
//! The expectations come from `models/train/ultralytics_reference.py` (run by `make model`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{ort_lib, workspace};
use pigweight_inference::{Detection, Detector, Image, ModelConfig, OnnxDetector, Thresholds};
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Deserialize)]
struct Expected {
    ultralytics: String,
    model_sha256: String,
    /// [height, width] Ultralytics ran at: the model's training size.
    imgsz: [u32; 2],
    conf: f32,
    iou: f32,
    max_det: usize,
    images: BTreeMap<String, Vec<Theirs>>,
}

#[derive(Debug, Deserialize)]
struct Theirs {
    #[serde(rename = "box")]
    bbox: [f32; 4],
    score: f32,
    class: u32,
}

/// The greatest distance between corresponding box edges.
fn edge_distance(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn detections_match_ultralytics_predict_within_one_pixel() {
    let dir = workspace().join("crates/inference/tests/data/ultralytics");
    let expected: Expected =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let model = workspace().join("models/pigs.onnx");
    let sha = format!("{:x}", Sha256::digest(std::fs::read(&model).unwrap()));
    assert_eq!(
        sha, expected.model_sha256,
        "expected.json was made for another model: run models/train/ultralytics_reference.py"
    );
    // At Ultralytics' size, not the model's own counting size (`count_imgsz`).
    assert_eq!(expected.imgsz[0], expected.imgsz[1]);
    assert_eq!(expected.max_det, Thresholds::default().max_detections);
    let config = ModelConfig {
        path: model,
        input_size: Some(expected.imgsz[0]),
        confidence: Some(expected.conf),
        iou: Some(expected.iou),
        ..ModelConfig::default()
    };
    let mut detector = OnnxDetector::load(&ort_lib(), &config).unwrap();
    assert_eq!(expected.images.len(), 3);
    let mut compared = 0;
    for (name, theirs) in &expected.images {
        let rgb = image::open(dir.join(name)).unwrap().to_rgb8();
        let image = Image {
            rgb: rgb.as_raw(),
            width: rgb.width(),
            height: rgb.height(),
            input: None,
        };
        let ours = detector.detect(&[image]).unwrap().remove(0).boxes;
        assert_eq!(
            ours.len(),
            theirs.len(),
            "{name}: we found {} pigs, Ultralytics {} {}",
            ours.len(),
            expected.ultralytics,
            theirs.len()
        );
        let mut unmatched: Vec<&Detection> = ours.iter().collect();
        for t in theirs {
            let (i, distance) = unmatched
                .iter()
                .enumerate()
                .map(|(i, o)| (i, edge_distance(&o.bbox, &t.bbox)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            let o = unmatched.remove(i);
            assert!(distance <= 1.0, "{name}: {t:?} is {distance} px from ours {o:?}");
            // Our resize (fast_image_resize) and cv2's fixed-point bilinear differ by a level
            // here and there. Scores agree within 0.001, except on a pig the image's edge cuts
            // in half, where the model is least sure and the score steepest (stage 7's model:
            // 0.705 against 0.695 on pen-544x416).
            assert!(
                (o.score - t.score).abs() < 0.02,
                "{name}: score {} vs {t:?}",
                o.score
            );
            assert_eq!(o.class, t.class, "{name}");
            compared += 1;
        }
    }
    assert!(compared >= 12, "only {compared} detections compared");
}
