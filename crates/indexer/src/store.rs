//! The index database: SQLite in WAL mode, one file in the data folder.
//!
//! An index is content-addressed: it belongs to a video's content fingerprint (BLAKE3 of the
//! file), a model hash and the parameters that change results (thresholds, class filter,
//! interval). A changed file or a new model makes a new index and leaves the old one in place,
//! so two models can be compared on one timeline. Samples are keyed by (index, frame), so a pass
//! that is stopped and run again — even after `kill -9` — fills in what is missing and can never
//! write a row twice. Thumbnails belong to the video content, not to a model.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use pigweight_inference::CountBand;

use crate::error::IndexError;

/// Schema migrations, in order; `PRAGMA user_version` counts how many have run.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE videos (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    frame_count INTEGER NOT NULL,
    duration REAL NOT NULL,
    failed TEXT
);
CREATE TABLE indexes (
    id INTEGER PRIMARY KEY,
    video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    model_hash TEXT NOT NULL,
    params TEXT NOT NULL,
    interval REAL NOT NULL,
    pass TEXT NOT NULL,
    error TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    UNIQUE (video_id, model_hash, params)
);
CREATE TABLE samples (
    index_id INTEGER NOT NULL REFERENCES indexes(id) ON DELETE CASCADE,
    frame INTEGER NOT NULL,
    time REAL NOT NULL,
    count INTEGER NOT NULL,
    source TEXT NOT NULL,
    detections TEXT NOT NULL,
    PRIMARY KEY (index_id, frame)
) WITHOUT ROWID;
CREATE TABLE thumbnails (
    video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    frame INTEGER NOT NULL,
    jpeg BLOB NOT NULL,
    PRIMARY KEY (video_id, frame)
) WITHOUT ROWID;
",
    r"
-- Every count carries a band (count_low..count_high). Indexes made before have none, so they
-- are dropped and made again (their samples go with them; thumbnails belong to the videos).
ALTER TABLE samples ADD COLUMN count_low INTEGER NOT NULL DEFAULT 0;
ALTER TABLE samples ADD COLUMN count_high INTEGER NOT NULL DEFAULT 0;
DELETE FROM indexes;
",
];

/// A video as the index knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoRecord {
    /// BLAKE3 of the file's bytes, hex.
    pub fingerprint: String,
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
    pub frame_count: u64,
    pub duration: f64,
}

/// What an index is of, besides the video: the model and everything that changes its results.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexKey {
    /// BLAKE3 of the model file.
    pub model_hash: String,
    /// Canonical text of the thresholds and class filter.
    pub params: String,
    /// Seconds between regular samples.
    pub interval: f64,
}

/// Where an index is in its work, coarse to fine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pass {
    /// Keyframes only: a rough timeline fast.
    Keyframes,
    /// One sample every `interval`.
    Regular,
    /// Bisecting between samples whose counts differ, to find the frame where it changes.
    Refine,
    Done,
    /// The video cannot be decoded; the reason is stored.
    Failed,
}

impl Pass {
    fn as_str(self) -> &'static str {
        match self {
            Self::Keyframes => "keyframes",
            Self::Regular => "regular",
            Self::Refine => "refine",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, IndexError> {
        Ok(match s {
            "keyframes" => Self::Keyframes,
            "regular" => Self::Regular,
            "refine" => Self::Refine,
            "done" => Self::Done,
            "failed" => Self::Failed,
            other => {
                return Err(IndexError::Database(format!(
                    "unknown pass {other:?} in the index"
                )));
            }
        })
    }
}

/// How a sample was obtained: which pass inferred it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Keyframe,
    Regular,
    Refine,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Self::Keyframe => "keyframe",
            Self::Regular => "regular",
            Self::Refine => "refine",
        }
    }

    fn parse(s: &str) -> Result<Self, IndexError> {
        Ok(match s {
            "keyframe" => Self::Keyframe,
            "regular" => Self::Regular,
            "refine" => Self::Refine,
            other => return Err(IndexError::Database(format!("unknown sample source {other:?}"))),
        })
    }
}

