//! The command line: probe and frame, checked against the decode library and the synth truth.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pigweight_decode::{FrameSource, Mode, Size, SourceConfig, Target, VideoFile};
use pigweight_tests::{run, synth_video};

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
