//! Which input a video's frames go in at: the model's own size, or a larger one where the
//! animals are small in the frame.
//!
//! A larger input finds small, far animals that the model's own size misses, and loses big
//! ones that fill it (models/README.md, "An input sized to the pigs"). So the choice is made
//! per video, from the animals the model finds at its own size on a few of the video's frames
//! (the indexer's probe), and every frame of the video then goes in at the chosen size.

use serde::{Deserialize, Serialize};

use crate::band::Detections;

/// How many frames a video's input is chosen from: keyframes spread over a file, the first
/// frames inferred of a live stream.
pub const PROBE_FRAMES: usize = 5;

/// The larger input for videos whose animals are small.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SmallObjectInput {
    /// Square input size for them (at its minimal "rect" shape, as the model's own).
    pub size: u32,
    /// Animals whose typical length is under this share of the frame's short side are small.
    /// The typical length is the median, over the probed frames, of the longer side of each
    /// counted box fully in view.
    pub below: f32,
}

impl SmallObjectInput {
    /// `below` unless the model or the configuration says otherwise: chosen for the sample
    /// model on a tuning grid of the envelope (models/README.md, "An input sized to the pigs").
    pub const DEFAULT_BELOW: f32 = 0.15;

    /// The input for a video `width` x `height` whose probed frames gave `found` at the
    /// model's own input: `Some(self.size)` where its typical animal is small, `None` (the
    /// model's own) where it is not or where no animal is fully in view (an empty pen keeps the
    /// size the model was made for). Boxes within `edge_px` of the frame's edge are left out.
    pub fn choose(&self, width: u32, height: u32, found: &[Detections], edge_px: f32) -> Option<u32> {
        let length = typical_length(width, height, found, edge_px)?;
        (length < self.below).then_some(self.size)
    }
}

/// The median longer side of the boxes fully in view, as a share of the frame's short side.
fn typical_length(width: u32, height: u32, found: &[Detections], edge_px: f32) -> Option<f32> {
    let short = width.min(height) as f32;
    let mut lengths: Vec<f32> = found
        .iter()
        .flat_map(|f| &f.boxes)
        .filter(|d| !d.cut_by_edge(width, height, edge_px))
        .map(|d| {
            let [x1, y1, x2, y2] = d.bbox;
            (x2 - x1).max(y2 - y1) / short
        })
        .collect();
    if lengths.is_empty() || short <= 0.0 {
        return None;
    }
    lengths.sort_by(f32::total_cmp);
    Some(lengths[lengths.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postprocess::Detection;

    fn frame(boxes: &[[f32; 4]]) -> Detections {
        Detections::exact(
            boxes
                .iter()
                .map(|&bbox| Detection {
                    bbox,
                    score: 0.9,
                    class: 0,
                })
                .collect(),
        )
    }

    const RULE: SmallObjectInput = SmallObjectInput {
        size: 512,
        below: 0.2,
    };

    #[test]
    fn small_animals_get_the_larger_input_and_big_ones_keep_the_models() {
        // 1280x720: the short side is 720, so 0.2 of it is 144 pixels.
        let small = [frame(&[
            [100.0, 100.0, 200.0, 150.0],
            [300.0, 300.0, 340.0, 420.0],
        ])];
        assert_eq!(RULE.choose(1280, 720, &small, 2.0), Some(512));
        let big = [
            frame(&[[100.0, 100.0, 300.0, 180.0]]),
            frame(&[[400.0, 300.0, 460.0, 500.0]]),
        ];
        assert_eq!(RULE.choose(1280, 720, &big, 2.0), None);
    }

    #[test]
    fn the_median_over_all_probed_frames_decides() {
        // Lengths 100, 110, 200 (of 720): the median, 110, is small.
        let found = [
            frame(&[[10.0, 10.0, 110.0, 40.0]]),
            frame(&[[10.0, 10.0, 120.0, 40.0], [300.0, 300.0, 500.0, 340.0]]),
        ];
        assert_eq!(RULE.choose(1280, 720, &found, 2.0), Some(512));
        assert_eq!(typical_length(1280, 720, &found, 2.0), Some(110.0 / 720.0));
    }

    #[test]
    fn no_animal_in_view_keeps_the_models_input() {
        assert_eq!(RULE.choose(1280, 720, &[], 2.0), None);
        assert_eq!(RULE.choose(1280, 720, &[frame(&[])], 2.0), None);
        // A small box cut by the frame's edge says nothing about the animals' size.
        let cut = [frame(&[[0.0, 100.0, 40.0, 130.0]])];
        assert_eq!(RULE.choose(1280, 720, &cut, 2.0), None);
    }
}
