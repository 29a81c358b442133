//! What the model run logs reaches the submitter's span (a request's, the indexer's), although
//! the run happens on the scheduler's own thread.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use pigweight_inference::{
    BandRule, Detection, Detections, Detector, Image, InferenceError, ModelInfo, OutputLayout, Priority,
    Scheduler, SchedulerConfig, SharedImage, Thresholds,
};

/// One box per image.
struct OneBox(ModelInfo);

impl Detector for OneBox {
    fn info(&self) -> &ModelInfo {
        &self.0
    }

    fn detect(&mut self, images: &[Image<'_>]) -> Result<Vec<Detections>, InferenceError> {
        Ok(images
            .iter()
            .map(|_| {
                Detections::exact(vec![Detection {
                    bbox: [0.0, 0.0, 1.0, 1.0],
                    score: 1.0,
                    class: 0,
                }])
            })
            .collect())
    }
}

/// Everything logged, as text.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_model_run_is_logged_in_the_span_of_who_asked() {
    let log = Log::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let info = ModelInfo {
        hash: "h".into(),
        path: "m.onnx".into(),
        names: vec!["pig".into()],
        input_size: (64, 64),
        small_objects: None,
        overrides: serde_json::Map::new(),
        stride: 32,
        dynamic_size: true,
        max_batch: Some(4),
        layout: OutputLayout::EndToEnd,
        device: "cpu".into(),
        counted_classes: Vec::new(),
        thresholds: Thresholds::default(),
        band: BandRule::default(),
    };
    let scheduler = Scheduler::start(Box::new(OneBox(info)), SchedulerConfig::default()).unwrap();
    let image = SharedImage {
        pixels: Arc::new(vec![0u8; 2 * 2 * 3]),
        width: 2,
        height: 2,
        input: None,
    };
    let found = tracing::info_span!("request", id = 41)
        .in_scope(|| scheduler.detect_blocking(image, Priority::Interactive))
        .unwrap();
    assert_eq!(found.count(), 1);
    drop(scheduler);
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("model ran"))
        .unwrap_or_else(|| panic!("no model run logged:\n{text}"));
    assert!(line.contains("request{id=41}"), "{line}");
    assert!(line.contains("found=1"), "{line}");
}
