//! Still images with YOLO labels, for training a pig detector.
//!
//! Every image is a fresh scene from its own seed (floor, lighting, breed mix, crowding, pig
//! size, a random moment of the herd's movement), optionally motion-blurred, and saved as JPEG at
//! a random quality so the detector sees compression artefacts like those in encoded video.
//! Labels follow the ground truth: one box per pig whose visible fraction reaches the threshold,
//! around its visible part. Beside each label file, `visible/` holds each labelled pig's visible
//! fraction (a crop that cuts a pig already cut by the frame keeps less of it than of its box).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use image::ExtendedColorType;
use image::codecs::jpeg::JpegEncoder;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::SynthError;
use crate::clutter::Clutter;
use crate::look::Look;
use crate::noise::{mix64, unit};
use crate::pen::{Pen, RgbaFrame, SceneSpec};
use crate::raster::MAX_SIDE;
use crate::truth::{AnimalTruth, FrameTruth};
use crate::video::check_scene;

/// The folders of a dataset.
const SUBDIRS: [&str; 6] = [
    "images/train",
    "images/val",
    "labels/train",
    "labels/val",
    "visible/train",
    "visible/val",
];

/// What a dataset holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatasetConfig {
    /// Number of training images.
    pub train_images: u32,
    /// Number of validation images.
    pub val_images: u32,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Every image's scene follows from this and the image's number.
    pub seed: u64,
    /// Fewest and most pigs in each scene's pen (some stand outside the image).
    pub pigs: [u32; 2],
    /// Range of a scene's typical pig length as a fraction of the image's shorter side; wide,
    /// so the detector sees near and far cameras.
    pub pig_length: [f32; 2],
    /// A pig gets a label when at least this fraction of it is visible.
    pub count_threshold: f32,
    /// JPEG quality range; each image draws its own quality from it.
    pub jpeg_quality: [u8; 2],
    /// Probability that an image is motion-blurred.
    pub motion_blur: f32,
    /// Range of the moment, in seconds of herd movement after the scene starts, at which each
    /// image is caught. A herd starts spread out and presses together as it moves: in a crowded
    /// pen pigs lie over each other only after some seconds, so a later range shows more of it.
    pub moment: [f32; 2],
    /// Props on the floor and people in the pen, none of which get a label.
    pub clutter: Clutter,
    /// What of the floor, coats and light is fixed in every scene rather than drawn.
    pub look: Look,
    /// Probability that an image's pen is empty (no pigs, whatever `pigs` says).
    pub empty: f32,
    /// Worker threads; 0 uses every core. The output does not depend on it.
    pub threads: u32,
}

impl Default for DatasetConfig {
    fn default() -> Self {
        Self {
            train_images: 1000,
            val_images: 200,
            width: 640,
            height: 360,
            seed: 1,
            pigs: [0, 15],
            pig_length: [0.14, 0.42],
            count_threshold: 0.5,
            jpeg_quality: [40, 95],
            motion_blur: 0.3,
            moment: [0.0, 3.0],
            clutter: Clutter::default(),
            look: Look::default(),
            empty: 0.0,
            threads: 0,
        }
    }
}

impl DatasetConfig {
    /// Checks every field; the error says which one is wrong.
    pub fn validate(&self) -> Result<(), SynthError> {
        let bad = |msg: String| Err(SynthError::InvalidConfig(msg));
        for (name, v) in [("width", self.width), ("height", self.height)] {
            if !(16..=MAX_SIDE).contains(&v) {
                return bad(format!("{name} must be in 16..={MAX_SIDE}, got {v}"));
            }
        }
        check_scene(self.pigs, self.pig_length, self.count_threshold)?;
        let [q0, q1] = self.jpeg_quality;
        if !(1 <= q0 && q0 <= q1 && q1 <= 100) {
            return bad(format!(
                "jpeg_quality must be [min, max] with 1 <= min <= max <= 100, got {:?}",
                self.jpeg_quality
            ));
        }
        for (name, p) in [("motion_blur", self.motion_blur), ("empty", self.empty)] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name} is a probability, got {p}"));
            }
        }
        self.clutter.validate()?;
        self.look.validate()?;
        let [m0, m1] = self.moment;
        if !(0.0 <= m0 && m0 < m1 && m1 <= MAX_MOMENT_S) {
            return bad(format!(
                "moment must be [from, to] seconds with 0 <= from < to <= {MAX_MOMENT_S}, got {:?}",
                self.moment
            ));
        }
        Ok(())
    }
}

