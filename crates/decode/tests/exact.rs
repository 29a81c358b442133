//! Frame-exactness on real encoded video: every frame read by index, by time, or in a
//! sequential read must be byte-identical to the same frame of a plain sequential decode.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers fail the test on the spot

mod common;

use std::ops::ControlFlow;
use std::path::Path;

use common::{Spec, hash, make_video, read_code, reference_decode};
use pigweight_decode::{
    Decoder, DecoderConfig, FrameSource, MemoryBudget, Mode, Read, Size, SourceConfig, Stride, Target,
    VideoFile,
};
use rand::{RngExt, SeedableRng};

fn open(path: &Path) -> VideoFile {
    VideoFile::open(path, &SourceConfig::default()).unwrap()
}

/// 50 random indices (with short forward hops mixed in, the scrub pattern), by index and time.
fn check_exact(spec: &Spec, ext: &str, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("v.{ext}"));
    make_video(&path, spec);
    let reference = reference_decode(&path);
    assert_eq!(
        reference.len() as u64,
        spec.frames,
        "reference decode frame count"
    );
    let distinct: std::collections::HashSet<u64> = reference.iter().map(|f| f.hash).collect();
    assert_eq!(distinct.len(), reference.len(), "test frames must all differ");

    let mut video = open(&path);
    let info = video.info().clone();
    assert_eq!(info.frame_count, spec.frames);
    assert_eq!((info.width, info.height), (spec.width as u32, spec.height as u32));
    assert_eq!(
        (info.start_time * 1e9).round() as u64,
        reference[0].pts,
        "start time"
    );
    assert!(!info.variable_frame_rate);
    assert!((info.fps - f64::from(spec.fps)).abs() < 0.01, "fps {}", info.fps);

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut index = 0u64;
    for step in 0..50 {
        index = if step % 3 == 2 {
            (index + rng.random_range(1..8)).min(spec.frames - 1)
        } else {
            rng.random_range(0..spec.frames)
        };
        let frame = video
            .frame(Target::Index(index), Mode::Exact, Size::Native)
            .unwrap();
        assert_eq!(frame.index, index);
        assert_eq!(
            frame.pts.as_nanos() as u64,
            reference[index as usize].pts,
            "pts of {index}"
        );
        assert_eq!(
            hash(&frame.data),
            reference[index as usize].hash,
            "pixels of frame {index}"
        );
        assert_eq!(
            read_code(&frame.data, spec.width, spec.height, spec.width, spec.height),
            index
        );
    }
    // Pictures (kept in I420, converted when asked) are the same frames: a run of them in
    // order, as the indexer's refinement window reads them, from a random start.
    let start = rng.random_range(0..spec.frames - 12);
    let pictures: Vec<_> = (start..start + 12).map(|i| video.picture(i).unwrap()).collect();
    for (i, picture) in (start..).zip(pictures) {
        assert_eq!(picture.bytes(), video.picture_bytes());
        assert_eq!(picture.bytes(), (spec.width * spec.height * 3 / 2) as u64);
        let frame = picture.into_frame().unwrap();
        assert_eq!(
            (frame.index, frame.pts.as_nanos() as u64),
            (i, reference[i as usize].pts)
        );
        assert_eq!(
            hash(&frame.data),
            reference[i as usize].hash,
            "pixels of picture {i}"
        );
    }
    // Non-reference frames (B-frames here) before a target are not decoded; P-frames always are.
    let skipped = video.frames_skipped();
    if info.reordered {
        assert!(skipped > 0, "no B-frame was skipped on the way to a target");
    } else {
        assert_eq!(skipped, 0, "a reference frame was skipped");
    }

    for _ in 0..20 {
        let t = rng.random_range(0.0..info.duration);
        let frame = video.frame(Target::Time(t), Mode::Exact, Size::Native).unwrap();
        let t_ns = reference[0].pts + (t * 1e9).round() as u64;
        let i = frame.index as usize;
        assert!(reference[i].pts <= t_ns, "frame {i} is after t={t}");
        if let Some(next) = reference.get(i + 1) {
            assert!(t_ns < next.pts, "frame {} is also at or before t={t}", i + 1);
        }
        assert_eq!(hash(&frame.data), reference[i].hash);

        let key = video.frame(Target::Time(t), Mode::Fast, Size::Native).unwrap();
        assert!(key.keyframe, "fast mode returned a non-keyframe");
        assert!(key.index <= frame.index);
        assert_eq!(hash(&key.data), reference[key.index as usize].hash);
        let keyframes = video.timeline().keyframes();
        assert!(
            !keyframes.iter().any(|&k| k > key.index && k <= frame.index),
            "not the nearest keyframe"
        );
    }
}

#[test]
fn exact_gop12_no_bframes() {
    check_exact(&Spec::h264(12, 0), "mp4", 1);
}

