//! Real ONNX Runtime on fixture models with known outputs, one per YOLO output layout.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail the test on the spot

mod common;

use common::{fixture, ort_lib, solid, workspace};
use pigweight_inference::{
    BandRule, Detection, Detector, Device, Image, InferenceError, ModelConfig, OnnxDetector, OutputLayout,
    SmallObjectInput,
};

fn load(name: &str, f: impl FnOnce(&mut ModelConfig)) -> Result<OnnxDetector, InferenceError> {
    let mut config = ModelConfig {
        path: fixture(name),
        threads: 1,
        ..ModelConfig::default()
    };
    f(&mut config);
    OnnxDetector::load(&ort_lib(), &config)
}

/// A red and a black 128x64 image: rect input 64x32, so source pixels are input pixels x2.
fn red_and_black() -> (Vec<u8>, Vec<u8>) {
    (solid(128, 64, [255, 0, 0]), solid(128, 64, [0, 0, 0]))
}

fn images<'a>(red: &'a [u8], black: &'a [u8]) -> [Image<'a>; 2] {
    [
        Image {
            rgb: red,
            width: 128,
            height: 64,
            input: None,
        },
        Image {
            rgb: black,
            width: 128,
            height: 64,
            input: None,
        },
    ]
}

fn summary(dets: &[Detection]) -> Vec<(u32, [f32; 4], f32)> {
    dets.iter()
        .map(|d| (d.class, d.bbox, (d.score * 1000.0).round() / 1000.0))
        .collect()
}

const PIG: [f32; 4] = [44.0, 22.0, 84.0, 42.0];
const PERSON: [f32; 4] = [12.0, 12.0, 28.0, 28.0];

#[test]
fn anchors_layout_with_a_dynamic_batch() {
    let mut det = load("anchors_dynamic.onnx", |_| {}).unwrap();
    let info = det.info().clone();
    assert_eq!(info.layout, OutputLayout::Anchors { classes: 2 });
    assert_eq!(info.names, ["pig", "person"]);
    assert_eq!(info.input_size, (64, 64));
    assert!(info.dynamic_size);
    assert_eq!(info.max_batch, None);
    assert_eq!(info.device, "cpu");
    assert_eq!(info.hash.len(), 64);

    let (red, black) = red_and_black();
    let out = det.detect(&images(&red, &black)).unwrap();
    assert_eq!(summary(&out[0].boxes), vec![(0, PIG, 1.0), (1, PERSON, 0.9)]);
    assert_eq!(summary(&out[1].boxes), vec![(1, PERSON, 0.9)]);

    // A size asked for wins over the metadata's.
    let resized = load("anchors_dynamic.onnx", |c| c.input_size = Some(96)).unwrap();
    assert_eq!(resized.info().input_size, (96, 96));
}

/// The confidence and NMS IoU given fall back on the model's own counting operating point one by
/// one: a confidence asked for does not throw away the model's IoU for Ultralytics' 0.7.
#[test]
fn each_threshold_not_given_is_the_models_own() {
    let thresholds = |confidence: Option<f32>, iou: Option<f32>| {
        let config = ModelConfig {
            path: workspace().join("models/pigs.onnx"),
            threads: 1,
            confidence,
            iou,
            ..ModelConfig::default()
        };
        let info = OnnxDetector::load(&ort_lib(), &config).unwrap().info().clone();
        (info.thresholds.confidence, info.thresholds.iou)
    };
    // The sample model's metadata: count_confidence 0.5, count_iou 0.5.
    assert_eq!(thresholds(None, None), (0.5, 0.5));
    assert_eq!(thresholds(Some(0.45), None), (0.45, 0.5));
    assert_eq!(thresholds(None, Some(0.6)), (0.5, 0.6));
    assert_eq!(thresholds(Some(0.3), Some(0.4)), (0.3, 0.4));
    // A model without them: Ultralytics' defaults, each where not given.
    let info = load("anchors_dynamic.onnx", |c| c.confidence = Some(0.3))
        .unwrap()
        .info()
        .clone();
    assert_eq!((info.thresholds.confidence, info.thresholds.iou), (0.3, 0.7));
}

#[test]
fn anchors_layout_with_a_dynamic_anchor_axis() {
    let mut det = load("anchors_dynamic_size.onnx", |_| {}).unwrap();
    assert_eq!(det.info().layout, OutputLayout::Anchors { classes: 2 });
    let (red, black) = red_and_black();
    let out = det.detect(&images(&red, &black)).unwrap();
    assert_eq!(summary(&out[0].boxes), vec![(0, PIG, 1.0), (1, PERSON, 0.9)]);
    assert_eq!(summary(&out[1].boxes), vec![(1, PERSON, 0.9)]);
}

