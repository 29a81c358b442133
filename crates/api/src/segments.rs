//! HLS for recorded videos: each video's renditions (its own H.264 repackaged, or transcoded
//! when browsers cannot play its codec, and lower ones for slow links), their VOD playlists
//! (segments cut at keyframes, known from the frame table before anything is encoded), and the
//! segments themselves: made on their first request, kept in a bounded disk cache (LRU), the
//! next ones made ahead in the background.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pigweight_decode::{Cut, Encoder, MediaInfo, Probed, Rendition, cuts};

use crate::error::ApiError;
use crate::library::Entry;

/// One rendition of a video, as the master playlist lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rung {
    /// `source`, or the height with a `p` (`720p`).
    pub(crate) name: String,
    pub(crate) rendition: Rendition,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Bits per second, peak, as HLS's `BANDWIDTH`.
    pub(crate) bandwidth: u64,
}

/// Heights of the lower renditions, made where the source is taller.
const LOWER: [u32; 3] = [1080, 720, 360];

/// The bitrate an H.264 rendition of `height` lines is encoded at.
fn kbps(height: u32) -> u32 {
    match height {
        0..=360 => 800,
        361..=540 => 1400,
        541..=720 => 2500,
        721..=1080 => 5000,
        1081..=1440 => 8000,
        _ => 14_000,
    }
}

/// Rounds down to an even number (H.264 in 4:2:0 wants even sizes), at least 2.
fn even(n: u32) -> u32 {
    (n & !1).max(2)
}

/// Whether the source's video can be repackaged as it is: H.264, with its decode times where
/// frames are reordered (B-frames). MPEG-TS needs both times, and a player given one for the
/// other stalls.
fn remuxable(info: &MediaInfo) -> bool {
    info.codec.starts_with("H.264") && (info.decode_times || !info.reordered)
}

/// The renditions of a video of `len` bytes: `source` (repackaged H.264, or transcoded at the
/// source's size), then every lower height of [`LOWER`].
pub(crate) fn ladder(info: &MediaInfo, len: u64) -> Vec<Rung> {
    let transcoded = |height: u32| {
        let height = even(height.min(info.height));
        let width = even((u64::from(info.width) * u64::from(height) / u64::from(info.height.max(1))) as u32);
        let kbps = kbps(height);
        (
            Rendition::H264 { width, height, kbps },
            width,
            height,
            // The encoder's rate control overshoots: HLS wants the peak.
            u64::from(kbps) * 1000 * 5 / 4,
        )
    };
    let mut rungs = Vec::new();
    let source = if remuxable(info) {
        let mean = (len as f64 * 8.0 / info.duration.max(0.001)) as u64;
        (Rendition::Remux, info.width, info.height, mean * 3 / 2)
    } else {
        transcoded(info.height)
    };
    rungs.push(Rung {
        name: "source".into(),
        rendition: source.0,
        width: source.1,
        height: source.2,
        bandwidth: source.3,
    });
    for height in LOWER.into_iter().filter(|&h| h < info.height) {
        let (rendition, width, height, bandwidth) = transcoded(height);
        rungs.push(Rung {
            name: format!("{height}p"),
            rendition,
            width,
            height,
            bandwidth,
        });
    }
    rungs
}

/// The master playlist: every rendition, best first.
pub(crate) fn master_playlist(rungs: &[Rung]) -> String {
    let mut text = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for rung in rungs {
        text.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={},RESOLUTION={}x{},NAME=\"{}\"\n{}/index.m3u8\n",
            rung.bandwidth, rung.width, rung.height, rung.name, rung.name
        ));
    }
    text
}

/// A rendition's VOD playlist: segment `n` is `n.ts`.
pub(crate) fn media_playlist(cuts: &[Cut]) -> String {
    let longest = cuts
        .iter()
        .map(|c| c.duration().as_secs_f64())
        .fold(0.0, f64::max);
    let mut text = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n",
        longest.ceil().max(1.0) as u64
    );
    for (n, cut) in cuts.iter().enumerate() {
        text.push_str(&format!("#EXTINF:{:.6},\n{n}.ts\n", cut.duration().as_secs_f64()));
    }
    text.push_str("#EXT-X-ENDLIST\n");
    text
}

/// A segment in the cache: one file version, rendition and number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SegmentKey {
    version: Arc<str>,
    rendition: Rendition,
    n: usize,
}

/// A segment on disk; its file goes when the cache lets it go.
#[derive(Debug)]
struct Made {
    path: PathBuf,
    len: u64,
}

