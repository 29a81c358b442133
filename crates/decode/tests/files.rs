//! Containers and codecs that must work, and bad files that must fail fast with the right error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail the test on the spot

mod common;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use common::{Spec, hash, launch, make_video, read_code, reference_decode};
use pigweight_decode::{
    DecodeError, Encoder, FrameSource, Mode, Rendition, Size, SourceConfig, Target, VideoFile, cuts, probe,
    segment,
};

fn check_codec(ext: &str, encoder: &str, muxer: &str, codec_word: &str, container: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("v.{ext}"));
    let spec = Spec {
        frames: 50,
        encoder: encoder.into(),
        muxer: muxer.into(),
        ..Spec::h264(10, 0)
    };
    make_video(&path, &spec);
    let reference = reference_decode(&path);
    assert_eq!(reference.len(), 50);
    let mut video = VideoFile::open(&path, &SourceConfig::default()).unwrap();
    let info = video.info().clone();
    assert_eq!(info.frame_count, 50, "{info:?}");
    assert_eq!(info.container, container);
    assert!(
        info.codec.contains(codec_word),
        "codec {:?} should mention {codec_word}",
        info.codec
    );
    for index in [0, 37, 12, 13, 49] {
        let f = video
            .frame(Target::Index(index), Mode::Exact, Size::Native)
            .unwrap();
        assert_eq!(f.index, index);
        assert_eq!(
            hash(&f.data),
            reference[index as usize].hash,
            "{ext} frame {index}"
        );
        assert_eq!(read_code(&f.data, 320, 240, 320, 240), index);
    }
    check_keyframes(&mut video, &reference);
}

/// Asserts that every keyframe of the video's frame table, read as a keyframe ([`Mode::Fast`]),
/// last first, is that frame as the reference decoder gives it.
fn check_keyframes(video: &mut VideoFile, reference: &[common::RefFrame]) {
    let keyframes = video.timeline().keyframes().to_vec();
    assert!(keyframes.len() > 1, "one keyframe: nothing to seek to");
    for &k in keyframes.iter().rev() {
        let f = video
            .frame(Target::Index(k), Mode::Fast, Size::Native)
            .unwrap_or_else(|e| panic!("keyframe {k}: {e}"));
        assert_eq!(f.index, k);
        assert_eq!(hash(&f.data), reference[k as usize].hash, "keyframe {k}");
    }
}

#[test]
fn h264_in_quicktime() {
    check_codec(
        "mov",
        "x264enc speed-preset=veryfast key-int-max=10 ! h264parse",
        "qtmux",
        "H.264",
        "Quicktime",
    );
}

/// HEVC with open GOPs (x265's default: CRA keyframes whose leading pictures refer to the GOP
/// before): the frames shown just before each keyframe are decoded after it, and a seek to one
/// of them must not land on that keyframe. Every frame around the keyframes, read alone and in
/// no particular order, is the reference decoder's picture.
#[test]
fn h265_with_open_gops_in_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("open.mp4");
    let spec = Spec {
        frames: 60,
        encoder: "x265enc speed-preset=fast key-int-max=20 option-string=open-gop=1:bframes=4 ! h265parse"
            .into(),
        ..Spec::h264(20, 0)
    };
    make_video(&path, &spec);
    let reference = reference_decode(&path);
    assert_eq!(reference.len(), 60);
    let mut video = VideoFile::open(&path, &SourceConfig::default()).unwrap();
    for index in [19, 16, 39, 38, 17, 59, 20, 40, 36, 18] {
        let f = video
            .frame(Target::Index(index), Mode::Exact, Size::Native)
            .unwrap_or_else(|e| panic!("frame {index}: {e}"));
        assert_eq!(f.index, index);
        assert_eq!(hash(&f.data), reference[index as usize].hash, "frame {index}");
        assert_eq!(read_code(&f.data, 320, 240, 320, 240), index);
    }
}

#[test]
fn h265_in_matroska() {
    check_codec(
        "mkv",
        "x265enc speed-preset=ultrafast key-int-max=10 ! h265parse",
        "matroskamux",
        "H.265",
        "Matroska",
    );
}