#[test]
fn class_filter_counts_only_what_is_asked() {
    let mut det = load("anchors_dynamic.onnx", |c| c.classes = vec!["pig".into()]).unwrap();
    assert_eq!(det.info().counted_classes, [0]);
    let (red, black) = red_and_black();
    let out = det.detect(&images(&red, &black)).unwrap();
    assert_eq!(summary(&out[0].boxes), vec![(0, PIG, 1.0)]);
    assert!(out[1].boxes.is_empty());
    assert!(matches!(
        load("anchors_dynamic.onnx", |c| c.classes = vec!["cow".into()]),
        Err(InferenceError::UnsupportedModel(_))
    ));
}

#[test]
fn static_batches() {
    let (red, black) = red_and_black();
    let mut one = load("anchors_static1.onnx", |_| {}).unwrap();
    assert_eq!(one.info().max_batch, Some(1));
    assert!(matches!(
        one.detect(&images(&red, &black)),
        Err(InferenceError::Shape(_))
    ));
    let out = one.detect(&images(&red, &black)[1..]).unwrap();
    assert_eq!(summary(&out[0].boxes), vec![(1, PERSON, 0.9)]);

    // A batch of 2 in a model of 4: the spare slots are filled and ignored.
    let mut four = load("anchors_static4.onnx", |_| {}).unwrap();
    assert_eq!(four.info().max_batch, Some(4));
    let out = four.detect(&images(&red, &black)).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(summary(&out[0].boxes), vec![(0, PIG, 1.0), (1, PERSON, 0.9)]);
    assert_eq!(summary(&out[1].boxes), vec![(1, PERSON, 0.9)]);
}

#[test]
fn objectness_layout() {
    let mut det = load("objectness_dynamic.onnx", |_| {}).unwrap();
    assert_eq!(det.info().layout, OutputLayout::Objectness { classes: 2 });
    let (red, black) = red_and_black();
    let out = det.detect(&images(&red, &black)).unwrap();
    assert_eq!(summary(&out[0].boxes), vec![(0, PIG, 1.0), (1, PERSON, 0.4)]);
    assert_eq!(summary(&out[1].boxes), vec![(1, PERSON, 0.4)]);
}

#[test]
fn end_to_end_layout() {
    let mut det = load("end_to_end_dynamic.onnx", |_| {}).unwrap();
    assert_eq!(det.info().layout, OutputLayout::EndToEnd);
    let (red, black) = red_and_black();
    let out = det.detect(&images(&red, &black)).unwrap();
    assert_eq!(summary(&out[0].boxes), vec![(0, PIG, 1.0), (1, PERSON, 0.75)]);
    assert_eq!(summary(&out[1].boxes), vec![(1, PERSON, 0.75)]);
}

#[test]
fn images_of_different_sizes_share_a_square_input() {
    let mut det = load("anchors_dynamic.onnx", |_| {}).unwrap();
    let red = solid(128, 64, [255, 0, 0]);
    let small = solid(64, 64, [255, 0, 0]);
    let out = det
        .detect(&[
            Image {
                rgb: &red,
                width: 128,
                height: 64,
                input: None,
            },
            Image {
                rgb: &small,
                width: 64,
                height: 64,
                input: None,
            },
        ])
        .unwrap();
    // 64x64 input: the 128x64 image is scaled by 0.5 and padded 16 rows above; its red mean
    // is diluted by the grey padding (half the rows): 0.5 + 0.5 * 114/255.
    let diluted = 0.5 + 0.5 * 114.0 / 255.0;
    let pig = out[0].boxes.iter().find(|d| d.class == 0).unwrap();
    assert!((pig.score - diluted).abs() < 1e-4, "{:?}", out[0]);
    // Scaled by 0.5 and moved down 16 rows: the box (22, 11)-(42, 21) comes back to
    // (44, -10)-(84, 10), clamped to the image.
    assert_eq!(pig.bbox, [44.0, 0.0, 84.0, 10.0]);
    assert_eq!(summary(&out[1].boxes)[0], (0, [22.0, 11.0, 42.0, 21.0], 1.0));
}

/// The fixture's pig box is fixed in input pixels, so where it lands in the image says which
/// input the image went in at.
#[test]
fn an_image_goes_in_at_its_own_input_size() {
    let mut det = load("anchors_dynamic.onnx", |_| {}).unwrap();
    let (red, black) = red_and_black();
    let at = |rgb, input| Image {
        rgb,
        width: 128,
        height: 64,
        input,
    };
    // Input 128: rect 128x64, the image's own size, so the box comes back as the model gave it.
    let out = det.detect(&[at(&red, Some(128)), at(&black, Some(128))]).unwrap();
    assert_eq!(summary(&out[0].boxes)[0], (0, [22.0, 11.0, 42.0, 21.0], 1.0));
    // The model's own 64: rect 64x32, source pixels are input pixels x2.
    let out = det.detect(&[at(&red, None)]).unwrap();
    assert_eq!(summary(&out[0].boxes)[0], (0, PIG, 1.0));
    // Images asking for different inputs share the model's square (64x64: scaled by 0.5,
    // padded 16 rows above), as images of different sizes do.
    let out = det.detect(&[at(&red, Some(128)), at(&black, None)]).unwrap();
    let pig = out[0].boxes.iter().find(|d| d.class == 0).unwrap();
    assert_eq!(pig.bbox, [44.0, 0.0, 84.0, 10.0]);
}

