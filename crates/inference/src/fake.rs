//! A fake detector, for tests of the layers above inference that need no ONNX Runtime: it
//! finds as many animals in an image as the image's first byte says, so a test that made the
//! pixels (the decode crate's fake video does) knows the exact count of every frame. Its band
//! follows the image's second byte (the fake video's frame number, modulo 256): a number ending
//! in 3 may hold one animal fewer, in 7 one more; every other count is sure. Its backend can be
//! taken away and brought back ([`FakeDetector::outage`]), as a remote server's would be.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::band::{BandRule, CountBand, Detections};
use crate::error::InferenceError;
use crate::input::SmallObjectInput;
use crate::model::{Detector, Health, Image, ModelInfo};
use crate::postprocess::{Detection, OutputLayout, Thresholds};

/// Finds `rgb[0]` animals in each image: squares of nine hundredths of the image's width in rows
/// of ten from the top left (each in a cell a tenth of the width), with score 0.9, class 0.
#[derive(Debug)]
pub struct FakeDetector {
    info: ModelInfo,
    images: Arc<AtomicU64>,
    /// Images asked for at an input of their own.
    own_inputs: Arc<AtomicU64>,
    health: Health,
}

/// Takes a [`FakeDetector`]'s backend away and brings it back.
#[derive(Debug, Clone)]
pub struct Outage(Health);

impl Outage {
    /// From now on every batch fails with [`InferenceError::Unavailable`] (`reason`).
    pub fn begin(&self, reason: &str) {
        self.0.set(Err(reason.to_owned()));
    }

    pub fn end(&self) {
        self.0.set(Ok(()));
    }
}

impl FakeDetector {
    /// A detector whose identity (`hash`) is `name`, taking batches of up to `max_batch`.
    pub fn new(name: &str, max_batch: usize) -> Self {
        Self {
            info: ModelInfo {
                hash: blake3::hash(name.as_bytes()).to_hex().to_string(),
                path: PathBuf::from(format!("{name}.onnx")),
                names: vec!["pig".into()],
                input_size: (640, 640),
                small_objects: None,
                overrides: serde_json::Map::new(),
                stride: 32,
                dynamic_size: true,
                max_batch: Some(max_batch.max(1)),
                layout: OutputLayout::EndToEnd,
                device: "fake".into(),
                counted_classes: Vec::new(),
                thresholds: Thresholds::default(),
                // Its boxes keep off the edges of the tiny test frames by a third of a pixel.
                band: BandRule {
                    edge_px: 0.0,
                    ..BandRule::default()
                },
            },
            images: Arc::new(AtomicU64::new(0)),
            own_inputs: Arc::new(AtomicU64::new(0)),
            health: Health::default(),
        }
    }

    /// The same, with a larger input for videos of small animals.
    pub fn with_small_objects(mut self, rule: SmallObjectInput) -> Self {
        self.info.small_objects = Some(rule);
        self
    }

    /// A counter of the images it was asked to run at an input of their own (not the model's).
    pub fn own_inputs_seen(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.own_inputs)
    }

    /// The switch of its backend, usable after the detector moved into a scheduler.
    pub fn outage(&self) -> Outage {
        Outage(self.health.clone())
    }

    /// A counter of the images it has seen, readable after the detector moved into a scheduler.
    pub fn images_seen(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.images)
    }
}

impl Detector for FakeDetector {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn health(&self) -> Health {
        self.health.clone()
    }

    fn detect(&mut self, images: &[Image<'_>]) -> Result<Vec<Detections>, InferenceError> {
        self.health.ready().map_err(InferenceError::Unavailable)?;
        self.images.fetch_add(images.len() as u64, Ordering::Relaxed);
        let own = images.iter().filter(|i| i.input.is_some()).count();
        self.own_inputs.fetch_add(own as u64, Ordering::Relaxed);
        Ok(images
            .iter()
            .map(|image| {
                let n = image.rgb.first().copied().unwrap_or(0);
                let w = image.width as f32 / 10.0;
                let boxes: Vec<Detection> = (0..n)
                    .map(|k| {
                        // Off the image's edges by half a hundredth of its width.
                        let x = w * (f32::from(k % 10) + 0.05);
                        let y = w * (f32::from(k / 10) + 0.05);
                        Detection {
                            bbox: [x, y, x + w * 0.9, y + w * 0.9],
                            score: 0.9,
                            class: 0,
                        }
                    })
                    .collect();
                let count = u32::from(n);
                let band = match image.rgb.get(1).map(|b| b % 10) {
                    Some(3) => CountBand {
                        low: count.saturating_sub(1),
                        high: count,
                    },
                    Some(7) => CountBand {
                        low: count,
                        high: count + 1,
                    },
                    _ => CountBand::exact(count),
                };
                Detections { boxes, band }
            })
            .collect())
    }
}
