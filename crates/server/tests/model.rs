//! The shipped sample detector (models/pigs.onnx) on a held-out synthetic clip, through
//! the real pipeline (decode -> inference -> count), against the clip's ground truth.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::run;

#[test]
fn the_sample_model_counts_a_held_out_clip() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("held-out.mp4");
    let v = video.to_str().unwrap();
    // Seed 9500: no training image or video used it (models/train uses 1 and 101-109).
    run(&[
        "synth",
        "video",
        v,
        "--seed",
        "9500",
        "--duration",
        "8",
        "--pigs",
        "6,14",
    ]);
    // The default model is the shipped one.
    let report: serde_json::Value = serde_json::from_str(&run(&["eval", v, "--every", "2"])).unwrap();
    let summary = &report["summary"];
    assert_eq!(summary["frames"], 100, "{report}");
    assert!(summary["true_boxes"].as_u64().unwrap() >= 400, "{report}");
    // The model's own counting operating point (from its metadata) is the one in use.
    let confidence = report["confidence"].as_f64().unwrap();
    assert!((confidence - 0.5).abs() < 1e-6, "{report}");
    assert_eq!(
        report["model"]["input_size"],
        serde_json::json!([416, 416]),
        "{report}"
    );
    let exact = summary["exact_count_rate"].as_f64().unwrap();
    // Issue 4 asks for 95% here; the shipped YOLO26n model reaches 96% on this clip (MAE 0.04;
    // the YOLOv8n models before it 93-96%; models/README.md), so this guards against
    // regressions until a model clears 95% with a margin.
    assert!(
        exact >= 0.85,
        "exact counts on {:.1}% of frames: {report}",
        exact * 100.0
    );
    assert!(summary["count_mae"].as_f64().unwrap() <= 0.2, "{report}");
    assert!(summary["ap"].as_f64().unwrap() >= 0.97, "{report}");
}

/// `eval --through-index` scores what `serve` answers: the clip is indexed as the server does
/// and the index's count at every frame is compared with the truth.
#[test]
fn eval_through_the_index_scores_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("pen.mp4");
    let v = video.to_str().unwrap();
    // Seed 9501 is held out like 9500 above.
    run(&[
        "synth",
        "video",
        v,
        "--seed",
        "9501",
        "--duration",
        "6",
        "--width",
        "640",
        "--height",
        "360",
        "--pigs",
        "4,8",
    ]);
    let report: serde_json::Value = serde_json::from_str(&run(&["eval", "--through-index", v])).unwrap();
    assert_eq!(report["mode"], "through_index", "{report}");
    let summary = &report["summary"];
    // Every frame is scored, not every fifth.
    assert_eq!(summary["frames"], 150, "{report}");
    let runs = summary["model_runs_per_frame"].as_f64().unwrap();
    assert!(
        runs > 0.0 && runs < 1.0,
        "the index infers a share of the frames: {report}"
    );
    assert!(summary["exact"].as_f64().unwrap() >= 0.8, "{report}");
    let wrong: u64 = report["videos"][0]["wrong_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[1].as_u64().unwrap() - r[0].as_u64().unwrap() + 1)
        .sum();
    let exact = summary["exact"].as_f64().unwrap();
    assert_eq!(wrong, ((1.0 - exact) * 150.0).round() as u64, "{report}");
}

/// A truth that describes another video (fewer frames, or another size) is refused in both
/// modes, with what it describes and what the video is: scoring it would compare the index
/// with the wrong frames, or with a few of them and call that the whole.
#[test]
fn a_truth_of_another_video_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (video, other) = (dir.path().join("pen.mp4"), dir.path().join("other.mp4"));
    common::synth_video(&video, 2, 9502);
    common::synth_video(&other, 1, 9503);
    std::fs::copy(
        dir.path().join("other.truth.json"),
        dir.path().join("pen.truth.json"),
    )
    .unwrap();
    for mode in [&["eval", "--every", "2"][..], &["eval", "--through-index"][..]] {
        let out = std::process::Command::new(common::bin())
            .args(mode)
            .arg(&video)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{mode:?} scored it");
        assert!(
            stderr.contains("describes 25 frames of 320x240 (frame_count 25), but")
                && stderr.contains("has 50 of 320x240: not this video's truth"),
            "{mode:?}: {stderr}"
        );
    }
}
