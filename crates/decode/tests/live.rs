//! Live sources on real pipelines: a file played in a loop at its real rate, brought to the
//! rate asked for; a camera URL that cannot be reached fails instead of hanging.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Spec, make_video, read_code};
use pigweight_decode::{DecodeError, LiveConfig, LiveSource};

#[test]
fn a_file_plays_in_a_loop_at_the_rate_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one-second.mp4");
    make_video(
        &path,
        &Spec {
            frames: 25,
            ..Spec::h264(25, 0)
        },
    );
    let config = LiveConfig {
        fps: 10,
        ..LiveConfig::default()
    };
    let mut live = LiveSource::open(path.to_str().unwrap(), &config).unwrap();
    let mut codes = Vec::new();
    for expected in 0..25u64 {
        let frame = live.next_frame().unwrap();
        assert_eq!(frame.index, expected);
        assert_eq!((frame.width, frame.height), (320, 240));
        codes.push(read_code(&frame.data, 320, 240, 320, 240));
    }
    // 10 frames a second of a 25 fps second: every 2.5th frame, and back to the start after
    // each second.
    let wraps = codes.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(wraps >= 1, "never looped: {codes:?}");
    assert!(codes.iter().all(|&c| c < 25), "{codes:?}");
    let steps: Vec<u64> = codes
        .windows(2)
        .filter(|w| w[1] > w[0])
        .map(|w| w[1] - w[0])
        .collect();
    assert!(
        steps.iter().all(|&s| (2..=3).contains(&s)),
        "not 10 of 25 frames a second: {codes:?}"
    );
}

#[test]
fn sources_that_cannot_be_opened_fail_clearly() {
    let config = LiveConfig {
        stall_timeout_s: 5,
        ..LiveConfig::default()
    };
    assert!(matches!(
        LiveSource::open("/no/such/file.mp4", &config),
        Err(DecodeError::NotFound(_))
    ));
    let started = Instant::now();
    let err = LiveSource::open("rtsp://127.0.0.1:9/none", &config).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(8), "{err}");
}