#[test]
fn vp9_in_webm() {
    check_codec(
        "webm",
        "vp9enc deadline=1 cpu-used=8 keyframe-max-dist=10",
        "webmmux",
        "VP9",
        "WebM",
    );
}

/// AVI stamps only its keyframes with a presentation time: the frame table comes from the
/// decode times of the others.
#[test]
fn mpeg4_part2_in_avi() {
    check_codec(
        "avi",
        "avenc_mpeg4 gop-size=10 bitrate=800000",
        "avimux",
        "MPEG-4",
        "AVI",
    );
}

/// MPEG-TS, as recorders write it: no index, seeks by bisection over the file.
#[test]
fn h264_in_mpeg_ts() {
    check_codec(
        "ts",
        "x264enc speed-preset=veryfast key-int-max=10 ! h264parse",
        "mpegtsmux",
        "H.264",
        "MPEG-2 Transport Stream",
    );
}

/// FLV, as RTMP recorders write it; its demuxer sends no container tag.
#[test]
fn h264_in_flv() {
    check_codec(
        "flv",
        "x264enc speed-preset=veryfast key-int-max=10 ! h264parse",
        "flvmux",
        "H.264",
        "Flash",
    );
}

#[test]
fn mjpeg_in_avi() {
    check_codec("avi", "jpegenc quality=90", "avimux", "JPEG", "AVI");
}

/// Ogg's demuxer has no keyframes-only seeks: keyframes are read exactly instead.
#[test]
fn theora_in_ogg() {
    check_codec("ogv", "theoraenc keyframe-force=10", "oggmux", "Theora", "Ogg");
}

/// x264 codes a scene cut that comes sooner than `min-keyint` after the last keyframe as an
/// I-frame that is no keyframe (here frame 14 of a ball bouncing in a 16x16 picture). H.264's
/// parser flags every I-frame a keyframe; MP4 lists its sync samples, which are the frames its
/// demuxer seeks to, and the frame table keeps those. Matroska's list is not read: the
/// parser's keyframes stand, a keyframes-only seek misses the I-frame, and it is read exactly.
#[test]
fn a_scene_cut_that_is_no_keyframe() {
    for (muxer, ext, keyframes) in [
        ("mp4mux", "mp4", &[0, 71][..]),
        ("matroskamux", "mkv", &[0, 14, 71]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("cut.{ext}"));
        launch(&format!(
            "videotestsrc num-buffers=75 pattern=ball ! video/x-raw,framerate=25/1,width=16,height=16 \
             ! x264enc threads=1 ! {muxer} ! filesink location={}",
            path.display()
        ));
        let reference = reference_decode(&path);
        assert_eq!(reference.len(), 75);
        let mut video = VideoFile::open(&path, &SourceConfig::default()).unwrap();
        assert_eq!(video.timeline().keyframes(), keyframes);
        check_keyframes(&mut video, &reference);
        for index in [15, 13, 14, 70, 72] {
            let f = video
                .frame(Target::Index(index), Mode::Exact, Size::Native)
                .unwrap();
            assert_eq!(
                hash(&f.data),
                reference[index as usize].hash,
                "{ext} frame {index}"
            );
        }
    }
}

/// Matroska's demuxer reads its index at the end of the file before it seeks, and defers a seek
/// that comes while it does: the HLS segments of H.264 in Matroska (without B-frames, so
/// repackaged) are still made, each of exactly its frames.
#[test]
fn h264_in_matroska_is_cut_into_segments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.mkv");
    let spec = Spec {
        frames: 100,
        muxer: "matroskamux".into(),
        ..Spec::h264(25, 2)
    };
    make_video(&path, &spec);
    let reference = reference_decode(&path);
    let video = VideoFile::open(&path, &SourceConfig::default()).unwrap();
    // Matroska keeps presentation times only: repackaged as it is, these B-frames would reach
    // a player without decode times (the HLS ladder transcodes such a source instead).
    assert!(video.info().reordered && !video.info().decode_times);
    let cuts = cuts(video.timeline(), Duration::from_secs(2));
    assert!(cuts.len() > 1, "{cuts:?}");
    let ends = cuts
        .iter()
        .skip(1)
        .map(|c| c.first as usize)
        .chain([reference.len()]);
    for (cut, end) in cuts.iter().zip(ends) {
        let ts = segment(
            &path,
            cut,
            Rendition::Remux,
            Encoder::X264,
            &AtomicBool::new(false),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("segment at {}: {e}", cut.first));
        let file = dir.path().join(format!("{}.ts", cut.first));
        std::fs::write(&file, ts).unwrap();
        let hashes: Vec<u64> = reference_decode(&file).iter().map(|f| f.hash).collect();
        let first = cut.first as usize;
        let expected: Vec<u64> = reference[first..end].iter().map(|f| f.hash).collect();
        assert_eq!(hashes, expected, "segment at {first}");
    }
}