#[test]
fn exact_gop50_bframes() {
    check_exact(&Spec::h264(50, 2), "mp4", 2);
}

/// x264's B-pyramid makes the middle B-frame of each run a reference: it must be decoded.
#[test]
fn exact_gop50_bframe_pyramid() {
    let mut spec = Spec::h264(50, 3);
    spec.encoder = spec.encoder.replace("bframes=3", "bframes=3 b-pyramid=true");
    check_exact(&spec, "mp4", 5);
}

#[test]
fn exact_gop250_bframes() {
    let spec = Spec {
        frames: 600,
        ..Spec::h264(250, 3)
    };
    check_exact(&spec, "mp4", 3);
}

#[test]
fn exact_with_nonzero_start_in_matroska() {
    let spec = Spec {
        muxer: "matroskamux".into(),
        offset_ns: 5_000_000_000,
        ..Spec::h264(50, 2)
    };
    check_exact(&spec, "mkv", 4);
}

#[test]
fn bframes_are_really_there() {
    let dir = tempfile::tempdir().unwrap();
    let with = dir.path().join("b.mp4");
    make_video(
        &with,
        &Spec {
            frames: 60,
            ..Spec::h264(50, 2)
        },
    );
    let without = dir.path().join("p.mp4");
    make_video(
        &without,
        &Spec {
            frames: 60,
            ..Spec::h264(50, 0)
        },
    );
    assert!(open(&with).info().reordered);
    assert!(!open(&without).info().reordered);
}

fn collect(video: &mut VideoFile, read: Read, size: Size) -> Vec<pigweight_decode::Frame> {
    let mut frames = Vec::new();
    video
        .read(read, size, &mut |f| {
            frames.push(f);
            ControlFlow::Continue(())
        })
        .unwrap();
    frames
}

/// A reader slower than the decoder: by the time it asks for the next sample the decoder has
/// already passed it into the sink, and when the source then seeks (the sample is a keyframe
/// just beyond the forward-decoding limit) that frame is flushed and must come again.
#[test]
fn a_slow_strided_reader_gets_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow.mp4");
    let spec = Spec::h264(30, 2);
    make_video(&path, &spec);
    let reference = reference_decode(&path);
    let mut video = open(&path);
    let mut frames = Vec::new();
    video
        .read(Read::every(Stride::Frames(5)), Size::Native, &mut |f| {
            std::thread::sleep(std::time::Duration::from_millis(15));
            frames.push(f);
            ControlFlow::Continue(())
        })
        .unwrap();
    let expected: Vec<u64> = (0..spec.frames).step_by(5).collect();
    assert_eq!(frames.iter().map(|f| f.index).collect::<Vec<_>>(), expected);
    for f in &frames {
        assert_eq!(
            hash(&f.data),
            reference[f.index as usize].hash,
            "frame {}",
            f.index
        );
    }
}

#[test]
fn sequential_reads_with_strides() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.mp4");
    let spec = Spec::h264(30, 2);
    make_video(&path, &spec);
    let reference = reference_decode(&path);
    let mut video = open(&path);

    let all = collect(&mut video, Read::all(), Size::Native);
    assert_eq!(all.len(), reference.len());
    for (f, r) in all.iter().zip(&reference) {
        assert_eq!(hash(&f.data), r.hash, "frame {}", f.index);
    }

    let every7 = collect(&mut video, Read::every(Stride::Frames(7)), Size::Native);
    let expected: Vec<u64> = (0..spec.frames).step_by(7).collect();
    assert_eq!(every7.iter().map(|f| f.index).collect::<Vec<_>>(), expected);
    for f in &every7 {
        assert_eq!(hash(&f.data), reference[f.index as usize].hash);
    }

    // Every 2.5 s: longer than a GOP, so the source seeks between samples.
    let read = Read {
        from: 1.0,
        to: Some(11.0),
        stride: Stride::Seconds(2.5),
    };
    let sparse = collect(&mut video, read, Size::Native);
    assert_eq!(
        sparse.iter().map(|f| f.index).collect::<Vec<_>>(),
        vec![25, 87, 150, 212, 275]
    );
    for f in &sparse {
        assert_eq!(hash(&f.data), reference[f.index as usize].hash);
    }

    let keys = collect(&mut video, Read::every(Stride::Keyframes), Size::Native);
    assert_eq!(
        keys.iter().map(|f| f.index).collect::<Vec<_>>(),
        video.timeline().keyframes().to_vec()
    );
    assert!(keys.len() >= 10, "a keyframe at least every 30 frames");
    for f in &keys {
        assert!(f.keyframe);
        assert_eq!(hash(&f.data), reference[f.index as usize].hash);
    }

    // After a trick-mode read, exact reads still work.
    let f = video
        .frame(Target::Index(133), Mode::Exact, Size::Native)
        .unwrap();
    assert_eq!(hash(&f.data), reference[133].hash);

    // Stopping early.
    let mut n = 0;
    video
        .read(Read::all(), Size::Native, &mut |_| {
            n += 1;
            if n == 5 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(n, 5);
}

#[test]
fn scaled_output() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.mp4");
    let spec = Spec {
        width: 640,
        height: 480,
        frames: 60,
        ..Spec::h264(25, 2)
    };
    make_video(&path, &spec);
    let mut video = open(&path);
    for (size, dims) in [
        (Size::Width(320), (320, 240)),
        (Size::Native, (640, 480)),
        (
            Size::Exact {
                width: 480,
                height: 240,
            },
            (480, 240),
        ),
    ] {
        for index in [3, 40, 41] {
            let f = video.frame(Target::Index(index), Mode::Exact, size).unwrap();
            assert_eq!((f.width, f.height), dims);
            assert_eq!(f.data.len(), (dims.0 * dims.1 * 3) as usize);
            assert_eq!(f.index, index);
            assert_eq!(
                read_code(&f.data, dims.0 as usize, dims.1 as usize, 640, 480),
                index
            );
        }
    }
}