/// Sets its flag when dropped unless disarmed: a segment's work nobody waits for any more.
struct CancelOnDrop(Option<Arc<AtomicBool>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

/// Figures of the segment cache and the transcoder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SegmentFigures {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) entries: u64,
    pub(crate) bytes: u64,
    pub(crate) budget_bytes: u64,
    /// Segments made, and made ahead of a request.
    pub(crate) made: u64,
    pub(crate) made_ahead: u64,
    pub(crate) failed: u64,
    /// Segments being made or waiting for the transcoder now.
    pub(crate) queued: u64,
    /// Seconds of video made, and milliseconds it took.
    pub(crate) video_s: f64,
    pub(crate) making_ms: f64,
}

/// How segments are made and kept.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SegmentSettings {
    /// The folder of the disk cache; `None`: a temporary one, removed with the server.
    pub(crate) dir: Option<PathBuf>,
    pub(crate) budget_bytes: u64,
    /// Segments made at once; more wait.
    pub(crate) makers: usize,
    /// Segments made ahead after each request.
    pub(crate) ahead: usize,
    pub(crate) target: Duration,
    /// Longest a segment's pipeline may stall.
    pub(crate) stall: Duration,
}

/// The segments of every video: the disk cache and what makes them.
#[derive(Debug)]
pub(crate) struct Segments {
    settings: SegmentSettings,
    dir: PathBuf,
    _temporary: Option<tempfile::TempDir>,
    cache: moka::future::Cache<SegmentKey, Arc<Made>>,
    /// The H.264 encoder, when one is installed.
    pub(crate) encoder: Option<Encoder>,
    makers: Arc<tokio::sync::Semaphore>,
    hits: AtomicU64,
    misses: AtomicU64,
    made: AtomicU64,
    made_ahead: AtomicU64,
    failed: AtomicU64,
    queued: AtomicU64,
    /// Files named so far (each making gets a new one).
    files: AtomicU64,
    /// Microseconds of video made, and microseconds spent making it.
    video_us: AtomicU64,
    making_us: AtomicU64,
}

impl Segments {
    /// Opens the cache folder (emptied: what a previous run left is not indexed) and picks the
    /// encoder, saying which in the log.
    pub(crate) fn new(settings: SegmentSettings) -> std::io::Result<Self> {
        let (dir, temporary) = match &settings.dir {
            Some(dir) => {
                if dir.exists() {
                    std::fs::remove_dir_all(dir)?;
                }
                std::fs::create_dir_all(dir)?;
                (dir.clone(), None)
            }
            None => {
                let temp = tempfile::Builder::new().prefix("pigweight-hls").tempdir()?;
                (temp.path().to_owned(), Some(temp))
            }
        };
        let encoder = Encoder::detect();
        match encoder {
            Some(e) => tracing::info!(encoder = e.element(), "H.264 encoder for HLS renditions"),
            None => tracing::warn!(
                "no H.264 encoder (x264enc: gstreamer1.0-plugins-ugly): HLS offers only repackaged H.264"
            ),
        }
        let cache = moka::future::Cache::builder()
            .max_capacity(settings.budget_bytes)
            .weigher(|_: &SegmentKey, made: &Arc<Made>| u32::try_from(made.len).unwrap_or(u32::MAX))
            .eviction_listener(|_, made: Arc<Made>, _| {
                let _ = std::fs::remove_file(&made.path);
            })
            .build();
        Ok(Self {
            makers: Arc::new(tokio::sync::Semaphore::new(settings.makers.max(1))),
            settings,
            dir,
            _temporary: temporary,
            cache,
            encoder,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            made: AtomicU64::new(0),
            made_ahead: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            files: AtomicU64::new(0),
            video_us: AtomicU64::new(0),
            making_us: AtomicU64::new(0),
        })
    }

    /// The renditions of a video this server can make.
    pub(crate) fn ladder(&self, probed: &Probed, len: u64) -> Vec<Rung> {
        let mut rungs = ladder(&probed.info, len);
        if self.encoder.is_none() {
            rungs.retain(|r| r.rendition == Rendition::Remux);
        }
        rungs
    }

    /// The segments of a video.
    pub(crate) fn cuts(&self, probed: &Probed) -> Vec<Cut> {
        cuts(&probed.timeline, self.settings.target)
    }