/// The latest moment an image may be caught at; the herd is simulated up to it for every image.
const MAX_MOMENT_S: f32 = 600.0;

/// Frames per second of the herd's simulation in dataset scenes.
const FPS: u32 = 25;

/// What [`write_dataset`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatasetSummary {
    /// Images in `images/train`.
    pub train_images: u32,
    /// Images in `images/val`.
    pub val_images: u32,
    /// Label lines (boxes) over all training images.
    pub train_boxes: u64,
    /// Label lines over all validation images.
    pub val_boxes: u64,
    /// The YOLO dataset description to train from.
    pub data_yaml: PathBuf,
}

/// One rendered dataset image.
struct Sample {
    frame: RgbaFrame,
    truth: FrameTruth,
    quality: u8,
}

/// Renders image `index` of the dataset.
fn render_sample(cfg: &DatasetConfig, index: u64) -> Sample {
    let seed = mix64(cfg.seed ^ mix64(index.wrapping_add(0x5eed)));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Drawn apart from the scene's own streams, so that `empty` = 0 renders what it always did.
    let empty = cfg.empty > 0.0 && unit((mix64(seed ^ 0xe3) >> 32) as u32) < cfg.empty;
    let mut pen = Pen::from_spec(SceneSpec {
        width: cfg.width,
        height: cfg.height,
        fps_num: FPS,
        fps_den: 1,
        frame_count: 1,
        pigs: if empty { [0, 0] } else { cfg.pigs },
        pig_length: cfg.pig_length,
        count_threshold: cfg.count_threshold,
        clutter: cfg.clutter,
        look: cfg.look.clone(),
        seed,
    });
    // A random moment, so bodies are caught mid-turn, mid-stride or resting.
    let [from, to] = cfg.moment.map(|s| (s * FPS as f32).round() as u64);
    let moment = rng.random_range(from..to.max(from + 1));
    let offsets: Vec<f32> = if rng.random::<f32>() < cfg.motion_blur {
        Pen::shutter_moments(rng.random_range(0.03..0.12f32))
    } else {
        vec![0.0]
    };
    let (frame, truth) = pen.render_blurred(moment, &offsets);
    let quality = rng.random_range(cfg.jpeg_quality[0]..=cfg.jpeg_quality[1]);
    Sample {
        frame,
        truth,
        quality,
    }
}

/// The pigs that count, in label order.
fn labelled(truth: &FrameTruth, threshold: f32) -> impl Iterator<Item = &AnimalTruth> {
    truth
        .animals
        .iter()
        .filter(move |a| a.visible_fraction >= threshold)
}

/// YOLO label lines (`class cx cy w h`, normalised) for the pigs that count.
fn yolo_labels(truth: &FrameTruth, width: u32, height: u32, threshold: f32) -> String {
    let (w, h) = (width as f32, height as f32);
    labelled(truth, threshold)
        .map(|a| {
            let [x1, y1, x2, y2] = a.bbox;
            format!(
                "0 {:.6} {:.6} {:.6} {:.6}\n",
                (x1 + x2) * 0.5 / w,
                (y1 + y2) * 0.5 / h,
                (x2 - x1) / w,
                (y2 - y1) / h
            )
        })
        .collect()
}

/// One line per label: the fraction of that pig that is visible.
fn visible_fractions(truth: &FrameTruth, threshold: f32) -> String {
    labelled(truth, threshold)
        .map(|a| format!("{:.4}\n", a.visible_fraction))
        .collect()
}

