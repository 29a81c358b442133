//! Detections already computed, by video, frame, model and parameters, so a frame asked for
//! twice (two users, or a user and the indexer) is inferred once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::postprocess::Detection;

/// Identifies one result: the same frame through the same model with the same parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResultKey {
    /// The caller's identity of the video version (e.g. path plus size and mtime, or a content
    /// hash): a changed file must give a new key.
    pub video: Arc<str>,
    pub frame: u64,
    /// [`crate::ModelInfo::hash`].
    pub model: Arc<str>,
    /// A digest of thresholds and class filter (see [`crate::Thresholds`]).
    pub params: u64,
}

/// Hit and miss counts of a cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
}

/// A bounded cache of detections (moka), counted.
#[derive(Debug)]
pub struct ResultCache {
    cache: moka::sync::Cache<ResultKey, Arc<Vec<Detection>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ResultCache {
    /// Holds at most `entries` results.
    pub fn new(entries: u64) -> Self {
        Self {
            cache: moka::sync::Cache::new(entries),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn get(&self, key: &ResultKey) -> Option<Arc<Vec<Detection>>> {
        let found = self.cache.get(key);
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub fn insert(&self, key: ResultKey, detections: Arc<Vec<Detection>>) {
        self.cache.insert(key, detections);
    }

    pub fn stats(&self) -> CacheStats {
        self.cache.run_pending_tasks();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.cache.entry_count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(frame: u64, params: u64) -> ResultKey {
        ResultKey {
            video: "pen.mp4@123".into(),
            frame,
            model: "abc".into(),
            params,
        }
    }

    #[test]
    fn counts_hits_and_misses_and_keys_by_parameters() {
        let cache = ResultCache::new(100);
        let det = Detection {
            bbox: [0.0, 0.0, 1.0, 1.0],
            score: 0.9,
            class: 0,
        };
        assert!(cache.get(&key(1, 7)).is_none());
        cache.insert(key(1, 7), Arc::new(vec![det]));
        assert_eq!(cache.get(&key(1, 7)).unwrap().len(), 1);
        assert!(cache.get(&key(1, 8)).is_none(), "other thresholds, other result");
        assert!(cache.get(&key(2, 7)).is_none());
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.entries), (1, 3, 1));
    }
}
