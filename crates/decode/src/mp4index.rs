//! An MP4 (or MOV) file's own frame table: its `moov` box lists every sample's decode time,
//! composition offset and sync flag, so the frame table of a day-long recording is read in a
//! fraction of a second instead of demuxing every frame of it.
//!
//! The times are what GStreamer's `qtdemux` stamps the frames with (track time scaled to
//! nanoseconds, rounded down), so the table is the one the demux pass would build; the demux
//! pass checks the first frames it sees against it and falls back to reading everything when
//! they differ.

use std::io::BufReader;
use std::path::Path;

/// The first video track's frames in decode order: `(pts_ns, keyframe)`, and the last one's
/// duration in nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mp4Index {
    pub(crate) entries: Vec<(u64, bool)>,
    pub(crate) last_duration: Option<u64>,
}

/// The table of `path`, or `None` where the file has none to trust: not an MP4, no video
/// track, a fragmented file (its samples are in `moof` boxes), negative composition offsets
/// (which `qtdemux` shifts), or anything the parser refuses.
pub(crate) fn read(path: &Path) -> Option<Mp4Index> {
    let file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    let reader = mp4::Mp4Reader::read_header(BufReader::with_capacity(1 << 16, file), size).ok()?;
    let mut tracks: Vec<&mp4::Mp4Track> = reader
        .tracks()
        .values()
        .filter(|t| matches!(t.track_type(), Ok(mp4::TrackType::Video)))
        .collect();
    // The demuxer exposes tracks in the order the file lists them, and the demux pass takes
    // the first video one.
    tracks.sort_by_key(|t| t.track_id());
    let stbl = &tracks.first()?.trak.mdia.minf.stbl;
    let timescale = u64::from(tracks.first()?.timescale());
    if timescale == 0 || !tracks.first()?.trafs.is_empty() {
        return None;
    }
    let samples: u64 = stbl.stts.entries.iter().map(|e| u64::from(e.sample_count)).sum();
    if samples == 0 {
        return None;
    }
    let mut offsets = Vec::new();
    if let Some(ctts) = &stbl.ctts {
        offsets.reserve(samples as usize);
        for e in &ctts.entries {
            if e.sample_offset < 0 {
                return None;
            }
            offsets.extend(std::iter::repeat_n(
                e.sample_offset as u64,
                e.sample_count as usize,
            ));
        }
    }
    let sync = stbl.stss.as_ref().map(|s| &s.entries);
    let scale = |units: u64| (u128::from(units) * 1_000_000_000 / u128::from(timescale)) as u64;
    let mut entries = Vec::with_capacity(samples as usize);
    let (mut dts, mut next_sync, mut last_delta) = (0u64, 0usize, None);
    for e in &stbl.stts.entries {
        for _ in 0..e.sample_count {
            let n = entries.len();
            let key = match sync {
                None => true,
                Some(s) => {
                    // Sync sample numbers count from 1, increasing.
                    let key = s.get(next_sync) == Some(&(n as u32 + 1));
                    next_sync += usize::from(key);
                    key
                }
            };
            entries.push((scale(dts + offsets.get(n).copied().unwrap_or(0)), key));
            dts += u64::from(e.sample_delta);
            last_delta = Some(e.sample_delta);
        }
    }
    Some(Mp4Index {
        entries,
        last_duration: last_delta.map(|d| scale(u64::from(d))),
    })
}
