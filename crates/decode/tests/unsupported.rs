//! A codec with no decoder installed is a clear error that names the codec.
//!
//! Its own test binary: it hides the H.264 decoders from the process-wide plugin registry.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail the test on the spot

mod common;

use common::{Spec, make_video};
use gst::prelude::*;
use pigweight_decode::{DecodeError, LiveConfig, LiveSource, probe};

#[test]
fn missing_decoder_names_the_codec() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.mp4");
    make_video(
        &path,
        &Spec {
            frames: 20,
            ..Spec::h264(10, 0)
        },
    );

    let caps = gst::Caps::builder("video/x-h264").build();
    let decoders = gst::ElementFactory::factories_with_type(
        gst::ElementFactoryType::DECODER | gst::ElementFactoryType::MEDIA_VIDEO,
        gst::Rank::NONE,
    );
    let mut hidden = 0;
    let h264_decoders = decoders
        .iter()
        .filter(|f| f.can_sink_any_caps(&caps) && !f.name().contains("bin"));
    for factory in h264_decoders {
        factory.set_rank(gst::Rank::NONE);
        hidden += 1;
    }
    assert!(hidden >= 1);

    let started = std::time::Instant::now();
    let err = probe(&path).unwrap_err();
    assert!(started.elapsed().as_secs() < 5);
    match &err {
        DecodeError::UnsupportedCodec { codec, .. } => assert!(codec.contains("H.264"), "{err}"),
        other => panic!("expected UnsupportedCodec, got {other:?}"),
    }
    assert!(
        err.to_string().contains("no decoder is installed for H.264"),
        "{err}"
    );
    // A live source in that codec fails the same way (a stream then stops retrying).
    let live = LiveSource::open(path.to_str().unwrap(), &LiveConfig::default()).unwrap_err();
    assert!(matches!(live, DecodeError::UnsupportedCodec { .. }), "{live:?}");
}