fn write_jpeg(path: &Path, frame: &RgbaFrame, quality: u8) -> Result<(), SynthError> {
    let rgb: Vec<u8> = frame
        .data()
        .chunks_exact(4)
        .flat_map(|px| [px[0], px[1], px[2]])
        .collect();
    let file = File::create(path).map_err(|e| SynthError::io(path, e))?;
    let mut writer = BufWriter::new(file);
    JpegEncoder::new_with_quality(&mut writer, quality)
        .encode(&rgb, frame.width(), frame.height(), ExtendedColorType::Rgb8)
        .map_err(|e| SynthError::Image {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    writer.flush().map_err(|e| SynthError::io(path, e))
}

/// Writes a YOLO dataset under `out_dir`: `images/{train,val}/NNNNNN.jpg`,
/// `labels/{train,val}/NNNNNN.txt` (class 0 = pig), `visible/{train,val}/NNNNNN.txt` (each
/// label's visible fraction, line for line) and `data.yaml`.
///
/// Images are numbered across both splits (validation continues after training), and each is
/// fully determined by the config's seed and its number.
pub fn write_dataset(cfg: &DatasetConfig, out_dir: &Path) -> Result<DatasetSummary, SynthError> {
    cfg.validate()?;
    let _span = tracing::info_span!("write_dataset", dir = %out_dir.display(), seed = cfg.seed).entered();
    let started = Instant::now();
    for sub in SUBDIRS {
        let dir = out_dir.join(sub);
        fs::create_dir_all(&dir).map_err(|e| SynthError::io(&dir, e))?;
    }
    let total = u64::from(cfg.train_images) + u64::from(cfg.val_images);
    let workers = match cfg.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n as usize,
    }
    .clamp(1, total.max(1) as usize);
    let failed = AtomicBool::new(false);
    let results: Vec<Result<(u64, u64), SynthError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let failed = &failed;
                scope.spawn(move || {
                    let mut boxes = (0u64, 0u64);
                    for index in (worker as u64..total).step_by(workers) {
                        if failed.load(Ordering::Relaxed) {
                            break;
                        }
                        let train = index < u64::from(cfg.train_images);
                        match write_one(cfg, out_dir, index, train) {
                            Ok(n) if train => boxes.0 += n,
                            Ok(n) => boxes.1 += n,
                            Err(e) => {
                                failed.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                    }
                    Ok(boxes)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    let (mut train_boxes, mut val_boxes) = (0, 0);
    for result in results {
        let (t, v) = result?;
        train_boxes += t;
        val_boxes += v;
    }

    let root = fs::canonicalize(out_dir).map_err(|e| SynthError::io(out_dir, e))?;
    let data_yaml = out_dir.join("data.yaml");
    let yaml = format!(
        "# Synthetic pig pens from pigweight-synth (seed {}).\npath: '{}'\ntrain: images/train\nval: images/val\nnames:\n  0: pig\n",
        cfg.seed,
        root.display().to_string().replace('\'', "''")
    );
    fs::write(&data_yaml, yaml).map_err(|e| SynthError::io(&data_yaml, e))?;
    tracing::info!(
        images = total,
        train_boxes,
        val_boxes,
        elapsed_s = started.elapsed().as_secs_f64(),
        "dataset written"
    );
    Ok(DatasetSummary {
        train_images: cfg.train_images,
        val_images: cfg.val_images,
        train_boxes,
        val_boxes,
        data_yaml,
    })
}

/// Renders and writes image `index`; returns its number of boxes.
fn write_one(cfg: &DatasetConfig, out_dir: &Path, index: u64, train: bool) -> Result<u64, SynthError> {
    let split = if train { "train" } else { "val" };
    let sample = render_sample(cfg, index);
    let image = out_dir.join(format!("images/{split}/{index:06}.jpg"));
    write_jpeg(&image, &sample.frame, sample.quality)?;
    let labels = yolo_labels(&sample.truth, cfg.width, cfg.height, cfg.count_threshold);
    let label_path = out_dir.join(format!("labels/{split}/{index:06}.txt"));
    fs::write(&label_path, &labels).map_err(|e| SynthError::io(&label_path, e))?;
    let visible_path = out_dir.join(format!("visible/{split}/{index:06}.txt"));
    let visible = visible_fractions(&sample.truth, cfg.count_threshold);
    fs::write(&visible_path, visible).map_err(|e| SynthError::io(&visible_path, e))?;
    Ok(labels.lines().count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> DatasetConfig {
        DatasetConfig {
            train_images: 3,
            val_images: 2,
            width: 192,
            height: 108,
            seed: 4,
            pigs: [4, 10],
            motion_blur: 0.5,
            threads: 2,
            ..DatasetConfig::default()
        }
    }

    #[test]
    fn dataset_has_matching_images_and_valid_labels() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = small();
        let summary = write_dataset(&cfg, dir.path()).unwrap();
        assert_eq!((summary.train_images, summary.val_images), (3, 2));
        let mut boxes = 0;
        for (index, split) in [(0, "train"), (1, "train"), (2, "train"), (3, "val"), (4, "val")] {
            let image = dir.path().join(format!("images/{split}/{index:06}.jpg"));
            let decoded = image::open(&image).unwrap();
            assert_eq!((decoded.width(), decoded.height()), (192, 108));
            let text = fs::read_to_string(dir.path().join(format!("labels/{split}/{index:06}.txt"))).unwrap();
            let truth = render_sample(&cfg, index).truth;
            let expected = truth.count as usize;
            assert_eq!(text.lines().count(), expected, "{split}/{index}");
            let visible =
                fs::read_to_string(dir.path().join(format!("visible/{split}/{index:06}.txt"))).unwrap();
            let fractions: Vec<f32> = visible.lines().map(|l| l.parse().unwrap()).collect();
            let counted: Vec<f32> = labelled(&truth, cfg.count_threshold)
                .map(|a| a.visible_fraction)
                .collect();
            assert_eq!(fractions, counted, "{split}/{index}");
            assert!(
                fractions.iter().all(|f| (cfg.count_threshold..=1.0).contains(f)),
                "{visible}"
            );
            for line in text.lines() {
                let fields: Vec<&str> = line.split(' ').collect();
                assert_eq!(fields.len(), 5, "{line}");
                assert_eq!(fields[0], "0");
                let v: Vec<f32> = fields[1..].iter().map(|f| f.parse().unwrap()).collect();
                assert!(v.iter().all(|x| (0.0..=1.0).contains(x)), "{line}");
                assert!(v[2] > 0.0 && v[3] > 0.0, "{line}");
                assert!(
                    v[0] - v[2] / 2.0 >= -1e-5 && v[0] + v[2] / 2.0 <= 1.0 + 1e-5,
                    "{line}"
                );
                assert!(
                    v[1] - v[3] / 2.0 >= -1e-5 && v[1] + v[3] / 2.0 <= 1.0 + 1e-5,
                    "{line}"
                );
            }
            boxes += expected as u64;
        }
        assert_eq!(summary.train_boxes + summary.val_boxes, boxes);
        assert!(boxes > 0);
        let yaml = fs::read_to_string(&summary.data_yaml).unwrap();
        assert!(
            yaml.contains("train: images/train\nval: images/val\nnames:\n  0: pig\n"),
            "{yaml}"
        );
    }

    /// Every file under `dir`, relative path → bytes.
    fn files(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
        let mut out = std::collections::BTreeMap::new();
        for sub in SUBDIRS {
            for entry in fs::read_dir(dir.join(sub)).unwrap() {
                let path = entry.unwrap().path();
                out.insert(
                    path.strip_prefix(dir).unwrap().to_owned(),
                    fs::read(&path).unwrap(),
                );
            }
        }
        out
    }

    #[test]
    fn dataset_files_do_not_depend_on_thread_count() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let cfg = DatasetConfig {
            train_images: 2,
            val_images: 1,
            width: 96,
            height: 64,
            ..small()
        };
        write_dataset(
            &DatasetConfig {
                threads: 1,
                ..cfg.clone()
            },
            a.path(),
        )
        .unwrap();
        write_dataset(&DatasetConfig { threads: 3, ..cfg }, b.path()).unwrap();
        let (fa, fb) = (files(a.path()), files(b.path()));
        assert_eq!(fa.len(), 9);
        assert_eq!(fa, fb);
    }

    #[test]
    fn invalid_dataset_config_is_rejected_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DatasetConfig {
            jpeg_quality: [90, 40],
            ..small()
        };
        let err = write_dataset(&cfg, &dir.path().join("out")).unwrap_err();
        assert!(matches!(err, SynthError::InvalidConfig(m) if m.contains("jpeg_quality")));
        assert!(!dir.path().join("out").exists());
    }

    #[test]
    fn moment_range_is_checked() {
        for moment in [
            [3.0, 3.0],
            [-1.0, 2.0],
            [0.0, 601.0],
            [f32::NAN, 1.0],
            [0.0, f32::INFINITY],
        ] {
            let err = DatasetConfig { moment, ..small() }.validate().unwrap_err();
            assert!(
                matches!(err, SynthError::InvalidConfig(m) if m.contains("moment")),
                "{moment:?}"
            );
        }
        DatasetConfig {
            moment: [20.0, 20.04],
            ..small()
        }
        .validate()
        .unwrap();
    }

    /// A crowded herd caught late lies over itself far more than one caught in its first
    /// seconds, which is what the `moment` range is for.
    #[test]
    fn later_moments_show_more_pigs_covered_by_others() {
        let covered = |moment: [f32; 2]| {
            let cfg = DatasetConfig {
                pigs: [16, 20],
                pig_length: [0.2, 0.3],
                moment,
                motion_blur: 0.0,
                ..small()
            };
            let (w, h) = (cfg.width as f32, cfg.height as f32);
            (0..12)
                .flat_map(|i| render_sample(&cfg, i).truth.animals)
                .filter(|a| {
                    let [x0, y0, x1, y1] = a.full_box;
                    x0 >= 0.0 && y0 >= 0.0 && x1 <= w && y1 <= h && a.visible_fraction < 0.9
                })
                .count()
        };
        let (early, late) = (covered([0.0, 3.0]), covered([20.0, 60.0]));
        assert!(
            late >= 3 * early.max(1),
            "covered pigs: early {early}, late {late}"
        );
    }

    #[test]
    fn dataset_images_are_deterministic_and_distinct() {
        let cfg = DatasetConfig {
            threads: 1,
            ..small()
        };
        let a = render_sample(&cfg, 2);
        let b = render_sample(&cfg, 2);
        let c = render_sample(&cfg, 3);
        assert!(a.frame == b.frame && a.truth == b.truth && a.quality == b.quality);
        assert_ne!(a.frame, c.frame);
    }

    /// `empty` = 1 leaves every pen without pigs (and so without labels), clutter or not.
    #[test]
    fn empty_pens_have_no_labels() {
        let cfg = DatasetConfig {
            empty: 1.0,
            clutter: Clutter {
                props: [4, 8],
                people: [1, 2],
            },
            ..small()
        };
        for i in 0..5 {
            let sample = render_sample(&cfg, i);
            assert!(sample.truth.animals.is_empty(), "image {i}");
            assert_eq!(yolo_labels(&sample.truth, cfg.width, cfg.height, 0.5), "");
        }
        // The same images without `empty` hold pigs.
        let pigs: usize = (0..5)
            .map(|i| {
                render_sample(
                    &DatasetConfig {
                        empty: 0.0,
                        ..cfg.clone()
                    },
                    i,
                )
                .truth
                .animals
                .len()
            })
            .sum();
        assert!(pigs > 0);
    }

    #[test]
    fn labels_are_normalised_centres() {
        let truth = FrameTruth {
            index: 0,
            time: 0.0,
            count: 1,
            animals: vec![
                crate::AnimalTruth {
                    id: 1,
                    bbox: [10.0, 20.0, 30.0, 60.0],
                    full_box: [10.0, 20.0, 30.0, 60.0],
                    visible_fraction: 1.0,
                },
                crate::AnimalTruth {
                    id: 2,
                    bbox: [0.0, 0.0, 5.0, 5.0],
                    full_box: [-20.0, 0.0, 5.0, 5.0],
                    visible_fraction: 0.2,
                },
            ],
        };
        assert_eq!(
            yolo_labels(&truth, 100, 80, 0.5),
            "0 0.200000 0.500000 0.200000 0.500000\n"
        );
    }
}