    /// Segment `n` of `rung`: from the cache, else made now (once, however many ask at once).
    /// The next ones are made ahead when the transcoder is free.
    pub(crate) async fn get(
        self: &Arc<Self>,
        entry: &Entry,
        cuts: &[Cut],
        rung: &Rung,
        n: usize,
    ) -> Result<Bytes, ApiError> {
        let made = self.fetch(entry, cuts, rung.rendition, n, false).await?;
        for ahead in n + 1..(n + 1 + self.settings.ahead).min(cuts.len()) {
            self.make_ahead(entry, cuts, rung.rendition, ahead);
        }
        tokio::fs::read(&made.path)
            .await
            .map(Bytes::from)
            .map_err(|e| ApiError::internal("reading a cached HLS segment").because(e))
    }

    fn key(entry: &Entry, rendition: Rendition, n: usize) -> SegmentKey {
        SegmentKey {
            version: Arc::clone(entry.version()),
            rendition,
            n,
        }
    }

    /// Starts making segment `n` in the background if it is not cached and a maker is free.
    fn make_ahead(self: &Arc<Self>, entry: &Entry, cuts: &[Cut], rendition: Rendition, n: usize) {
        if self.cache.contains_key(&Self::key(entry, rendition, n)) || self.makers.available_permits() == 0 {
            return;
        }
        let (segments, entry, cuts) = (Arc::clone(self), entry.clone(), cuts.to_vec());
        tokio::spawn(async move {
            if let Err(e) = segments.fetch(&entry, &cuts, rendition, n, true).await {
                tracing::debug!(video = %entry.name, segment = n, error = %e, "segment not made ahead");
            }
        });
    }

    async fn fetch(
        &self,
        entry: &Entry,
        cuts: &[Cut],
        rendition: Rendition,
        n: usize,
        ahead: bool,
    ) -> Result<Arc<Made>, ApiError> {
        let cut = *cuts
            .get(n)
            .ok_or_else(|| ApiError::not_found(format!("no segment {n}: the video has {}", cuts.len())))?;
        let key = Self::key(entry, rendition, n);
        let path = entry.path.clone();
        let made = self
            .cache
            .entry(key)
            .or_try_insert_with(self.make(path, cut, rendition, ahead))
            .await
            .map_err(|e| (*e).clone())?;
        if !ahead {
            let counter = if made.is_fresh() { &self.misses } else { &self.hits };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        Ok(made.into_value())
    }

    /// Makes a segment into a file of the cache folder on a blocking thread, once a maker is
    /// free; cancelled when every caller waiting for it goes away.
    async fn make(
        &self,
        path: PathBuf,
        cut: Cut,
        rendition: Rendition,
        ahead: bool,
    ) -> Result<Arc<Made>, ApiError> {
        let _queued = Queued::join(&self.queued);
        let _permit = self
            .makers
            .acquire()
            .await
            .map_err(|e| ApiError::internal("the HLS transcoder stopped").because(e))?;
        let encoder = self.encoder.unwrap_or(Encoder::X264);
        let cancel = Arc::new(AtomicBool::new(false));
        let mut guard = CancelOnDrop(Some(Arc::clone(&cancel)));
        let stall = self.settings.stall;
        let started = Instant::now();
        let made = tokio::task::spawn_blocking(move || {
            pigweight_decode::segment(&path, &cut, rendition, encoder, &cancel, stall)
        })
        .await
        .map_err(ApiError::join)?;
        guard.0 = None;
        let bytes = match made {
            Ok(bytes) => bytes,
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let doing = format!(
                    "making the HLS segment at {:.3} s ({rendition:?})",
                    cut.start.as_secs_f64()
                );
                return Err(ApiError::internal(doing).because(e));
            }
        };
        // A file of its own for each making: the cache may let a segment go (and delete its
        // file, later) while the same segment is being made again. Not named `.ts`: a library
        // folder that holds the cache folder must not list its segments as videos.
        let file = self
            .dir
            .join(format!("{}.segment", self.files.fetch_add(1, Ordering::Relaxed)));
        tokio::fs::write(&file, &bytes)
            .await
            .map_err(|e| ApiError::internal("writing an HLS segment to the cache").because(e))?;
        self.made.fetch_add(1, Ordering::Relaxed);
        if ahead {
            self.made_ahead.fetch_add(1, Ordering::Relaxed);
        }
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.video_us.fetch_add(micros(cut.duration()), Ordering::Relaxed);
        self.making_us
            .fetch_add(micros(started.elapsed()), Ordering::Relaxed);
        Ok(Arc::new(Made {
            path: file,
            len: bytes.len() as u64,
        }))
    }

