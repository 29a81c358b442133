//! How playback goes for the people watching: what players report (time to first frame, stalls
//! and their length, rendition switches, which path they play) summed per video and in total,
//! and who is watching now. Bounded: per video of the library, and at most
//! [`MAX_SESSIONS`] sessions remembered as watching.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;

/// Sessions remembered as watching at once; the oldest are forgotten first.
const MAX_SESSIONS: u64 = 10_000;
/// A session that has not reported for this long no longer counts as watching.
pub(crate) const WATCHING_FOR: Duration = Duration::from_secs(30);

/// One report of a player: what happened since its previous report.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Report {
    /// The first report of a session carries its time to first frame.
    pub(crate) first_frame_ms: Option<f64>,
    pub(crate) stalls: u64,
    pub(crate) stall_ms: f64,
    pub(crate) switches: u64,
    pub(crate) hls: bool,
}

/// Sums over reports (per video, or in total).
#[derive(Debug, Default)]
pub(crate) struct Sums {
    sessions: AtomicU64,
    hls_sessions: AtomicU64,
    first_frame_us: AtomicU64,
    first_frame_max_us: AtomicU64,
    stalls: AtomicU64,
    stall_us: AtomicU64,
    switches: AtomicU64,
}

/// What [`Sums`] hold, read out.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Figures {
    /// Sessions that reported their first frame, and those of them on HLS.
    pub(crate) sessions: u64,
    pub(crate) hls_sessions: u64,
    pub(crate) mean_first_frame_ms: f64,
    pub(crate) max_first_frame_ms: f64,
    pub(crate) stalls: u64,
    pub(crate) stall_ms: f64,
    pub(crate) switches: u64,
    /// Sessions that reported within [`WATCHING_FOR`].
    pub(crate) watching: u64,
}

fn micros(ms: f64) -> u64 {
    (ms * 1000.0) as u64
}

impl Sums {
    fn add(&self, r: &Report) {
        if let Some(ms) = r.first_frame_ms {
            self.sessions.fetch_add(1, Ordering::Relaxed);
            if r.hls {
                self.hls_sessions.fetch_add(1, Ordering::Relaxed);
            }
            self.first_frame_us.fetch_add(micros(ms), Ordering::Relaxed);
            self.first_frame_max_us.fetch_max(micros(ms), Ordering::Relaxed);
        }
        self.stalls.fetch_add(r.stalls, Ordering::Relaxed);
        self.stall_us.fetch_add(micros(r.stall_ms), Ordering::Relaxed);
        self.switches.fetch_add(r.switches, Ordering::Relaxed);
    }

    fn figures(&self, watching: u64) -> Figures {
        let sessions = self.sessions.load(Ordering::Relaxed);
        Figures {
            sessions,
            hls_sessions: self.hls_sessions.load(Ordering::Relaxed),
            mean_first_frame_ms: if sessions == 0 {
                0.0
            } else {
                self.first_frame_us.load(Ordering::Relaxed) as f64 / 1000.0 / sessions as f64
            },
            max_first_frame_ms: self.first_frame_max_us.load(Ordering::Relaxed) as f64 / 1000.0,
            stalls: self.stalls.load(Ordering::Relaxed),
            stall_ms: self.stall_us.load(Ordering::Relaxed) as f64 / 1000.0,
            switches: self.switches.load(Ordering::Relaxed),
            watching,
        }
    }
}

/// Playback figures of every video, and in total.
#[derive(Debug)]
pub(crate) struct Viewing {
    total: Sums,
    by_video: DashMap<String, Sums>,
    /// Session → video, while it reports.
    watching: moka::sync::Cache<String, String>,
}

impl Default for Viewing {
    fn default() -> Self {
        Self {
            total: Sums::default(),
            by_video: DashMap::new(),
            watching: moka::sync::Cache::builder()
                .max_capacity(MAX_SESSIONS)
                .time_to_live(WATCHING_FOR)
                .build(),
        }
    }
}

impl Viewing {
    /// Adds `session`'s report on `video` (a video of the library: the map stays bounded).
    pub(crate) fn report(&self, video: &str, session: &str, report: &Report) {
        self.total.add(report);
        self.by_video.entry(video.to_owned()).or_default().add(report);
        self.watching.insert(session.to_owned(), video.to_owned());
    }

    /// Forgets a video's figures (it left the library).
    pub(crate) fn forget(&self, video: &str) {
        self.by_video.remove(video);
    }

    /// Totals, and each video's figures by id.
    pub(crate) fn figures(&self) -> (Figures, Vec<(String, Figures)>) {
        self.watching.run_pending_tasks();
        let mut watching: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        for (_, video) in &self.watching {
            *watching.entry(video).or_default() += 1;
        }
        let mut videos: Vec<(String, Figures)> = self
            .by_video
            .iter()
            .map(|e| {
                let now = watching.get(e.key()).copied().unwrap_or(0);
                (e.key().clone(), e.value().figures(now))
            })
            .collect();
        videos.sort_by(|a, b| a.0.cmp(&b.0));
        (self.total.figures(self.watching.entry_count()), videos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_add_up_per_video_and_in_total() {
        let v = Viewing::default();
        let first = |ms, hls| Report {
            first_frame_ms: Some(ms),
            hls,
            ..Report::default()
        };
        v.report("a", "s1", &first(400.0, false));
        v.report("a", "s2", &first(800.0, true));
        v.report(
            "a",
            "s2",
            &Report {
                stalls: 2,
                stall_ms: 1500.0,
                switches: 1,
                hls: true,
                ..Report::default()
            },
        );
        v.report("b", "s3", &first(100.0, false));
        let (total, videos) = v.figures();
        assert_eq!((total.sessions, total.hls_sessions, total.watching), (3, 1, 3));
        let a = videos[0].1;
        assert_eq!(videos[0].0, "a");
        assert_eq!((a.sessions, a.stalls, a.switches, a.watching), (2, 2, 1, 2));
        assert_eq!(
            (a.mean_first_frame_ms, a.max_first_frame_ms, a.stall_ms),
            (600.0, 800.0, 1500.0)
        );
        v.forget("a");
        assert_eq!(v.figures().1.len(), 1);
    }
}
