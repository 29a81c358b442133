//! The store in one SQLite file, WAL mode: the embedded default.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Backend, IndexFields, IndexKey, LeaseHolder, SampleRow, StoredRow, StreamRow, VideoRecord};
use crate::error::IndexError;
use crate::roots::Location;

/// Schema migrations, in order; `PRAGMA user_version` counts how many have run.
pub(super) const MIGRATIONS: &[&str] = &[
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
    r"
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    model_hash TEXT NOT NULL,
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT,
    lease_until_ms INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    updated_ms INTEGER NOT NULL,
    UNIQUE (path, model_hash, params)
);
",
    // Videos and jobs are named by storage root and the path under it (`roots`). Jobs are only
    // work to do: the table is made again, and the library queues every video anew.
    r"
ALTER TABLE videos ADD COLUMN root TEXT NOT NULL DEFAULT '';
CREATE INDEX videos_by_place ON videos (root, path, size, mtime_ns);
DROP TABLE jobs;
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    root TEXT NOT NULL,
    path TEXT NOT NULL,
    model_hash TEXT NOT NULL,
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT,
    lease_until_ms INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    updated_ms INTEGER NOT NULL,
    UNIQUE (root, path, model_hash, params)
);
CREATE INDEX jobs_waiting ON jobs (state, lease_until_ms);
",
    // Live streams, shared by every process, and named leases (a stream's capture, a root's
    // scan): at most one holder each until it runs out.
    r"
CREATE TABLE streams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    shown TEXT NOT NULL,
    camera TEXT,
    root TEXT,
    path TEXT,
    created_ms INTEGER NOT NULL
);
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    url TEXT,
    until_ms INTEGER NOT NULL
);
",
    r"
-- The count band's default rule changed (2026-12-05: candidates down to 0.35 under the
-- confidence, counted boxes under 0.2 over it doubted; no overlap or edge rule). Bands made
-- with the old one are dropped with their indexes (samples go with them) and made again.
DELETE FROM indexes;
",
    r"
-- The input size an index's frames go in at, once chosen: NULL until then, 0 for the model's
-- own, else the larger input for small animals.
ALTER TABLE indexes ADD COLUMN input_size INTEGER;
",
    r"
-- The count band's floor (the least score of a candidate that may be an animal) no longer goes
-- under a quarter of the counting confidence (2026-12-06): at a confidence where the margin
-- below it reached further (under 0.47 with the default margin of 0.35), every anchor was a
-- candidate. Those indexes are dropped (samples go with them) and made again; the rest stay.
DELETE FROM indexes WHERE coalesce(json_extract(params, '$.band.below'), 0.35) > 0.75 * json_extract(params, '$.confidence');
",
];

impl From<rusqlite::Error> for IndexError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Database(e.to_string())
    }
}

#[derive(Debug)]
pub(super) struct Sqlite {
    conn: Connection,
}

