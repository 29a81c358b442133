//! The command line: probe and frame, checked against the decode library and the synth truth.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{run, synth_video};
use pigweight_decode::{FrameSource, Mode, Size, SourceConfig, Target, VideoFile};

#[test]
fn probe_prints_exact_facts() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("pen.mp4");
    synth_video(&video, 3, 5);
    let info: serde_json::Value = serde_json::from_str(&run(&["probe", video.to_str().unwrap()])).unwrap();
    assert_eq!(info["frame_count"], 75);
    assert_eq!(info["width"], 320);
    assert_eq!(info["fps"], 25.0);
    assert_eq!(info["variable_frame_rate"], false);
    assert_eq!(info["container"], "ISO MP4/M4A");
}

#[test]
fn frame_writes_the_exact_frame_losslessly() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("pen.mp4");
    synth_video(&video, 3, 6);
    let mut source = VideoFile::open(&video, &SourceConfig::default()).unwrap();
    let v = video.to_str().unwrap();

    let png = dir.path().join("f.png");
    let p = png.to_str().unwrap();
    for (args, target, mode) in [
        (vec!["--index", "37"], Target::Index(37), Mode::Exact),
        (vec!["--t", "1.23"], Target::Time(1.23), Mode::Exact),
        (vec!["--index", "60", "--fast"], Target::Index(60), Mode::Fast),
    ] {
        let mut cmd = vec!["frame", v];
        cmd.extend(args.iter().copied());
        cmd.extend(["-o", p]);
        run(&cmd);
        let written = image::open(&png).unwrap().to_rgb8();
        let expected = source.frame(target, mode, Size::Native).unwrap();
        assert_eq!(
            (written.width(), written.height()),
            (expected.width, expected.height)
        );
        assert!(written.as_raw() == &expected.data, "{args:?}: pixels differ");
    }
    let fast = source.frame(Target::Index(60), Mode::Fast, Size::Native).unwrap();
    assert!(
        fast.keyframe && fast.index <= 60 && fast.index > 60 - 25,
        "GOP 25: {fast:?}"
    );
}

#[test]
fn detect_runs_a_model_on_the_exact_frame() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("pen.mp4");
    synth_video(&video, 2, 8);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let model = root.join("target/fixtures/anchors_dynamic.onnx");
    assert!(model.exists(), "run scripts/fixtures.sh (make test does)");
    let out = run(&[
        "detect",
        video.to_str().unwrap(),
        "--index",
        "10",
        "--model",
        model.to_str().unwrap(),
    ]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["frame"]["index"], 10);
    assert_eq!(json["model"]["names"], serde_json::json!(["pig", "person"]));
    // The fixture's "person" sits at (6,6)-(14,14) of its 64x64 input, where the 320x240 frame
    // is scaled by 0.2 and moved down 8 rows: (30,-10)-(70,30) in the frame, clamped.
    let person = json["detections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["class"] == 1)
        .expect("the fixture always detects a person");
    assert_eq!(person["box"], serde_json::json!([30.0, 0.0, 70.0, 30.0]));
    assert!((person["score"].as_f64().unwrap() - 0.9).abs() < 1e-6);

    // Only pigs: the person is filtered out.
    let out = run(&[
        "detect",
        video.to_str().unwrap(),
        "--t",
        "0.4",
        "--model",
        model.to_str().unwrap(),
        "--class",
        "pig",
    ]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        json["detections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["class"] == 0),
        "{json}"
    );
}

#[test]
fn detect_with_a_missing_runtime_says_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("pen.mp4");
    synth_video(&video, 1, 9);
    let out = std::process::Command::new(common::bin())
        .args([
            "detect",
            video.to_str().unwrap(),
            "--index",
            "0",
            "--model",
            "m.onnx",
        ])
        .args(["--ort-lib", "/nonexistent/libonnxruntime.so"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("make setup") && err.contains("ORT_DYLIB_PATH"),
        "{err}"
    );
}

#[test]
fn bad_model_flags_are_refused_with_their_reason() {
    let refused = |flag: &str, value: &str, reason: &str| {
        let out = std::process::Command::new(common::bin())
            .args(["detect", "pen.mp4", "--index", "0", flag, value])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(reason), "{flag} {value}: {err}");
    };
    refused("--band-rule", r#"{"below": -0.1}"#, "not below 0");
    refused("--band-rule", r#"{"wider": 1}"#, "not a band rule");
    refused("--small-object-length", "1.5", "between 0 and 1");
    refused("--small-object-input", "16", "not 0 or an input size");
}