/// One detection as the index keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StoredDetection {
    /// x1, y1, x2, y2 in source pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    pub score: f32,
    pub class: u32,
    /// Identity along the video from the tracker, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<u32>,
}

/// One inferred frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub frame: u64,
    /// Seconds from the first frame.
    pub time: f64,
    pub count: u32,
    /// The fewest and most animals the frame may hold (`band.low <= count <= band.high`).
    pub band: CountBand,
    pub source: Source,
    pub detections: Vec<StoredDetection>,
}

/// An index's row.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexRow {
    pub id: i64,
    pub video_id: i64,
    pub pass: Pass,
    pub error: Option<String>,
}

/// What the database holds of one file under one key.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub video_id: i64,
    /// Seconds, as probed when it was recorded.
    pub duration: f64,
    /// Its index under the key, if one was started.
    pub index: Option<IndexRow>,
    pub samples: Vec<Sample>,
}

/// The index database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Opens (or creates) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        let conn = Connection::open(path)?;
        // WAL: readers never wait for the indexer; NORMAL sync is durable across a process
        // crash (kill -9) and loses at most the last transactions on power loss, never
        // consistency.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut store = Self { conn };
        store.migrate(path)?;
        Ok(store)
    }

    /// Caps the database file at about `bytes`: past it, writes fail as they would on a full
    /// disk ("database or disk is full") and nothing already committed is touched.
    pub fn limit_size(&mut self, bytes: u64) -> Result<(), IndexError> {
        let page: i64 = self.conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
        let pages = (bytes / page.max(1) as u64).max(1) as i64;
        self.conn.pragma_update(None, "max_page_count", pages)?;
        Ok(())
    }

    fn migrate(&mut self, path: &Path) -> Result<(), IndexError> {
        let version: i64 = self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(IndexError::NewerSchema {
                path: path.to_owned(),
                found: version,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
            tracing::info!(version = i + 1, "index database migrated");
        }
        Ok(())
    }

    /// Records a video (or updates where its content now lives) and returns its id.
    pub fn video(&mut self, rec: &VideoRecord) -> Result<i64, IndexError> {
        let path = rec.path.to_string_lossy();
        Ok(self.conn.query_row(
            "INSERT INTO videos (fingerprint, path, size, mtime_ns, frame_count, duration)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (fingerprint) DO UPDATE SET path = excluded.path, mtime_ns = excluded.mtime_ns
             RETURNING id",
            params![
                rec.fingerprint,
                path,
                rec.size as i64,
                rec.mtime_ns,
                rec.frame_count as i64,
                rec.duration
            ],
            |r| r.get(0),
        )?)
    }

    /// The fingerprint recorded for the file at `path` when it had this size and modification
    /// time, if any.
    pub fn known_fingerprint(
        &self,
        path: &Path,
        size: u64,
        mtime_ns: i64,
    ) -> Result<Option<String>, IndexError> {
        Ok(self
            .conn
            .prepare_cached("SELECT fingerprint FROM videos WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3")?
            .query_row(params![path.to_string_lossy(), size as i64, mtime_ns], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// What the database holds for the file at `path` with this size and modification time
    /// under `key`, read without writing anything: for showing a video's index at once after
    /// a restart, before its job runs again.
    pub fn stored(
        &self,
        path: &Path,
        size: u64,
        mtime_ns: i64,
        key: &IndexKey,
    ) -> Result<Option<Stored>, IndexError> {
        let found = self
            .conn
            .prepare_cached(
                "SELECT v.id, v.duration, i.id, i.pass, i.error FROM videos v
                 LEFT JOIN indexes i ON i.video_id = v.id AND i.model_hash = ?4 AND i.params = ?5
                 WHERE v.path = ?1 AND v.size = ?2 AND v.mtime_ns = ?3",
            )?
            .query_row(
                params![
                    path.to_string_lossy(),
                    size as i64,
                    mtime_ns,
                    key.model_hash,
                    key.params
                ],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, f64>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                },
            )
            .optional()?;
        let Some((video_id, duration, index_id, pass, error)) = found else {
            return Ok(None);
        };
        let index = match (index_id, pass) {
            (Some(id), Some(pass)) => Some(IndexRow {
                id,
                video_id,
                pass: Pass::parse(&pass)?,
                error,
            }),
            _ => None,
        };
        let samples = match &index {
            Some(row) => self.samples(row.id)?,
            None => Vec::new(),
        };
        Ok(Some(Stored {
            video_id,
            duration,
            index,
            samples,
        }))
    }

    /// The index of `video_id` for `key`, made (at the keyframes pass) if there is none.
    pub fn index(&mut self, video_id: i64, key: &IndexKey) -> Result<IndexRow, IndexError> {
        let now = now_ms();
        self.conn.execute(
            "INSERT INTO indexes (video_id, model_hash, params, interval, pass, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT (video_id, model_hash, params) DO NOTHING",
            params![
                video_id,
                key.model_hash,
                key.params,
                key.interval,
                Pass::Keyframes.as_str(),
                now
            ],
        )?;
        let (id, pass, error): (i64, String, Option<String>) = self.conn.query_row(
            "SELECT id, pass, error FROM indexes WHERE video_id = ?1 AND model_hash = ?2 AND params = ?3",
            params![video_id, key.model_hash, key.params],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(IndexRow {
            id,
            video_id,
            pass: Pass::parse(&pass)?,
            error,
        })
    }

    /// Moves an index to `pass` (with the reason when it failed).
    pub fn set_pass(&mut self, index_id: i64, pass: Pass, error: Option<&str>) -> Result<(), IndexError> {
        self.conn.execute(
            "UPDATE indexes SET pass = ?2, error = ?3, updated_ms = ?4 WHERE id = ?1",
            params![index_id, pass.as_str(), error, now_ms()],
        )?;
        Ok(())
    }

    /// Rewrites the detections of `samples` (now with track ids) and marks the index done, in
    /// one transaction: a stop in between leaves it unfinished, and the tracks are assigned
    /// again on resume.
    pub fn finish_with_tracks(&mut self, index_id: i64, samples: &[&Sample]) -> Result<(), IndexError> {
        let tx = self.conn.transaction()?;
        {
            let mut update =
                tx.prepare_cached("UPDATE samples SET detections = ?3 WHERE index_id = ?1 AND frame = ?2")?;
            for s in samples {
                let detections = serde_json::to_string(&s.detections)
                    .map_err(|e| IndexError::Database(format!("encoding detections: {e}")))?;
                update.execute(params![index_id, s.frame as i64, detections])?;
            }
        }
        tx.execute(
            "UPDATE indexes SET pass = ?2, error = NULL, updated_ms = ?3 WHERE id = ?1",
            params![index_id, Pass::Done.as_str(), now_ms()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Adds samples in one transaction; frames the index already has are left as they are.
    /// Returns how many were new.
    pub fn insert_samples(&mut self, index_id: i64, samples: &[Sample]) -> Result<usize, IndexError> {
        let tx = self.conn.transaction()?;
        let mut added = 0;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO samples
                 (index_id, frame, time, count, source, detections, count_low, count_high)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for s in samples {
                let detections = serde_json::to_string(&s.detections)
                    .map_err(|e| IndexError::Database(format!("encoding detections: {e}")))?;
                added += insert.execute(params![
                    index_id,
                    s.frame as i64,
                    s.time,
                    s.count,
                    s.source.as_str(),
                    detections,
                    s.band.low,
                    s.band.high
                ])?;
            }
        }
        tx.execute(
            "UPDATE indexes SET updated_ms = ?2 WHERE id = ?1",
            params![index_id, now_ms()],
        )?;
        tx.commit()?;
        Ok(added)
    }

    /// Every sample of an index, in frame order.
    pub fn samples(&self, index_id: i64) -> Result<Vec<Sample>, IndexError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT frame, time, count, source, detections, count_low, count_high
             FROM samples WHERE index_id = ?1 ORDER BY frame",
        )?;
        let rows = stmt.query_map(params![index_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, f64>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                CountBand {
                    low: r.get(5)?,
                    high: r.get(6)?,
                },
            ))
        })?;
        rows.map(|row| {
            let (frame, time, count, source, detections, band) = row?;
            Ok(Sample {
                frame: frame as u64,
                time,
                count,
                band,
                source: Source::parse(&source)?,
                detections: serde_json::from_str(&detections)
                    .map_err(|e| IndexError::Database(format!("frame {frame}: bad detections: {e}")))?,
            })
        })
        .collect()
    }

    /// Stores thumbnails (JPEG) of a video's frames; existing ones are kept.
    pub fn put_thumbnails(&mut self, video_id: i64, thumbs: &[(u64, Vec<u8>)]) -> Result<(), IndexError> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO thumbnails (video_id, frame, jpeg) VALUES (?1, ?2, ?3)",
            )?;
            for (frame, jpeg) in thumbs {
                insert.execute(params![video_id, *frame as i64, jpeg])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The thumbnail of exactly `frame`, if there is one: one indexed read.
    pub fn thumbnail(&self, video_id: i64, frame: u64) -> Result<Option<Vec<u8>>, IndexError> {
        Ok(self
            .conn
            .prepare_cached("SELECT jpeg FROM thumbnails WHERE video_id = ?1 AND frame = ?2")?
            .query_row(params![video_id, frame as i64], |r| r.get(0))
            .optional()?)
    }

    /// Frames of a video that have a thumbnail, in order.
    pub fn thumbnail_frames(&self, video_id: i64) -> Result<Vec<u64>, IndexError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT frame FROM thumbnails WHERE video_id = ?1 ORDER BY frame")?;
        let frames = stmt.query_map(params![video_id], |r| r.get::<_, i64>(0))?;
        frames.map(|f| Ok(f? as u64)).collect()
    }

    /// Marks a video as undecodable (`Some(reason)`) or clears that mark.
    pub fn set_video_failed(&mut self, video_id: i64, reason: Option<&str>) -> Result<(), IndexError> {
        self.conn.execute(
            "UPDATE videos SET failed = ?2 WHERE id = ?1",
            params![video_id, reason],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn video(fingerprint: &str) -> VideoRecord {
        VideoRecord {
            fingerprint: fingerprint.into(),
            path: PathBuf::from("pen.mp4"),
            size: 1000,
            mtime_ns: 5,
            frame_count: 250,
            duration: 10.0,
        }
    }

    fn key(model: &str) -> IndexKey {
        IndexKey {
            model_hash: model.into(),
            params: "{\"conf\":0.25}".into(),
            interval: 1.0,
        }
    }

    fn sample(frame: u64, count: u32) -> Sample {
        Sample {
            frame,
            time: frame as f64 / 25.0,
            count,
            band: CountBand {
                low: count.saturating_sub(1),
                high: count + 1,
            },
            source: Source::Regular,
            detections: (0..count)
                .map(|i| StoredDetection {
                    bbox: [i as f32, 0.0, i as f32 + 10.0, 10.0],
                    score: 0.9,
                    class: 0,
                    track: Some(i),
                })
                .collect(),
        }
    }

    #[test]
    fn samples_survive_reopening_and_are_never_duplicated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        let (index_id, video_id) = {
            let mut store = Store::open(&path).unwrap();
            let v = store.video(&video("abc")).unwrap();
            let index = store.index(v, &key("m1")).unwrap();
            assert_eq!(index.pass, Pass::Keyframes);
            assert_eq!(
                store
                    .insert_samples(index.id, &[sample(0, 2), sample(25, 3)])
                    .unwrap(),
                2
            );
            (index.id, v)
        };
        let mut store = Store::open(&path).unwrap();
        // The same video and key give the same index; a sample written again is ignored.
        assert_eq!(store.video(&video("abc")).unwrap(), video_id);
        let known = |size, mtime| {
            store
                .known_fingerprint(Path::new("pen.mp4"), size, mtime)
                .unwrap()
        };
        assert_eq!(known(1000, 5).as_deref(), Some("abc"));
        assert_eq!(known(1000, 6), None, "touched since: hash it again");
        assert_eq!(store.index(video_id, &key("m1")).unwrap().id, index_id);
        assert_eq!(
            store
                .insert_samples(index_id, &[sample(25, 3), sample(50, 1)])
                .unwrap(),
            1
        );
        let samples = store.samples(index_id).unwrap();
        assert_eq!(samples, vec![sample(0, 2), sample(25, 3), sample(50, 1)]);
    }

    /// A database from before bands: its indexes (without bands) are dropped and made again,
    /// its videos and thumbnails stay.
    #[test]
    fn indexes_without_bands_are_dropped_on_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute_batch(
                "INSERT INTO videos VALUES (1, 'abc', 'pen.mp4', 1000, 5, 250, 10.0, NULL);
                 INSERT INTO indexes VALUES (1, 1, 'm1', '{}', 1.0, 'done', NULL, 0, 0);
                 INSERT INTO samples VALUES (1, 0, 0.0, 3, 'keyframe', '[]');
                 INSERT INTO thumbnails VALUES (1, 0, x'ffd8');",
            )
            .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.video(&video("abc")).unwrap(), 1);
        assert_eq!(store.thumbnail_frames(1).unwrap(), vec![0]);
        let index = store.index(1, &key("m1")).unwrap();
        assert_eq!(index.pass, Pass::Keyframes, "a fresh index");
        assert!(store.samples(index.id).unwrap().is_empty());
        store.insert_samples(index.id, &[sample(0, 3)]).unwrap();
        assert_eq!(store.samples(index.id).unwrap(), vec![sample(0, 3)]);
    }

    #[test]
    fn a_new_model_or_new_content_makes_a_new_index_and_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("index.db")).unwrap();
        let v1 = store.video(&video("abc")).unwrap();
        let a = store.index(v1, &key("m1")).unwrap();
        store.insert_samples(a.id, &[sample(0, 4)]).unwrap();
        let b = store.index(v1, &key("m2")).unwrap();
        assert_ne!(a.id, b.id);
        let v2 = store.video(&video("changed")).unwrap();
        assert_ne!(v1, v2);
        assert_ne!(store.index(v2, &key("m1")).unwrap().id, a.id);
        assert_eq!(store.samples(a.id).unwrap().len(), 1);
        assert!(store.samples(b.id).unwrap().is_empty());
    }

    #[test]
    fn passes_and_failures_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("index.db")).unwrap();
        let v = store.video(&video("abc")).unwrap();
        let index = store.index(v, &key("m1")).unwrap();
        store
            .set_pass(index.id, Pass::Failed, Some("no decoder"))
            .unwrap();
        let again = store.index(v, &key("m1")).unwrap();
        assert_eq!(
            (again.pass, again.error.as_deref()),
            (Pass::Failed, Some("no decoder"))
        );
    }

    #[test]
    fn thumbnails_are_one_read_each() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("index.db")).unwrap();
        let v = store.video(&video("abc")).unwrap();
        store
            .put_thumbnails(v, &[(0, vec![1, 2, 3]), (25, vec![4, 5])])
            .unwrap();
        assert_eq!(store.thumbnail(v, 25).unwrap(), Some(vec![4, 5]));
        assert_eq!(store.thumbnail(v, 26).unwrap(), None);
        assert_eq!(store.thumbnail_frames(v).unwrap(), vec![0, 25]);
    }

    #[test]
    fn a_newer_schema_a_full_disk_and_a_missing_folder_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, IndexError::NewerSchema { found: 99, .. }), "{err}");

        // A full disk: writes fail cleanly and what was committed stays readable.
        let full = dir.path().join("full.db");
        let mut store = Store::open(&full).unwrap();
        let v = store.video(&video("abc")).unwrap();
        let index = store.index(v, &key("m1")).unwrap();
        store.insert_samples(index.id, &[sample(0, 3)]).unwrap();
        store.limit_size(std::fs::metadata(&full).unwrap().len()).unwrap();
        let many: Vec<Sample> = (1..2000).map(|f| sample(f, 20)).collect();
        let err = store.insert_samples(index.id, &many).unwrap_err();
        assert!(err.to_string().contains("full"), "{err}");
        drop(store);
        let store = Store::open(&full).unwrap();
        assert_eq!(store.samples(index.id).unwrap(), vec![sample(0, 3)]);

        let missing = dir.path().join("no/such/folder/index.db");
        let err = Store::open(&missing).unwrap_err();
        assert!(matches!(err, IndexError::Database(_)), "{err}");
    }
}