impl Sqlite {
    pub(super) fn open(path: &Path) -> Result<Self, IndexError> {
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

    fn migrate(&mut self, path: &Path) -> Result<(), IndexError> {
        let version: i64 = self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(IndexError::NewerSchema {
                path: path.display().to_string(),
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
}

impl Backend for Sqlite {
    /// One process owns an SQLite file: nobody else to tell.
    fn notify_progress(&mut self, _payload: &str) -> Result<(), IndexError> {
        Ok(())
    }

    fn limit_size(&mut self, bytes: u64) -> Result<(), IndexError> {
        let page: i64 = self.conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
        let pages = (bytes / page.max(1) as u64).max(1) as i64;
        self.conn.pragma_update(None, "max_page_count", pages)?;
        Ok(())
    }

    fn video(&mut self, rec: &VideoRecord) -> Result<i64, IndexError> {
        Ok(self.conn.query_row(
            "INSERT INTO videos (fingerprint, root, path, size, mtime_ns, frame_count, duration)
             VALUES (?1, ?7, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (fingerprint) DO UPDATE
                 SET root = excluded.root, path = excluded.path, mtime_ns = excluded.mtime_ns
             RETURNING id",
            params![
                rec.fingerprint,
                rec.location.path,
                rec.size as i64,
                rec.mtime_ns,
                rec.frame_count as i64,
                rec.duration,
                rec.location.root
            ],
            |r| r.get(0),
        )?)
    }

    fn known_fingerprint(
        &mut self,
        at: &Location,
        size: i64,
        mtime_ns: i64,
    ) -> Result<Option<String>, IndexError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT fingerprint FROM videos WHERE root = ?4 AND path = ?1 AND size = ?2 AND mtime_ns = ?3",
            )?
            .query_row(params![at.path, size, mtime_ns, at.root], |r| r.get(0))
            .optional()?)
    }

    fn stored(
        &mut self,
        at: &Location,
        size: i64,
        mtime_ns: i64,
        key: &IndexKey,
    ) -> Result<Option<StoredRow>, IndexError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT v.id, v.duration, i.id, i.pass, i.error, i.input_size FROM videos v
                 LEFT JOIN indexes i ON i.video_id = v.id AND i.model_hash = ?4 AND i.params = ?5
                 WHERE v.root = ?6 AND v.path = ?1 AND v.size = ?2 AND v.mtime_ns = ?3",
            )?
            .query_row(
                params![at.path, size, mtime_ns, key.model_hash, key.params, at.root],
                |r| {
                    let index = match (r.get::<_, Option<i64>>(2)?, r.get::<_, Option<String>>(3)?) {
                        (Some(id), Some(pass)) => Some(IndexFields {
                            id,
                            pass,
                            error: r.get(4)?,
                            input_size: r.get(5)?,
                        }),
                        _ => None,
                    };
                    Ok(StoredRow {
                        video_id: r.get(0)?,
                        duration: r.get(1)?,
                        index,
                    })
                },
            )
            .optional()?)
    }

    fn index(
        &mut self,
        video_id: i64,
        key: &IndexKey,
        pass: &str,
        now_ms: i64,
    ) -> Result<IndexFields, IndexError> {
        self.conn.execute(
            "INSERT INTO indexes (video_id, model_hash, params, interval, pass, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT (video_id, model_hash, params) DO NOTHING",
            params![video_id, key.model_hash, key.params, key.interval, pass, now_ms],
        )?;
        Ok(self.conn.query_row(
            "SELECT id, pass, error, input_size FROM indexes
             WHERE video_id = ?1 AND model_hash = ?2 AND params = ?3",
            params![video_id, key.model_hash, key.params],
            |r| {
                Ok(IndexFields {
                    id: r.get(0)?,
                    pass: r.get(1)?,
                    error: r.get(2)?,
                    input_size: r.get(3)?,
                })
            },
        )?)
    }

    fn set_input(&mut self, index_id: i64, input_size: i64, now_ms: i64) -> Result<(), IndexError> {
        self.conn.execute(
            "UPDATE indexes SET input_size = ?2, updated_ms = ?3 WHERE id = ?1",
            params![index_id, input_size, now_ms],
        )?;
        Ok(())
    }

    fn set_pass(
        &mut self,
        index_id: i64,
        pass: &str,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), IndexError> {
        self.conn.execute(
            "UPDATE indexes SET pass = ?2, error = ?3, updated_ms = ?4 WHERE id = ?1",
            params![index_id, pass, error, now_ms],
        )?;
        Ok(())
    }

    fn finish(
        &mut self,
        index_id: i64,
        detections: &[(i64, String)],
        done: &str,
        now_ms: i64,
    ) -> Result<(), IndexError> {
        let tx = self.conn.transaction()?;
        {
            let mut update =
                tx.prepare_cached("UPDATE samples SET detections = ?3 WHERE index_id = ?1 AND frame = ?2")?;
            for (frame, json) in detections {
                update.execute(params![index_id, frame, json])?;
            }
        }
        tx.execute(
            "UPDATE indexes SET pass = ?2, error = NULL, updated_ms = ?3 WHERE id = ?1",
            params![index_id, done, now_ms],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn insert_samples(
        &mut self,
        index_id: i64,
        rows: &[SampleRow],
        now_ms: i64,
    ) -> Result<usize, IndexError> {
        let tx = self.conn.transaction()?;
        let mut added = 0;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO samples
                 (index_id, frame, time, count, source, detections, count_low, count_high)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for s in rows {
                added += insert.execute(params![
                    index_id,
                    s.frame,
                    s.time,
                    s.count,
                    s.source,
                    s.detections,
                    s.low,
                    s.high
                ])?;
            }
        }
        tx.execute(
            "UPDATE indexes SET updated_ms = ?2 WHERE id = ?1",
            params![index_id, now_ms],
        )?;
        tx.commit()?;
        Ok(added)
    }

    fn samples(&mut self, index_id: i64) -> Result<Vec<SampleRow>, IndexError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT frame, time, count, source, detections, count_low, count_high
             FROM samples WHERE index_id = ?1 ORDER BY frame",
        )?;
        let rows = stmt.query_map(params![index_id], |r| {
            Ok(SampleRow {
                frame: r.get(0)?,
                time: r.get(1)?,
                count: r.get(2)?,
                source: r.get(3)?,
                detections: r.get(4)?,
                low: r.get(5)?,
                high: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn put_thumbnails(&mut self, video_id: i64, thumbs: &[(u64, Vec<u8>)]) -> Result<(), IndexError> {
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

    fn thumbnail(&mut self, video_id: i64, frame: i64) -> Result<Option<Vec<u8>>, IndexError> {
        Ok(self
            .conn
            .prepare_cached("SELECT jpeg FROM thumbnails WHERE video_id = ?1 AND frame = ?2")?
            .query_row(params![video_id, frame], |r| r.get(0))
            .optional()?)
    }

    fn thumbnail_frames(&mut self, video_id: i64) -> Result<Vec<i64>, IndexError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT frame FROM thumbnails WHERE video_id = ?1 ORDER BY frame")?;
        let frames = stmt.query_map(params![video_id], |r| r.get::<_, i64>(0))?;
        Ok(frames.collect::<Result<_, _>>()?)
    }

    fn set_video_failed(&mut self, video_id: i64, reason: Option<&str>) -> Result<(), IndexError> {
        self.conn.execute(
            "UPDATE videos SET failed = ?2 WHERE id = ?1",
            params![video_id, reason],
        )?;
        Ok(())
    }

    fn enqueue_job(
        &mut self,
        at: &Location,
        key: &IndexKey,
        again: bool,
        now_ms: i64,
    ) -> Result<i64, IndexError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO jobs (root, path, model_hash, params, state, updated_ms)
             VALUES (?5, ?1, ?2, ?3, 'queued', ?4)
             ON CONFLICT (root, path, model_hash, params) DO NOTHING",
            params![at.path, key.model_hash, key.params, now_ms, at.root],
        )?;
        if again {
            tx.execute(
                "UPDATE jobs SET state = 'queued', error = NULL, updated_ms = ?4
                 WHERE root = ?5 AND path = ?1 AND model_hash = ?2 AND params = ?3
                     AND state IN ('done', 'failed')",
                params![at.path, key.model_hash, key.params, now_ms, at.root],
            )?;
        }
        let id = tx.query_row(
            "SELECT id FROM jobs WHERE root = ?4 AND path = ?1 AND model_hash = ?2 AND params = ?3",
            params![at.path, key.model_hash, key.params, at.root],
            |r| r.get(0),
        )?;
        tx.commit()?;
        Ok(id)
    }

    fn queued(&mut self, roots: &[String]) -> Result<Vec<Location>, IndexError> {
        let roots = serde_json::to_string(roots).map_err(|e| IndexError::Database(e.to_string()))?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT root, path FROM jobs WHERE root IN (SELECT value FROM json_each(?1))
             ORDER BY root, path",
        )?;
        let rows = stmt.query_map(params![roots], |r| {
            Ok(Location {
                root: r.get(0)?,
                path: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn drop_job(&mut self, at: &Location, key: &IndexKey) -> Result<bool, IndexError> {
        Ok(self.conn.execute(
            "DELETE FROM jobs WHERE root = ?1 AND path = ?2 AND model_hash = ?3 AND params = ?4",
            params![at.root, at.path, key.model_hash, key.params],
        )? == 1)
    }

    fn claim_job(
        &mut self,
        key: &IndexKey,
        roots: &[String],
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<(i64, Location, i64)>, IndexError> {
        let roots = serde_json::to_string(roots).map_err(|e| IndexError::Database(e.to_string()))?;
        // One statement, so one writer at a time: SQLite serialises them.
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE jobs SET state = 'leased', owner = ?3, lease_until_ms = ?4 + ?5,
                     attempts = attempts + 1, updated_ms = ?4
                 WHERE id = (SELECT id FROM jobs WHERE model_hash = ?1 AND params = ?2
                     AND root IN (SELECT value FROM json_each(?6))
                     AND (state = 'queued' OR (state = 'leased' AND lease_until_ms < ?4))
                     ORDER BY id LIMIT 1)
                 RETURNING id, root, path, attempts",
            )?
            .query_row(
                params![key.model_hash, key.params, owner, now_ms, lease_ms, roots],
                |r| {
                    let at = Location {
                        root: r.get(1)?,
                        path: r.get(2)?,
                    };
                    Ok((r.get(0)?, at, r.get(3)?))
                },
            )
            .optional()?)
    }

    fn renew_job(&mut self, id: i64, owner: &str, now_ms: i64, lease_ms: i64) -> Result<bool, IndexError> {
        Ok(self.conn.execute(
            "UPDATE jobs SET lease_until_ms = ?3 + ?4, updated_ms = ?3
             WHERE id = ?1 AND owner = ?2 AND state = 'leased'",
            params![id, owner, now_ms, lease_ms],
        )? == 1)
    }

    fn end_job(
        &mut self,
        id: i64,
        owner: &str,
        state: &str,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, IndexError> {
        Ok(self.conn.execute(
            "UPDATE jobs SET state = ?3, owner = NULL, lease_until_ms = NULL, error = ?4, updated_ms = ?5
             WHERE id = ?1 AND owner = ?2 AND state = 'leased'",
            params![id, owner, state, error, now_ms],
        )? == 1)
    }
    fn add_stream(&mut self, row: &StreamRow, now_ms: i64) -> Result<bool, IndexError> {
        Ok(self.conn.execute(
            "INSERT INTO streams (id, name, shown, camera, root, path, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO NOTHING",
            params![row.id, row.name, row.shown, row.camera, row.root, row.path, now_ms],
        )? == 1)
    }

    fn remove_stream(&mut self, id: &str) -> Result<bool, IndexError> {
        Ok(self
            .conn
            .execute("DELETE FROM streams WHERE id = ?1", params![id])?
            == 1)
    }

    fn streams(&mut self) -> Result<Vec<StreamRow>, IndexError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, name, shown, camera, root, path FROM streams ORDER BY created_ms, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(StreamRow {
                id: r.get(0)?,
                name: r.get(1)?,
                shown: r.get(2)?,
                camera: r.get(3)?,
                root: r.get(4)?,
                path: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn take_lease(
        &mut self,
        name: &str,
        owner: &str,
        url: Option<&str>,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, IndexError> {
        Ok(self.conn.execute(
            "INSERT INTO leases (name, owner, url, until_ms) VALUES (?1, ?2, ?3, ?4 + ?5)
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, url = excluded.url,
                 until_ms = excluded.until_ms
             WHERE leases.owner = excluded.owner OR leases.until_ms < ?4",
            params![name, owner, url, now_ms, lease_ms],
        )? == 1)
    }

    fn release_lease(&mut self, name: &str, owner: &str) -> Result<bool, IndexError> {
        Ok(self.conn.execute(
            "DELETE FROM leases WHERE name = ?1 AND owner = ?2",
            params![name, owner],
        )? == 1)
    }

    fn leases(&mut self, prefix: &str, now_ms: i64) -> Result<Vec<LeaseHolder>, IndexError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, owner, url FROM leases WHERE substr(name, 1, length(?1)) = ?1 AND until_ms >= ?2
             ORDER BY name",
        )?;
        let rows = stmt.query_map(params![prefix, now_ms], |r| {
            Ok(LeaseHolder {
                name: r.get(0)?,
                owner: r.get(1)?,
                url: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
