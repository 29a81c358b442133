//! Detections already computed, by video, frame, model and parameters, so a frame asked for
//! twice (two users, or a user and the indexer) is inferred once — also when both ask at the
//! same moment: the second waits for the first one's result.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::band::Detections;

/// Identifies one result: the same frame through the same model with the same parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResultKey {
    /// The caller's identity of the video version (e.g. path plus size and mtime, or a content
    /// hash): a changed file must give a new key.
    pub video: Arc<str>,
    pub frame: u64,
    /// [`crate::ModelInfo::identity`]: the model file and the thresholds and class filter in
    /// effect.
    pub model: Arc<str>,
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
    cache: moka::future::Cache<ResultKey, Arc<Detections>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ResultCache {
    /// Holds at most `entries` results.
    pub fn new(entries: u64) -> Self {
        Self {
            cache: moka::future::Cache::new(entries),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The result when it is there; nothing is computed. A find counts as a hit; finding
    /// nothing is not counted as a miss, because the caller then answers another way (the
    /// index) or computes it through [`Self::get_or_infer`], which counts the miss once.
    pub async fn get(&self, key: &ResultKey) -> Option<Arc<Detections>> {
        let found = self.cache.get(key).await;
        if found.is_some() {
            self.count(true);
        }
        found
    }

    /// The result, computed by `infer` when missing. Callers asking for the same key while it
    /// runs wait for it instead of computing it again; if its caller goes away, one of them
    /// takes over. Also says whether the result was already there. Errors are not cached.
    pub async fn get_or_infer<E>(
        &self,
        key: ResultKey,
        infer: impl Future<Output = Result<Arc<Detections>, E>>,
    ) -> Result<(Arc<Detections>, bool), Arc<E>>
    where
        E: Send + Sync + 'static,
    {
        let mut computed = false;
        let result = self
            .cache
            .try_get_with(key, async {
                computed = true;
                infer.await
            })
            .await;
        self.count(!computed);
        result.map(|found| (found, !computed))
    }

    fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub async fn stats(&self) -> CacheStats {
        self.cache.run_pending_tasks().await;
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
    use crate::postprocess::Detection;

    /// Frame `frame` of one video version, by model identity number `model`.
    fn key(frame: u64, model: u64) -> ResultKey {
        ResultKey {
            video: "pen.mp4@123".into(),
            frame,
            model: format!("model-{model}").into(),
        }
    }

    #[tokio::test]
    async fn counts_hits_and_misses_and_keys_by_parameters() {
        let cache = ResultCache::new(100);
        let det = Detection {
            bbox: [0.0, 0.0, 1.0, 1.0],
            score: 0.9,
            class: 0,
        };
        assert!(cache.get(&key(1, 7)).await.is_none());
        let infer = |det: Detection| async move { Ok::<_, ()>(Arc::new(Detections::exact(vec![det]))) };
        let (found, cached) = cache.get_or_infer(key(1, 7), infer(det)).await.unwrap();
        assert_eq!((found.count(), cached), (1, false));
        let (found, cached) = cache.get_or_infer(key(1, 7), infer(det)).await.unwrap();
        assert_eq!((found.count(), cached), (1, true));
        assert_eq!(cache.get(&key(1, 7)).await.unwrap().count(), 1);
        assert!(
            cache.get(&key(1, 8)).await.is_none(),
            "other thresholds, other result"
        );
        assert!(cache.get(&key(2, 7)).await.is_none());
        let stats = cache.stats().await;
        // Misses: only the one computation; the peeks that found nothing are not counted.
        assert_eq!((stats.hits, stats.misses, stats.entries), (2, 1, 1));
    }

    type Gate = tokio::sync::watch::Receiver<bool>;

    /// Asks for frame 5; the inference counts itself in `runs` and waits for the gate to open.
    async fn ask(cache: Arc<ResultCache>, runs: Arc<AtomicU64>, mut gate: Gate) -> Result<bool, Arc<()>> {
        let infer = async move {
            runs.fetch_add(1, Ordering::SeqCst);
            let _ = gate.wait_for(|open| *open).await;
            Ok(Arc::new(Detections::default()))
        };
        cache
            .get_or_infer(key(5, 0), infer)
            .await
            .map(|(_, cached)| cached)
    }

    async fn let_others_run() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_result_asked_for_at_once_is_inferred_once() {
        let cache = Arc::new(ResultCache::new(100));
        let runs = Arc::new(AtomicU64::new(0));
        let (open, gate) = tokio::sync::watch::channel(false);
        let asks: Vec<_> = (0..3)
            .map(|_| tokio::spawn(ask(Arc::clone(&cache), Arc::clone(&runs), gate.clone())))
            .collect();
        let_others_run().await;
        open.send(true).unwrap();
        let mut cached = Vec::new();
        for ask in asks {
            cached.push(ask.await.unwrap().unwrap());
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "inferred more than once");
        assert_eq!(cached.iter().filter(|&&c| !c).count(), 1, "{cached:?}");
    }

    #[tokio::test]
    async fn a_waiter_takes_over_when_the_first_caller_goes_away() {
        let cache = Arc::new(ResultCache::new(100));
        let runs = Arc::new(AtomicU64::new(0));
        let (open, gate) = tokio::sync::watch::channel(false);
        let first = tokio::spawn(ask(Arc::clone(&cache), Arc::clone(&runs), gate.clone()));
        let_others_run().await;
        let second = tokio::spawn(ask(Arc::clone(&cache), Arc::clone(&runs), gate));
        let_others_run().await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "the second caller waits");
        first.abort();
        let_others_run().await;
        open.send(true).unwrap();
        assert_eq!(second.await.unwrap(), Ok(false));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = ResultCache::new(100);
        let failed = cache
            .get_or_infer(key(9, 0), async { Err::<Arc<Detections>, _>("no model") })
            .await;
        assert_eq!(*failed.unwrap_err(), "no model");
        let (found, cached) = cache
            .get_or_infer(key(9, 0), async {
                Ok::<_, &str>(Arc::new(Detections::default()))
            })
            .await
            .unwrap();
        assert_eq!((found.count(), cached), (0, false));
    }
}