/// The larger input for small animals comes from the configuration, else the model's metadata;
/// where the configuration changes the input or the band rule, that is part of what the
/// model's results are (its identity).
#[test]
fn what_the_configuration_changes_is_part_of_the_identity() {
    let plain = load("anchors_dynamic.onnx", |_| {}).unwrap().info().clone();
    assert_eq!(plain.small_objects, None);
    let small = load("anchors_dynamic.onnx", |c| c.small_object_input = Some(96))
        .unwrap()
        .info()
        .clone();
    assert_eq!(
        small.small_objects,
        Some(SmallObjectInput {
            size: 96,
            below: SmallObjectInput::DEFAULT_BELOW
        })
    );
    let resized = load("anchors_dynamic.onnx", |c| c.input_size = Some(96))
        .unwrap()
        .info()
        .clone();
    let ids = [plain.identity(), small.identity(), resized.identity()];
    assert!(
        ids[0] != ids[1] && ids[0] != ids[2] && ids[1] != ids[2],
        "{ids:?}"
    );
    let off = load("anchors_dynamic.onnx", |c| c.small_object_input = Some(0)).unwrap();
    assert_eq!(off.info().small_objects, None);
    // So is a band rule other than the default; the default given is no change.
    let rule = BandRule {
        below: 0.3,
        ..BandRule::default()
    };
    let banded = load("anchors_dynamic.onnx", |c| c.band = Some(rule.clone())).unwrap();
    assert_eq!(banded.info().band, rule);
    assert_ne!(banded.info().identity(), plain.identity());
    let default = load("anchors_dynamic.onnx", |c| c.band = Some(BandRule::default())).unwrap();
    assert_eq!(default.info().identity(), plain.identity());
}

#[test]
fn bad_models_are_clear_errors_at_load() {
    assert!(matches!(
        load("missing.onnx", |_| {}),
        Err(InferenceError::ModelNotFound(_))
    ));
    assert!(matches!(
        load("not_a_model.onnx", |_| {}),
        Err(InferenceError::BadModel { .. })
    ));
    let err = load("unsupported_layout.onnx", |_| {}).unwrap_err();
    assert!(matches!(err, InferenceError::UnsupportedModel(_)), "{err}");
    let err = load("wrong_input_rank.onnx", |_| {}).unwrap_err();
    assert!(matches!(err, InferenceError::UnsupportedModel(_)), "{err}");
    assert!(err.to_string().contains("[N, 3, H, W]"), "{err}");
}

#[test]
fn cuda_without_a_cuda_runtime() {
    // The CPU build of ONNX Runtime has no CUDA provider: a clear error, or an explicit fallback.
    let err = load("anchors_dynamic.onnx", |c| c.device = Device::Cuda(0)).unwrap_err();
    assert!(matches!(err, InferenceError::ProviderUnavailable { .. }), "{err}");
    let det = load("anchors_dynamic.onnx", |c| c.device = Device::Auto).unwrap();
    assert_eq!(det.info().device, "cpu");
}

#[test]
fn the_scheduler_batches_a_real_model() {
    use pigweight_inference::{Priority, Scheduler, SchedulerConfig, SharedImage};
    use std::sync::Arc;

    let det = load("anchors_dynamic.onnx", |_| {}).unwrap();
    let scheduler = Scheduler::start(
        Box::new(det),
        SchedulerConfig {
            max_wait_ms: 50,
            ..Default::default()
        },
    )
    .unwrap();
    let (red, black) = red_and_black();
    let (red, black): (Arc<Vec<u8>>, Arc<Vec<u8>>) = (Arc::new(red), Arc::new(black));
    let tickets: Vec<_> = (0..8)
        .map(|i| {
            let pixels = if i % 2 == 0 { red.clone() } else { black.clone() };
            let image = SharedImage {
                pixels,
                width: 128,
                height: 64,
                input: None,
            };
            scheduler.submit(image, Priority::Background).unwrap()
        })
        .collect();
    for (i, t) in tickets.into_iter().enumerate() {
        let dets = t.wait().unwrap();
        let expected = if i % 2 == 0 {
            vec![(0, PIG, 1.0), (1, PERSON, 0.9)]
        } else {
            vec![(1, PERSON, 0.9)]
        };
        assert_eq!(summary(&dets.boxes), expected, "image {i}");
    }
    let m = scheduler.metrics();
    assert_eq!(m.background.completed, 8);
    assert!(
        m.batch_sizes.iter().skip(2).sum::<u64>() > 0,
        "{:?}",
        m.batch_sizes
    );
}
