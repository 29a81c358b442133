//! Ground truth: what each frame contains, as written beside a synthetic video.
//!
//! Boxes are in pixel coordinates with the pixel-edge convention: a box `[x1, y1, x2, y2]`
//! covering pixel columns `a..=b` has `x1 = a` and `x2 = b + 1`, so `x2 - x1` is the width in
//! pixels.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::SynthError;

/// Ground truth for a whole video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frame rate numerator (frames per `fps_den` seconds).
    pub fps_num: u32,
    /// Frame rate denominator.
    pub fps_den: u32,
    /// Number of frames in the video (and in `frames`).
    pub frame_count: u64,
    /// An animal counts when its `visible_fraction` is at least this.
    pub count_threshold: f32,
    /// The seed the scene was made from.
    pub seed: u64,
    /// One entry per frame, in order.
    pub frames: Vec<FrameTruth>,
}

/// Ground truth for one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameTruth {
    /// Frame number, from 0.
    pub index: u64,
    /// Presentation time of the frame in seconds (`index * fps_den / fps_num`).
    pub time: f64,
    /// Number of animals whose `visible_fraction` is at least the count threshold.
    pub count: u32,
    /// Animals with any visible pixel in this frame, sorted by id.
    pub animals: Vec<AnimalTruth>,
}

/// Ground truth for one animal in one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnimalTruth {
    /// Stable identity of the animal for the whole video (it keeps its id when it leaves the
    /// frame and comes back).
    pub id: u32,
    /// Box around the animal's visible pixels: inside the frame and not covered by an animal
    /// drawn above it.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Box around the animal's whole silhouette, not clipped to the frame.
    pub full_box: [f32; 4],
    /// Visible silhouette pixels divided by all silhouette pixels, in `(0, 1]`, rounded to 4
    /// decimals.
    pub visible_fraction: f32,
}

impl GroundTruth {
    /// Reads ground truth written by [`GroundTruth::save`] or [`crate::render_video`].
    pub fn load(path: &Path) -> Result<Self, SynthError> {
        let file = File::open(path).map_err(|e| SynthError::io(path, e))?;
        serde_json::from_reader(BufReader::new(file)).map_err(|source| SynthError::Json {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes the ground truth as compact JSON.
    pub fn save(&self, path: &Path) -> Result<(), SynthError> {
        let file = File::create(path).map_err(|e| SynthError::io(path, e))?;
        let mut writer = BufWriter::new(file);
        serde_json::to_writer(&mut writer, self).map_err(|source| SynthError::Json {
            path: path.to_owned(),
            source,
        })?;
        writer.flush().map_err(|e| SynthError::io(path, e))
    }
}

/// Where the ground truth of a video lives: the video path with its extension replaced by
/// `truth.json` (`pen.mp4` → `pen.truth.json`).
pub fn truth_path(video: &Path) -> PathBuf {
    video.with_extension("truth.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> GroundTruth {
        GroundTruth {
            width: 64,
            height: 48,
            fps_num: 30000,
            fps_den: 1001,
            frame_count: 1,
            count_threshold: 0.5,
            seed: u64::MAX,
            frames: vec![FrameTruth {
                index: 0,
                time: 0.0,
                count: 1,
                animals: vec![AnimalTruth {
                    id: 3,
                    bbox: [0.0, 1.0, 20.0, 9.0],
                    full_box: [-4.0, 1.0, 20.0, 9.0],
                    visible_fraction: 0.8123,
                }],
            }],
        }
    }

    #[test]
    fn truth_path_replaces_the_extension() {
        assert_eq!(
            truth_path(Path::new("/a/pen.mp4")),
            Path::new("/a/pen.truth.json")
        );
        assert_eq!(truth_path(Path::new("clip")), Path::new("clip.truth.json"));
    }

    #[test]
    fn save_then_load_round_trips_and_uses_box_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.truth.json");
        let truth = sample();
        truth.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"box\":[0.0,1.0,20.0,9.0]"), "{text}");
        assert_eq!(GroundTruth::load(&path).unwrap(), truth);
    }

    #[test]
    fn load_reports_the_path_of_bad_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{\"width\": 1").unwrap();
        match GroundTruth::load(&path) {
            Err(SynthError::Json { path: p, .. }) => assert_eq!(p, path),
            other => panic!("unexpected {other:?}"),
        }
    }
}