    pub(crate) async fn figures(&self) -> SegmentFigures {
        self.cache.run_pending_tasks().await;
        SegmentFigures {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.cache.entry_count(),
            bytes: self.cache.weighted_size(),
            budget_bytes: self.settings.budget_bytes,
            made: self.made.load(Ordering::Relaxed),
            made_ahead: self.made_ahead.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
            video_s: self.video_us.load(Ordering::Relaxed) as f64 / 1e6,
            making_ms: self.making_us.load(Ordering::Relaxed) as f64 / 1e3,
        }
    }
}

/// One segment counted as queued for the transcoder, until dropped.
struct Queued<'a>(&'a AtomicU64);

impl<'a> Queued<'a> {
    fn join(count: &'a AtomicU64) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The facts of a 10 s, 25 fps video in MP4, of `codec` at `width`x`height`.
    pub(crate) fn info(codec: &str, width: u32, height: u32) -> MediaInfo {
        MediaInfo {
            container: "ISO MP4/M4A".into(),
            codec: codec.into(),
            width,
            height,
            rotation: 0,
            duration: 10.0,
            fps: 25.0,
            nominal_fps: Some(25.0),
            variable_frame_rate: false,
            frame_count: 250,
            keyframe_count: 5,
            max_gop: 50,
            reordered: false,
            decode_times: true,
            start_time: 0.0,
            truncated_from: None,
        }
    }

    #[test]
    fn h264_is_repackaged_other_codecs_transcoded_and_lower_rungs_added() {
        let rungs = ladder(&info("H.264 (High Profile)", 1920, 1080), 10_000_000);
        let names: Vec<&str> = rungs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["source", "720p", "360p"]);
        assert_eq!(rungs[0].rendition, Rendition::Remux);
        assert_eq!(rungs[0].bandwidth, 12_000_000);
        assert_eq!(
            rungs[2].rendition,
            Rendition::H264 {
                width: 640,
                height: 360,
                kbps: 800
            }
        );
        let hevc = ladder(&info("H.265 (Main Profile)", 1280, 720), 1);
        assert_eq!(
            hevc.iter()
                .map(|r| (r.name.as_str(), r.rendition))
                .collect::<Vec<_>>(),
            [
                (
                    "source",
                    Rendition::H264 {
                        width: 1280,
                        height: 720,
                        kbps: 2500
                    }
                ),
                (
                    "360p",
                    Rendition::H264 {
                        width: 640,
                        height: 360,
                        kbps: 800
                    }
                ),
            ]
        );
        // H.264 with B-frames and no decode times (Matroska) cannot be repackaged: transcoded;
        // without B-frames, or with decode times (MP4), repackaged.
        let in_matroska = |reordered| MediaInfo {
            container: "Matroska".into(),
            reordered,
            decode_times: false,
            ..info("H.264 (High Profile)", 1280, 720)
        };
        assert!(matches!(
            ladder(&in_matroska(true), 1)[0].rendition,
            Rendition::H264 { .. }
        ));
        assert_eq!(ladder(&in_matroska(false), 1)[0].rendition, Rendition::Remux);
        let reordered_mp4 = MediaInfo {
            reordered: true,
            ..info("H.264 (High Profile)", 1280, 720)
        };
        assert_eq!(ladder(&reordered_mp4, 1)[0].rendition, Rendition::Remux);
        // Odd sizes become even.
        let odd = ladder(&info("MPEG-4 Video", 853, 481), 1);
        assert_eq!(
            (odd[0].width, odd[0].height, odd[1].width, odd[1].height),
            (850, 480, 638, 360)
        );
    }

    #[test]
    fn playlists_list_every_rendition_and_segment() {
        let rungs = ladder(&info("H.264", 1280, 720), 2_500_000);
        let master = master_playlist(&rungs);
        assert!(master.starts_with("#EXTM3U\n"), "{master}");
        assert!(
            master.contains("RESOLUTION=1280x720,NAME=\"source\"\nsource/index.m3u8\n"),
            "{master}"
        );
        assert!(
            master.contains("RESOLUTION=640x360,NAME=\"360p\"\n360p/index.m3u8\n"),
            "{master}"
        );
        let cuts = [
            Cut {
                first: 0,
                start: Duration::ZERO,
                end: Duration::from_millis(4200),
            },
            Cut {
                first: 105,
                start: Duration::from_millis(4200),
                end: Duration::from_millis(6000),
            },
        ];
        let media = media_playlist(&cuts);
        assert_eq!(
            media,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:5\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXTINF:4.200000,\n0.ts\n\
             #EXTINF:1.800000,\n1.ts\n#EXT-X-ENDLIST\n"
        );
    }
}