/// Asserts that probing fails as `expect` says, and in bounded time.
fn assert_fails(path: &Path, expect: fn(&DecodeError) -> bool) {
    let started = Instant::now();
    let err = probe(path).expect_err("probe of a bad file must fail");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(expect(&err), "{}: unexpected error {err:?}", path.display());
    assert!(err.is_bad_file(), "{err:?}");
}

#[test]
fn bad_files_fail_fast_with_the_right_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.mp4");
    make_video(
        &good,
        &Spec {
            frames: 100,
            ..Spec::h264(25, 2)
        },
    );
    let bytes = std::fs::read(&good).unwrap();

    assert_fails(&dir.path().join("missing.mp4"), |e| {
        matches!(e, DecodeError::NotFound(_))
    });

    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    assert_fails(&empty, |e| matches!(e, DecodeError::Empty(_)));

    for percent in [10, 60] {
        let cut = dir.path().join(format!("cut{percent}.mp4"));
        std::fs::write(&cut, &bytes[..bytes.len() * percent / 100]).unwrap();
        assert_fails(&cut, |e| {
            matches!(e, DecodeError::Corrupt { .. } | DecodeError::NotMedia(_))
        });
    }

    let random = dir.path().join("random.mp4");
    let noise: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&random, noise).unwrap();
    assert_fails(&random, |e| matches!(e, DecodeError::NotMedia(_)));

    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "pigs in pen 4: 12\n".repeat(500)).unwrap();
    assert_fails(&text, |e| matches!(e, DecodeError::NotMedia(_)));

    let audio = dir.path().join("audio.ogg");
    launch(&format!(
        "audiotestsrc num-buffers=50 ! audioconvert ! vorbisenc ! oggmux ! filesink location={}",
        audio.display()
    ));
    assert_fails(&audio, |e| matches!(e, DecodeError::NoVideo(_)));

    let folder = dir.path().join("a-folder.mp4");
    std::fs::create_dir(&folder).unwrap();
    assert_fails(&folder, |e| matches!(e, DecodeError::NotMedia(_)));

    // The good file still probes, with exact facts.
    let info = probe(&good).unwrap();
    assert_eq!(info.frame_count, 100);
    assert_eq!((info.width, info.height), (320, 240));
    assert_eq!(info.container, "ISO MP4/M4A");
    assert!(info.reordered && info.decode_times);
    assert!((info.duration - 4.0).abs() < 1e-6, "{info:?}");
}

#[test]
fn a_file_that_changes_is_probed_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.mp4");
    make_video(
        &path,
        &Spec {
            frames: 30,
            ..Spec::h264(10, 0)
        },
    );
    let decoder =
        pigweight_decode::Decoder::new(Default::default(), pigweight_decode::MemoryBudget::new(1 << 30));
    assert_eq!(decoder.probe(&path).unwrap().info.frame_count, 30);
    std::thread::sleep(Duration::from_millis(20));
    make_video(
        &path,
        &Spec {
            frames: 45,
            ..Spec::h264(10, 0)
        },
    );
    assert_eq!(decoder.probe(&path).unwrap().info.frame_count, 45);
    let f = decoder
        .frame(&path, Target::Index(44), Mode::Exact, Size::Native)
        .unwrap();
    assert_eq!(read_code(&f.data, 320, 240, 320, 240), 44);
}
