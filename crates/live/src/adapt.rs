//! How good a picture each viewer gets.

use std::time::{Duration, Instant};

/// What a viewer is sent: a JPEG quality, at the frame's size divided by `divisor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Level {
    pub quality: u8,
    /// 1: the frame's own size; 2: half its width and height; 4: a quarter.
    pub divisor: u8,
}

/// Sizes a client steps down to once it is at the lowest quality and still behind.
const DIVISORS: [u8; 2] = [2, 4];

/// Per-viewer quality: steps down a level when the client falls behind
/// (frames skipped because it was still taking the previous one, or more than the target
/// bitrate), up when it has been well under the target with nothing skipped for a while. Down
/// is quick (a one-second window), up is slow (three), so a client on the edge does not swing.
/// The levels are the configured JPEG qualities at the frame's size, best first, then the lowest
/// quality at half and at a quarter of the size.
#[derive(Debug)]
pub(crate) struct Adapt {
    /// Best first; the client moves between these.
    levels: Vec<Level>,
    at: usize,
    target_bps: f64,
    window_start: Instant,
    bytes: u64,
    frames: u64,
    skipped: u64,
    last_change: Instant,
    calm_since: Instant,
}

/// Adapt's window for stepping down, and how long a client must stay calm to step up.
const ADAPT_WINDOW: Duration = Duration::from_secs(1);
const ADAPT_UP_AFTER: Duration = Duration::from_secs(3);

impl Adapt {
    pub(crate) fn new(qualities: &[u8], start: u8, target_bps: f64, now: Instant) -> Self {
        let mut qualities = qualities.to_vec();
        qualities.sort_unstable_by(|a, b| b.cmp(a));
        qualities.dedup();
        let at = qualities
            .iter()
            .position(|&l| l <= start)
            .unwrap_or(qualities.len().saturating_sub(1));
        let lowest = qualities.last().copied().unwrap_or(70);
        let levels = qualities
            .into_iter()
            .map(|quality| Level { quality, divisor: 1 })
            .chain(DIVISORS.map(|divisor| Level {
                quality: lowest,
                divisor,
            }))
            .collect();
        Self {
            levels,
            at,
            target_bps,
            window_start: now,
            bytes: 0,
            frames: 0,
            skipped: 0,
            last_change: now,
            calm_since: now,
        }
    }

    pub(crate) fn level(&self) -> Level {
        self.levels.get(self.at).copied().unwrap_or(Level {
            quality: 70,
            divisor: 1,
        })
    }

    /// Records one frame sent (`bytes`, after `skipped` frames that were not); returns the new
    /// level when it changes.
    pub(crate) fn record(&mut self, now: Instant, bytes: usize, skipped: u64) -> Option<Level> {
        self.bytes += bytes as u64;
        self.frames += 1;
        self.skipped += skipped;
        let span = now.duration_since(self.window_start);
        if span < ADAPT_WINDOW {
            return None;
        }
        let bps = self.bytes as f64 * 8.0 / span.as_secs_f64();
        // Behind: more than one frame in five skipped, or over the target.
        let behind = self.skipped * 5 > self.frames + self.skipped || bps > self.target_bps;
        let easy = self.skipped == 0 && bps < self.target_bps * 0.6;
        (self.window_start, self.bytes, self.frames, self.skipped) = (now, 0, 0, 0);
        if !easy {
            self.calm_since = now;
        }
        let before = self.at;
        if behind && self.at + 1 < self.levels.len() {
            self.at += 1;
        } else if easy
            && self.at > 0
            && now.duration_since(self.calm_since) >= ADAPT_UP_AFTER
            && now.duration_since(self.last_change) >= ADAPT_UP_AFTER
        {
            self.at -= 1;
            self.calm_since = now;
        }
        (self.at != before).then(|| {
            self.last_change = now;
            self.level()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(quality: u8) -> Level {
        Level { quality, divisor: 1 }
    }

    #[test]
    fn quality_steps_down_fast_then_the_size_and_up_slowly() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut a = Adapt::new(&[50, 90, 70], 90, 1_000_000.0, t0);
        assert_eq!(a.level(), q(90));
        // Half the frames skipped for a second: one level down, then the next.
        for k in 0..10 {
            assert_eq!(a.record(at(k * 100), 10_000, 1), None);
        }
        assert_eq!(a.record(at(1000), 10_000, 1), Some(q(70)));
        for k in 11..20 {
            a.record(at(k * 100), 10_000, 1);
        }
        assert_eq!(a.record(at(2000), 10_000, 1), Some(q(50)));
        // Still behind at the lowest quality: half the size, then a quarter.
        let mut steps = Vec::new();
        for k in 21..=40 {
            steps.extend(a.record(at(k * 100), 10_000, 1));
        }
        assert_eq!(
            steps,
            [
                Level {
                    quality: 50,
                    divisor: 2
                },
                Level {
                    quality: 50,
                    divisor: 4
                }
            ]
        );
        // At the floor it stays.
        for k in 41..=50 {
            assert_eq!(a.record(at(k * 100), 10_000, 1), None);
        }
        // Keeping up easily (2 kB frames 10 times a second: 160 kbit/s, well under 1 Mbit/s,
        // nothing skipped): up one level, and only after three calm seconds.
        let mut ups = Vec::new();
        for k in 51..=120 {
            if let Some(l) = a.record(at(k * 100), 2_000, 0) {
                ups.push((k, l));
            }
        }
        assert_eq!(ups.first().map(|u| u.1.divisor), Some(2), "{ups:?}");
        assert!(ups[0].0 >= 80, "up too soon: {ups:?}");
        assert!(ups.len() <= 2, "{ups:?}");
        // Over the bitrate target: down, even with nothing skipped.
        let mut b = Adapt::new(&[90, 70, 50], 90, 100_000.0, t0);
        let mut down = None;
        for k in 0..=10 {
            down = down.or(b.record(at(k * 100), 5_000, 0));
        }
        assert_eq!(down, Some(q(70)));
    }
}