#[test]
fn bad_requests_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.mp4");
    make_video(
        &path,
        &Spec {
            frames: 30,
            ..Spec::h264(10, 0)
        },
    );
    let mut video = open(&path);
    for target in [
        Target::Time(-1.0),
        Target::Time(f64::NAN),
        Target::Time(2.0),
        Target::Index(30),
    ] {
        let err = video.frame(target, Mode::Exact, Size::Native).unwrap_err();
        assert!(err.is_bad_request(), "{target:?}: {err}");
    }
    assert!(
        video
            .frame(Target::Index(0), Mode::Exact, Size::Width(0))
            .unwrap_err()
            .is_bad_request()
    );
    // Still usable.
    assert_eq!(
        video
            .frame(Target::Time(1.2), Mode::Exact, Size::Native)
            .unwrap()
            .index,
        29
    );
}

#[test]
fn decoder_caches_and_bounds_sources() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (0..3)
        .map(|i| {
            let p = dir.path().join(format!("{i}.mp4"));
            make_video(
                &p,
                &Spec {
                    frames: 40,
                    ..Spec::h264(10, 2)
                },
            );
            p
        })
        .collect();
    let reference = reference_decode(&paths[0]);
    let decoder = Decoder::new(
        DecoderConfig {
            max_open_sources: 2,
            ..DecoderConfig::default()
        },
        MemoryBudget::new(1 << 30),
    );
    for round in 0..2 {
        for p in &paths {
            for i in [5, 17, 33] {
                let f = decoder
                    .frame(p, Target::Index(i), Mode::Exact, Size::Native)
                    .unwrap();
                assert_eq!(f.index, i);
                if p == &paths[0] {
                    assert_eq!(hash(&f.data), reference[i as usize].hash);
                }
            }
        }
        let stats = decoder.stats();
        assert!(stats.sources_open <= 2, "{stats:?}");
        assert_eq!(stats.cache_misses, 9, "round {round}: {stats:?}");
        assert_eq!(stats.cache_hits, 9 * round, "round {round}: {stats:?}");
    }
    let stats = decoder.stats();
    assert_eq!(stats.cache_entries, 9);
    assert_eq!(stats.cache_bytes, 9 * 320 * 240 * 3);

    // Concurrent callers on one file share the pool and all get the right frames.
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let decoder = &decoder;
            let path = &paths[1];
            s.spawn(move || {
                for i in 0..10 {
                    let index = (t * 7 + i * 3) % 40;
                    let f = decoder
                        .frame(path, Target::Index(index), Mode::Exact, Size::Width(160))
                        .unwrap();
                    assert_eq!(read_code(&f.data, 160, 120, 320, 240), index);
                }
            });
        }
    });
    assert!(decoder.stats().sources_open <= 2);
}

#[test]
fn frame_cache_respects_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.mp4");
    make_video(
        &path,
        &Spec {
            frames: 40,
            ..Spec::h264(10, 0)
        },
    );
    let frame_bytes = 320 * 240 * 3;
    let decoder = Decoder::new(
        DecoderConfig {
            frame_cache_bytes: 5 * frame_bytes,
            ..DecoderConfig::default()
        },
        MemoryBudget::new(1 << 30),
    );
    for i in 0..40 {
        decoder
            .frame(&path, Target::Index(i), Mode::Exact, Size::Native)
            .unwrap();
    }
    let stats = decoder.stats();
    assert!(stats.cache_bytes <= 5 * frame_bytes, "{stats:?}");
    assert!(stats.cache_entries <= 5, "{stats:?}");
}
