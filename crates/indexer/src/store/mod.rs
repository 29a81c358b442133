//! The index database: SQLite in WAL mode, one file in the data folder (the default), or
//! PostgreSQL shared by several processes (cluster mode). One interface, [`Store`], over both:
//! the same schema, the same queries' meaning and the same tests.
//!
//! An index is content-addressed: it belongs to a video's content fingerprint (BLAKE3 of the
//! file), a model hash and the parameters that change results (thresholds, class filter,
//! interval). A changed file or a new model makes a new index and leaves the old one in place,
//! so two models can be compared on one timeline. Samples are keyed by (index, frame), so a pass
//! that is stopped and run again — even after `kill -9` — fills in what is missing and can never
//! write a row twice. Thumbnails belong to the video content, not to a model.

mod postgres;
mod sqlite;
mod streams;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use pigweight_inference::CountBand;

use crate::error::IndexError;
use crate::roots::Location;

pub use self::postgres::PostgresConfig;
use self::streams::StreamRow;
pub use self::streams::{LeaseHolder, StreamDef, StreamSource};

/// Where the index lives: `sqlite:PATH` or just `PATH` (the default, one file), or
/// `postgres://user@host:port/db` (shared by every process of a cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(PostgresConfig),
}

impl FromStr for Database {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Self::Postgres(PostgresConfig::new(s)?));
        }
        // A path without a scheme is an SQLite file too.
        let path = match s.strip_prefix("sqlite://").or_else(|| s.strip_prefix("sqlite:")) {
            Some(path) => path,
            None if s.contains("://") => "",
            None => s,
        };
        if path.is_empty() {
            return Err(format!(
                "{s:?} is not a database: use sqlite:PATH (or a file's path) or postgres://USER@HOST:PORT/DB"
            ));
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::Postgres(config) => write!(f, "{config}"),
        }
    }
}

/// A video as the index knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoRecord {
    /// BLAKE3 of the file's bytes, hex.
    pub fingerprint: String,
    /// Where its content was last seen.
    pub location: Location,
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
    /// The input size its frames go in at, once chosen (inner `None`: the model's own; see
    /// `pigweight_inference::SmallObjectInput`). Kept with the index, so a job that resumes and
    /// the API's own model runs use the choice its samples were made with.
    pub input: Option<Option<u32>>,
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

/// A sample's row, as both databases hold it.
#[derive(Debug, Clone, PartialEq)]
struct SampleRow {
    frame: i64,
    time: f64,
    count: i64,
    low: i64,
    high: i64,
    source: String,
    /// JSON of the detections.
    detections: String,
}

impl SampleRow {
    fn of(s: &Sample) -> Result<Self, IndexError> {
        Ok(Self {
            frame: s.frame as i64,
            time: s.time,
            count: i64::from(s.count),
            low: i64::from(s.band.low),
            high: i64::from(s.band.high),
            source: s.source.as_str().to_owned(),
            detections: detections_json(&s.detections)?,
        })
    }

    fn sample(self) -> Result<Sample, IndexError> {
        let number = |v: i64| {
            u32::try_from(v).map_err(|_| IndexError::Database(format!("frame {}: count {v}", self.frame)))
        };
        Ok(Sample {
            frame: self.frame as u64,
            time: self.time,
            count: number(self.count)?,
            band: CountBand {
                low: number(self.low)?,
                high: number(self.high)?,
            },
            source: Source::parse(&self.source)?,
            detections: serde_json::from_str(&self.detections)
                .map_err(|e| IndexError::Database(format!("frame {}: bad detections: {e}", self.frame)))?,
        })
    }
}

fn detections_json(detections: &[StoredDetection]) -> Result<String, IndexError> {
    serde_json::to_string(detections).map_err(|e| IndexError::Database(format!("encoding detections: {e}")))
}

/// A video's row and its index's under a key, as `stored` looks them up.
#[derive(Debug, Clone, PartialEq)]
struct StoredRow {
    video_id: i64,
    duration: f64,
    /// The index's row, when there is one.
    index: Option<IndexFields>,
}

/// An index's row as both databases hold it.
#[derive(Debug, Clone, PartialEq)]
struct IndexFields {
    id: i64,
    pass: String,
    error: Option<String>,
    /// NULL until chosen, 0 for the model's own input, else the larger input's size.
    input_size: Option<i64>,
}

/// What each database does; [`Store`] hands every call to one. Rows in, rows out: encoding
/// samples, passes and sources is the store's, once for both.
trait Backend: Send + std::fmt::Debug {
    fn limit_size(&mut self, bytes: u64) -> Result<(), IndexError>;
    fn notify_progress(&mut self, payload: &str) -> Result<(), IndexError>;
    fn video(&mut self, rec: &VideoRecord) -> Result<i64, IndexError>;
    fn known_fingerprint(
        &mut self,
        at: &Location,
        size: i64,
        mtime_ns: i64,
    ) -> Result<Option<String>, IndexError>;
    fn stored(
        &mut self,
        at: &Location,
        size: i64,
        mtime_ns: i64,
        key: &IndexKey,
    ) -> Result<Option<StoredRow>, IndexError>;
    /// Makes the index if missing (at `pass`); returns its id, pass and error.
    fn index(
        &mut self,
        video_id: i64,
        key: &IndexKey,
        pass: &str,
        now_ms: i64,
    ) -> Result<IndexFields, IndexError>;
    /// Records the input size chosen for an index's frames (0: the model's own).
    fn set_input(&mut self, index_id: i64, input_size: i64, now_ms: i64) -> Result<(), IndexError>;
    fn set_pass(
        &mut self,
        index_id: i64,
        pass: &str,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), IndexError>;
    /// Sets each frame's detections and the index's pass to `done`, in one transaction.
    fn finish(
        &mut self,
        index_id: i64,
        detections: &[(i64, String)],
        done: &str,
        now_ms: i64,
    ) -> Result<(), IndexError>;
    /// Adds the rows whose frames are new, in one transaction; returns how many.
    fn insert_samples(&mut self, index_id: i64, rows: &[SampleRow], now_ms: i64)
    -> Result<usize, IndexError>;
    fn samples(&mut self, index_id: i64) -> Result<Vec<SampleRow>, IndexError>;
    fn put_thumbnails(&mut self, video_id: i64, thumbs: &[(u64, Vec<u8>)]) -> Result<(), IndexError>;
    fn thumbnail(&mut self, video_id: i64, frame: i64) -> Result<Option<Vec<u8>>, IndexError>;
    fn thumbnail_frames(&mut self, video_id: i64) -> Result<Vec<i64>, IndexError>;
    fn set_video_failed(&mut self, video_id: i64, reason: Option<&str>) -> Result<(), IndexError>;
    /// Adds the job of `at` under `key` if missing; with `again`, a finished or failed one
    /// waits again. Returns its id.
    fn enqueue_job(
        &mut self,
        at: &Location,
        key: &IndexKey,
        again: bool,
        now_ms: i64,
    ) -> Result<i64, IndexError>;
    /// The files of every job under one of `roots`, whatever its key and state.
    fn queued(&mut self, roots: &[String]) -> Result<Vec<Location>, IndexError>;
    /// Deletes the job of `at` under `key`; false when there was none.
    fn drop_job(&mut self, at: &Location, key: &IndexKey) -> Result<bool, IndexError>;
    /// Leases the oldest job of `key` under one of `roots` that waits or whose lease ran out:
    /// id, location, attempts.
    fn claim_job(
        &mut self,
        key: &IndexKey,
        roots: &[String],
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<(i64, Location, i64)>, IndexError>;
    /// Extends `owner`'s lease; false when the job is no longer its.
    fn renew_job(&mut self, id: i64, owner: &str, now_ms: i64, lease_ms: i64) -> Result<bool, IndexError>;
    /// Ends `owner`'s lease in `state`; false when the job is no longer its.
    fn end_job(
        &mut self,
        id: i64,
        owner: &str,
        state: &str,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, IndexError>;
    /// Adds a stream unless its id is taken (false then), and tells the other processes.
    fn add_stream(&mut self, row: &StreamRow, now_ms: i64) -> Result<bool, IndexError>;
    /// Deletes a stream (false when there was none), and tells the other processes.
    fn remove_stream(&mut self, id: &str) -> Result<bool, IndexError>;
    /// Every stream, oldest first.
    fn streams(&mut self) -> Result<Vec<StreamRow>, IndexError>;
    /// Takes or extends the lease `name` unless another owner holds it and it has not run
    /// out; false then.
    fn take_lease(
        &mut self,
        name: &str,
        owner: &str,
        url: Option<&str>,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, IndexError>;
    /// Deletes `owner`'s lease `name` (false when it was not its), and tells the other
    /// processes.
    fn release_lease(&mut self, name: &str, owner: &str) -> Result<bool, IndexError>;
    /// The leases under `prefix` that have not run out, by name.
    fn leases(&mut self, prefix: &str, now_ms: i64) -> Result<Vec<LeaseHolder>, IndexError>;
}

/// A job a worker holds under a lease: index the file at `location` under the store's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLease {
    pub id: i64,
    pub location: Location,
    /// How many times it has been leased, this time included.
    pub attempts: u32,
    /// Who holds it (a worker's id).
    pub owner: String,
}

/// What another process of the cluster said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A job was queued, of the video there (when the notice says): an idle worker looks for
    /// one, and an API instance that has not seen the file lists it.
    Jobs(Option<Location>),
    /// A worker's progress on a video (what it passed to [`Store::notify_progress`]).
    Progress(String),
    /// A stream was added or removed, or a lease let go (its name): look again.
    Streams(String),
}

/// Hears what the other processes on a PostgreSQL database say (`LISTEN`), on a connection of
/// its own.
pub struct Listener(postgres::Listener);

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listener")
    }
}

impl Listener {
    /// Connects and listens to the indexing work: jobs and progress; `None` on SQLite, which
    /// one process owns.
    pub fn connect(database: &Database) -> Result<Option<Self>, IndexError> {
        Self::on(database, &[postgres::JOBS_CHANNEL, postgres::PROGRESS_CHANNEL])
    }

    /// Connects and listens to the streams and leases ([`Notice::Streams`]); `None` on SQLite.
    pub fn streams(database: &Database) -> Result<Option<Self>, IndexError> {
        Self::on(database, &[postgres::STREAMS_CHANNEL])
    }

    fn on(database: &Database, channels: &[&str]) -> Result<Option<Self>, IndexError> {
        match database {
            Database::Sqlite(_) => Ok(None),
            Database::Postgres(config) => Ok(Some(Self(postgres::Postgres::listen(config, channels)?))),
        }
    }

    /// What arrives within `timeout` (nothing, when it passes quietly). An error means the
    /// connection is gone: connect again, and take what was missed from the database.
    pub fn wait(&mut self, timeout: Duration) -> Result<Vec<Notice>, IndexError> {
        self.0.wait(timeout)
    }
}

/// How a leased job ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Done,
    Failed(String),
    /// Handed back unfinished (a worker stopping): it waits for the next worker.
    Released,
}

fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2)
}

/// The index database.
#[derive(Debug)]
pub struct Store {
    db: Box<dyn Backend>,
}

/// Milliseconds since the Unix epoch: the time the database's rows and notices carry.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn index_row(video_id: i64, row: IndexFields) -> Result<IndexRow, IndexError> {
    let input = match row.input_size {
        None => None,
        Some(0) => Some(None),
        Some(size) => Some(Some(u32::try_from(size).map_err(|_| {
            IndexError::Database(format!("index {}: input size {size} out of range", row.id))
        })?)),
    };
    Ok(IndexRow {
        id: row.id,
        video_id,
        pass: Pass::parse(&row.pass)?,
        error: row.error,
        input,
    })
}

impl Store {
    /// Opens (or creates) the SQLite database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        Ok(Self {
            db: Box::new(sqlite::Sqlite::open(path)?),
        })
    }

    /// Opens `database` and brings its schema up to date (on PostgreSQL, once, under a lock,
    /// when several processes start together).
    pub fn connect(database: &Database) -> Result<Self, IndexError> {
        match database {
            Database::Sqlite(path) => Self::open(path),
            Database::Postgres(config) => Ok(Self {
                db: Box::new(postgres::Postgres::connect(config)?),
            }),
        }
    }

    /// Caps an SQLite file at about `bytes`: past it, writes fail as they would on a full disk
    /// ("database or disk is full") and nothing already committed is touched. PostgreSQL's
    /// space is its administrator's: there it does nothing.
    pub fn limit_size(&mut self, bytes: u64) -> Result<(), IndexError> {
        self.db.limit_size(bytes)
    }

    /// Tells the other processes (their [`Listener`]s) of a worker's progress: a commit they
    /// should show. Nothing on SQLite.
    pub fn notify_progress(&mut self, payload: &str) -> Result<(), IndexError> {
        self.db.notify_progress(payload)
    }

    /// Records a video (or updates where its content now lives) and returns its id.
    pub fn video(&mut self, rec: &VideoRecord) -> Result<i64, IndexError> {
        self.db.video(rec)
    }

    /// The fingerprint recorded for the file at `at` when it had this size and modification
    /// time, if any.
    pub fn known_fingerprint(
        &mut self,
        at: &Location,
        size: u64,
        mtime_ns: i64,
    ) -> Result<Option<String>, IndexError> {
        self.db.known_fingerprint(at, size as i64, mtime_ns)
    }

    /// What the database holds for the file at `at` with this size and modification time
    /// under `key`, read without writing anything: for showing a video's index at once after
    /// a restart, before its job runs again.
    pub fn stored(
        &mut self,
        at: &Location,
        size: u64,
        mtime_ns: i64,
        key: &IndexKey,
    ) -> Result<Option<Stored>, IndexError> {
        let Some(row) = self.db.stored(at, size as i64, mtime_ns, key)? else {
            return Ok(None);
        };
        let index = row.index.map(|i| index_row(row.video_id, i)).transpose()?;
        let samples = match &index {
            Some(index) => self.samples(index.id)?,
            None => Vec::new(),
        };
        Ok(Some(Stored {
            video_id: row.video_id,
            duration: row.duration,
            index,
            samples,
        }))
    }

    /// The index of `video_id` for `key`, made (at the keyframes pass) if there is none.
    pub fn index(&mut self, video_id: i64, key: &IndexKey) -> Result<IndexRow, IndexError> {
        let row = self.db.index(video_id, key, Pass::Keyframes.as_str(), now_ms())?;
        index_row(video_id, row)
    }

    /// Records the input size chosen for an index's frames (`None`: the model's own).
    pub fn set_input(&mut self, index_id: i64, input: Option<u32>) -> Result<(), IndexError> {
        self.db.set_input(index_id, input.map_or(0, i64::from), now_ms())
    }

    /// Moves an index to `pass` (with the reason when it failed).
    pub fn set_pass(&mut self, index_id: i64, pass: Pass, error: Option<&str>) -> Result<(), IndexError> {
        self.db.set_pass(index_id, pass.as_str(), error, now_ms())
    }

    /// Rewrites the detections of `samples` (now with track ids) and marks the index done, in
    /// one transaction: a stop in between leaves it unfinished, and the tracks are assigned
    /// again on resume.
    pub fn finish_with_tracks(&mut self, index_id: i64, samples: &[&Sample]) -> Result<(), IndexError> {
        let detections = samples
            .iter()
            .map(|s| Ok((s.frame as i64, detections_json(&s.detections)?)))
            .collect::<Result<Vec<_>, IndexError>>()?;
        self.db
            .finish(index_id, &detections, Pass::Done.as_str(), now_ms())
    }

    /// Adds samples in one transaction; frames the index already has are left as they are.
    /// Returns how many were new.
    pub fn insert_samples(&mut self, index_id: i64, samples: &[Sample]) -> Result<usize, IndexError> {
        let rows = samples.iter().map(SampleRow::of).collect::<Result<Vec<_>, _>>()?;
        self.db.insert_samples(index_id, &rows, now_ms())
    }

    /// Every sample of an index, in frame order.
    pub fn samples(&mut self, index_id: i64) -> Result<Vec<Sample>, IndexError> {
        self.db
            .samples(index_id)?
            .into_iter()
            .map(SampleRow::sample)
            .collect()
    }

    /// Stores thumbnails (JPEG) of a video's frames; existing ones are kept.
    pub fn put_thumbnails(&mut self, video_id: i64, thumbs: &[(u64, Vec<u8>)]) -> Result<(), IndexError> {
        self.db.put_thumbnails(video_id, thumbs)
    }

    /// The thumbnail of exactly `frame`, if there is one: one indexed read.
    pub fn thumbnail(&mut self, video_id: i64, frame: u64) -> Result<Option<Vec<u8>>, IndexError> {
        self.db.thumbnail(video_id, frame as i64)
    }

    /// Frames of a video that have a thumbnail, in order.
    pub fn thumbnail_frames(&mut self, video_id: i64) -> Result<Vec<u64>, IndexError> {
        Ok(self
            .db
            .thumbnail_frames(video_id)?
            .into_iter()
            .map(|f| f as u64)
            .collect())
    }

    /// Marks a video as undecodable (`Some(reason)`) or clears that mark.
    pub fn set_video_failed(&mut self, video_id: i64, reason: Option<&str>) -> Result<(), IndexError> {
        self.db.set_video_failed(video_id, reason)
    }

    /// Puts the indexing of `at` under `key` in the shared job queue (once: a job already
    /// there is left as it is, unless `again` and it has ended, as when the file changed).
    pub fn enqueue_job(&mut self, at: &Location, key: &IndexKey, again: bool) -> Result<i64, IndexError> {
        self.db.enqueue_job(at, key, again, now_ms())
    }

    /// Every file with an indexing job under one of `roots` (done or not, for any model), in
    /// order: the library of those roots as the processes that walk them found it.
    pub fn queued(&mut self, roots: &[String]) -> Result<Vec<Location>, IndexError> {
        self.db.queued(roots)
    }

    /// Takes the job of `at` under `key` out of the queue (the file left the library); its
    /// holder finds out on its next renewal. False when there was none.
    pub fn drop_job(&mut self, at: &Location, key: &IndexKey) -> Result<bool, IndexError> {
        self.db.drop_job(at, key)
    }

    /// Leases the oldest job of `key` under one of `roots` (see `Roots::claimable`) that
    /// waits, or whose holder's lease ran out (a worker that died): at most one holder at a
    /// time, whatever the number of workers.
    pub fn claim_job(
        &mut self,
        key: &IndexKey,
        roots: &[String],
        owner: &str,
        lease: Duration,
    ) -> Result<Option<JobLease>, IndexError> {
        let claimed = self.db.claim_job(key, roots, owner, now_ms(), lease_ms(lease))?;
        Ok(claimed.map(|(id, location, attempts)| JobLease {
            id,
            location,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            owner: owner.to_owned(),
        }))
    }

    /// Extends the lease by `lease` from now; false when the job is no longer `job.owner`'s
    /// (its lease ran out and another worker took it): stop working on it.
    pub fn renew_job(&mut self, job: &JobLease, lease: Duration) -> Result<bool, IndexError> {
        self.db.renew_job(job.id, &job.owner, now_ms(), lease_ms(lease))
    }

    /// Ends the lease; false when the job was no longer `job.owner`'s.
    pub fn finish_job(&mut self, job: &JobLease, outcome: &JobOutcome) -> Result<bool, IndexError> {
        let (state, error) = match outcome {
            JobOutcome::Done => ("done", None),
            JobOutcome::Failed(reason) => ("failed", Some(reason.as_str())),
            JobOutcome::Released => ("queued", None),
        };
        self.db.end_job(job.id, &job.owner, state, error, now_ms())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rusqlite::Connection;

    use super::sqlite::MIGRATIONS;
    use super::*;

    fn video(fingerprint: &str) -> VideoRecord {
        VideoRecord {
            fingerprint: fingerprint.into(),
            location: Location::plain(Path::new("pen.mp4")),
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

    /// Runs `body` on SQLite and on a throwaway PostgreSQL server; `open` opens (again) the
    /// same database, as a restarted process would.
    pub(super) fn on_both(body: impl Fn(&str, &(dyn Fn() -> Store + Sync))) {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Database::Sqlite(dir.path().join("index.db"));
        body("sqlite", &|| Store::connect(&sqlite).unwrap());
        let server = crate::testing::Postgres::start();
        let postgres = server.url().parse::<Database>().unwrap();
        body("postgres", &|| Store::connect(&postgres).unwrap());
    }

    #[test]
    fn samples_survive_reopening_and_are_never_duplicated() {
        on_both(|db, open| {
            let (index_id, video_id) = {
                let mut store = open();
                let v = store.video(&video("abc")).unwrap();
                let index = store.index(v, &key("m1")).unwrap();
                assert_eq!(index.pass, Pass::Keyframes, "{db}");
                assert_eq!(
                    store
                        .insert_samples(index.id, &[sample(0, 2), sample(25, 3)])
                        .unwrap(),
                    2,
                    "{db}"
                );
                (index.id, v)
            };
            let mut store = open();
            // The same video and key give the same index; a sample written again is ignored.
            assert_eq!(store.video(&video("abc")).unwrap(), video_id, "{db}");
            let mut known = |size, mtime| {
                store
                    .known_fingerprint(&Location::plain(Path::new("pen.mp4")), size, mtime)
                    .unwrap()
            };
            assert_eq!(known(1000, 5).as_deref(), Some("abc"), "{db}");
            assert_eq!(known(1000, 6), None, "{db}: touched since: hash it again");
            assert_eq!(store.index(video_id, &key("m1")).unwrap().id, index_id, "{db}");
            assert_eq!(
                store
                    .insert_samples(index_id, &[sample(25, 3), sample(50, 1)])
                    .unwrap(),
                1,
                "{db}"
            );
            let samples = store.samples(index_id).unwrap();
            assert_eq!(samples, vec![sample(0, 2), sample(25, 3), sample(50, 1)], "{db}");

            // What a restarted server shows at once, read without writing.
            let stored = store
                .stored(&Location::plain(Path::new("pen.mp4")), 1000, 5, &key("m1"))
                .unwrap()
                .unwrap();
            assert_eq!((stored.video_id, stored.duration), (video_id, 10.0), "{db}");
            assert_eq!(stored.index.map(|i| i.id), Some(index_id), "{db}");
            assert_eq!(stored.samples.len(), 3, "{db}");
            let other = store
                .stored(&Location::plain(Path::new("pen.mp4")), 1000, 5, &key("m9"))
                .unwrap()
                .unwrap();
            assert!(other.index.is_none() && other.samples.is_empty(), "{db}");
            assert!(
                store
                    .stored(&Location::plain(Path::new("other.mp4")), 1000, 5, &key("m1"))
                    .unwrap()
                    .is_none(),
                "{db}"
            );

            // Tracks are written with the last pass, in the same transaction.
            let mut tracked = sample(25, 3);
            tracked.detections[0].track = Some(7);
            store.finish_with_tracks(index_id, &[&tracked]).unwrap();
            let again = store.index(video_id, &key("m1")).unwrap();
            assert_eq!(again.pass, Pass::Done, "{db}");
            assert_eq!(store.samples(index_id).unwrap()[1], tracked, "{db}");
            store.set_video_failed(video_id, Some("unreadable")).unwrap();
            store.set_video_failed(video_id, None).unwrap();
        });
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

    /// A database whose bands were made with the default rule before the last one: its indexes
    /// are dropped and made again, its videos and thumbnails stay.
    #[test]
    fn indexes_with_bands_of_an_old_default_rule_are_dropped_on_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        let (video_id, index_id) = {
            let mut store = Store::open(&path).unwrap();
            let v = store.video(&video("abc")).unwrap();
            let index = store.index(v, &key("m1")).unwrap();
            store.insert_samples(index.id, &[sample(0, 3)]).unwrap();
            store.put_thumbnails(v, &[(0, vec![1, 2])]).unwrap();
            (v, index.id)
        };
        // Back to before the band's rule changed (migration 6) and before an index kept its
        // input size (7).
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("ALTER TABLE indexes DROP COLUMN input_size")
            .unwrap();
        conn.pragma_update(None, "user_version", 5).unwrap();
        drop(conn);
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.video(&video("abc")).unwrap(), video_id);
        assert_eq!(store.thumbnail_frames(video_id).unwrap(), vec![0]);
        assert!(store.samples(index_id).unwrap().is_empty());
        let index = store.index(video_id, &key("m1")).unwrap();
        assert_eq!(index.pass, Pass::Keyframes, "a fresh index");
        assert!(store.samples(index.id).unwrap().is_empty());
    }

    /// Bands made where the band's floor went under a quarter of the confidence are dropped
    /// with their indexes by the last migration, on both databases; the others stay.
    #[test]
    fn indexes_whose_band_floor_reached_the_background_are_dropped_on_migration() {
        let with = |params: &str| IndexKey {
            model_hash: "m1".into(),
            params: params.into(),
            interval: 1.0,
        };
        let keys = [
            with(r#"{"classes":[],"confidence":0.5,"iou":0.5,"max_detections":300}"#),
            with(r#"{"classes":[],"confidence":0.3,"iou":0.5,"max_detections":300}"#),
            with(r#"{"band":{"below":0.2},"confidence":0.3,"iou":0.5}"#),
            with(r#"{"band":{"below":0.45},"confidence":0.5,"iou":0.5}"#),
        ];
        // Indexes made, the database put back to before the last migration, opened again.
        let check = |db: &str, database: &Database, undo_last_migration: &dyn Fn()| {
            let (video_id, ids) = {
                let mut store = Store::connect(database).unwrap();
                let v = store.video(&video("abc")).unwrap();
                let ids: Vec<i64> = keys
                    .iter()
                    .map(|k| {
                        let index = store.index(v, k).unwrap();
                        store.insert_samples(index.id, &[sample(0, 3)]).unwrap();
                        index.id
                    })
                    .collect();
                (v, ids)
            };
            undo_last_migration();
            let mut store = Store::connect(database).unwrap();
            let kept: Vec<bool> = ids
                .iter()
                .map(|&id| !store.samples(id).unwrap().is_empty())
                .collect();
            assert_eq!(kept, [true, false, true, false], "{db}");
            assert_eq!(store.index(video_id, &keys[0]).unwrap().id, ids[0], "{db}");
            let again = store.index(video_id, &keys[1]).unwrap();
            assert_eq!(again.pass, Pass::Keyframes, "{db}");
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        check("sqlite", &Database::Sqlite(path.clone()), &|| {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", MIGRATIONS.len() as i64 - 1)
                .unwrap();
        });
        let server = crate::testing::Postgres::start();
        check("postgres", &server.url().parse().unwrap(), &|| {
            let mut client = ::postgres::Client::connect(&server.url(), ::postgres::NoTls).unwrap();
            client
                .execute("UPDATE pigweight_schema SET version = version - 1", &[])
                .unwrap();
        });
    }

    #[test]
    fn models_content_passes_and_thumbnails_on_both_databases() {
        on_both(|db, open| {
            let mut store = open();
            // A new model or new content makes a new index and keeps the old.
            let v1 = store.video(&video("abc")).unwrap();
            let a = store.index(v1, &key("m1")).unwrap();
            store.insert_samples(a.id, &[sample(0, 4)]).unwrap();
            let b = store.index(v1, &key("m2")).unwrap();
            assert_ne!(a.id, b.id, "{db}");
            // The input size chosen for an index's frames is kept with it: not chosen yet,
            // the model's own, or a size.
            assert_eq!(store.index(v1, &key("m1")).unwrap().input, None, "{db}");
            store.set_input(a.id, Some(512)).unwrap();
            store.set_input(b.id, None).unwrap();
            assert_eq!(
                store.index(v1, &key("m1")).unwrap().input,
                Some(Some(512)),
                "{db}"
            );
            assert_eq!(store.index(v1, &key("m2")).unwrap().input, Some(None), "{db}");
            let at = Location::plain(Path::new("pen.mp4"));
            let stored = store.stored(&at, 1000, 5, &key("m1")).unwrap().unwrap();
            assert_eq!(stored.index.unwrap().input, Some(Some(512)), "{db}");

            let v2 = store.video(&video("changed")).unwrap();
            assert_ne!(v1, v2, "{db}");
            assert_ne!(store.index(v2, &key("m1")).unwrap().id, a.id, "{db}");
            assert_eq!(store.samples(a.id).unwrap().len(), 1, "{db}");
            assert!(store.samples(b.id).unwrap().is_empty(), "{db}");

            // Passes and failures are kept.
            store.set_pass(b.id, Pass::Failed, Some("no decoder")).unwrap();
            let again = store.index(v1, &key("m2")).unwrap();
            assert_eq!(
                (again.pass, again.error.as_deref()),
                (Pass::Failed, Some("no decoder")),
                "{db}"
            );

            // Thumbnails are one read each; one stored again is kept as it was.
            store
                .put_thumbnails(v1, &[(0, vec![1, 2, 3]), (25, vec![4, 5])])
                .unwrap();
            store.put_thumbnails(v1, &[(25, vec![9])]).unwrap();
            assert_eq!(store.thumbnail(v1, 25).unwrap(), Some(vec![4, 5]), "{db}");
            assert_eq!(store.thumbnail(v1, 26).unwrap(), None, "{db}");
            assert_eq!(store.thumbnail_frames(v1).unwrap(), vec![0, 25], "{db}");
            assert!(store.thumbnail_frames(v2).unwrap().is_empty(), "{db}");
        });
    }

    #[test]
    fn a_postgres_schema_from_a_newer_pigweight_is_refused_and_processes_migrate_once_together() {
        let server = crate::testing::Postgres::start();
        let database = server.url().parse::<Database>().unwrap();
        // Four processes' stores opening a fresh database at once: one migrates, all work.
        let stores: Vec<Store> = std::thread::scope(|s| {
            let opening: Vec<_> = (0..4)
                .map(|_| s.spawn(|| Store::connect(&database).unwrap()))
                .collect();
            opening.into_iter().map(|t| t.join().unwrap()).collect()
        });
        for (i, mut store) in stores.into_iter().enumerate() {
            let v = store.video(&video("abc")).unwrap();
            let index = store.index(v, &key("m1")).unwrap();
            store.insert_samples(index.id, &[sample(i as u64, 1)]).unwrap();
        }
        let Database::Postgres(config) = &database else {
            unreachable!()
        };
        let mut client = ::postgres::Client::connect(&server.url(), ::postgres::NoTls).unwrap();
        let version: i64 = client
            .query_one("SELECT version FROM pigweight_schema", &[])
            .unwrap()
            .get(0);
        assert_eq!(version, 7);
        client
            .execute("UPDATE pigweight_schema SET version = 99", &[])
            .unwrap();
        let err = Store::connect(&database).unwrap_err();
        assert!(matches!(err, IndexError::NewerSchema { found: 99, .. }), "{err}");
        assert!(err.to_string().contains(&config.to_string()), "{err}");
    }

    #[test]
    fn a_restarted_postgres_is_reconnected_to_and_a_dead_one_is_a_clear_error() {
        let server = crate::testing::Postgres::start();
        let mut store = Store::connect(&server.url().parse::<Database>().unwrap()).unwrap();
        let v = store.video(&video("abc")).unwrap();
        let index = store.index(v, &key("m1")).unwrap();
        store.insert_samples(index.id, &[sample(0, 3)]).unwrap();
        server.restart();
        store.insert_samples(index.id, &[sample(25, 2)]).unwrap();
        assert_eq!(
            store.samples(index.id).unwrap(),
            vec![sample(0, 3), sample(25, 2)]
        );
        let url = server.url();
        drop(server);
        let mut config = PostgresConfig::new(&url).unwrap();
        config.connect_timeout = std::time::Duration::from_millis(500);
        let err = store.samples(index.id).unwrap_err();
        assert!(err.to_string().contains("127.0.0.1"), "{err}");
        let err = Store::connect(&Database::Postgres(config)).unwrap_err();
        assert!(err.to_string().contains("127.0.0.1"), "{err}");
    }

    #[test]
    fn jobs_are_leased_to_one_worker_at_a_time_and_taken_over_when_a_lease_runs_out() {
        const LEASE: Duration = Duration::from_millis(300);
        on_both(|db, open| {
            let mut store = open();
            let pen = &Location {
                root: "barn".into(),
                path: "pen.mp4".into(),
            };
            let barn = &["barn".to_owned()];
            let id = store.enqueue_job(pen, &key("m1"), false).unwrap();
            assert_eq!(
                store.enqueue_job(pen, &key("m1"), false).unwrap(),
                id,
                "{db}: once"
            );
            let other_model = store.enqueue_job(pen, &key("m2"), false).unwrap();
            assert_ne!(other_model, id, "{db}");

            let a = store
                .claim_job(&key("m1"), barn, "worker-a", LEASE)
                .unwrap()
                .unwrap();
            assert_eq!((a.id, &a.location, a.attempts), (id, pen, 1), "{db}");
            // A worker that does not map the root never takes it.
            let elsewhere = &["barn2".to_owned(), String::new()];
            assert_eq!(
                store.claim_job(&key("m2"), elsewhere, "worker-x", LEASE).unwrap(),
                None,
                "{db}"
            );
            assert_eq!(
                store.claim_job(&key("m1"), barn, "worker-b", LEASE).unwrap(),
                None,
                "{db}: held"
            );
            assert!(store.renew_job(&a, LEASE).unwrap(), "{db}");
            let mut impostor = a.clone();
            impostor.owner = "worker-b".into();
            assert!(!store.renew_job(&impostor, LEASE).unwrap(), "{db}");
            assert!(!store.finish_job(&impostor, &JobOutcome::Done).unwrap(), "{db}");

            // worker-a stops renewing (it died): once the lease runs out, worker-b takes over.
            std::thread::sleep(LEASE + Duration::from_millis(100));
            let b = store
                .claim_job(&key("m1"), barn, "worker-b", LEASE)
                .unwrap()
                .unwrap();
            assert_eq!((b.id, b.attempts), (id, 2), "{db}");
            assert!(!store.renew_job(&a, LEASE).unwrap(), "{db}: a lost it");
            assert!(!store.finish_job(&a, &JobOutcome::Done).unwrap(), "{db}");
            assert!(store.finish_job(&b, &JobOutcome::Done).unwrap(), "{db}");
            assert_eq!(
                store.claim_job(&key("m1"), barn, "worker-c", LEASE).unwrap(),
                None,
                "{db}: done"
            );

            // Queued again only when asked (the file changed); released work waits again.
            store.enqueue_job(pen, &key("m1"), false).unwrap();
            assert_eq!(
                store.claim_job(&key("m1"), barn, "worker-c", LEASE).unwrap(),
                None,
                "{db}"
            );
            store.enqueue_job(pen, &key("m1"), true).unwrap();
            let c = store
                .claim_job(&key("m1"), barn, "worker-c", LEASE)
                .unwrap()
                .unwrap();
            assert!(store.finish_job(&c, &JobOutcome::Released).unwrap(), "{db}");
            let d = store
                .claim_job(&key("m1"), barn, "worker-d", LEASE)
                .unwrap()
                .unwrap();
            assert_eq!((d.id, d.attempts), (id, 4), "{db}");
            assert!(
                store
                    .finish_job(&d, &JobOutcome::Failed("unreadable".into()))
                    .unwrap(),
                "{db}"
            );
            assert_eq!(
                store.claim_job(&key("m1"), barn, "worker-d", LEASE).unwrap(),
                None,
                "{db}"
            );

            // A worker of another model sees only its own jobs.
            let m2 = store
                .claim_job(&key("m2"), barn, "worker-e", LEASE)
                .unwrap()
                .unwrap();
            assert_eq!(m2.id, other_model, "{db}");
            // The roots' files as the database knows them: once each, whatever the model.
            let elsewhere = Location {
                root: "barn2".into(),
                path: "b.mp4".into(),
            };
            store.enqueue_job(&elsewhere, &key("m1"), false).unwrap();
            assert_eq!(store.queued(barn).unwrap(), std::slice::from_ref(pen), "{db}");
            assert_eq!(
                store.queued(&["barn2".into(), "barn".into()]).unwrap(),
                [pen.clone(), elsewhere],
                "{db}"
            );
            // A file taken out of the library takes its job along; the holder loses it.
            assert!(store.drop_job(pen, &key("m2")).unwrap(), "{db}");
            assert!(!store.drop_job(pen, &key("m2")).unwrap(), "{db}");
            assert!(!store.renew_job(&m2, LEASE).unwrap(), "{db}");
        });
    }

    #[test]
    fn workers_claiming_at_once_take_every_job_exactly_once() {
        on_both(|db, open| {
            let mut store = open();
            let jobs = 120;
            for i in 0..jobs {
                store
                    .enqueue_job(
                        &Location::plain(Path::new(&format!("v{i}.mp4"))),
                        &key("m1"),
                        false,
                    )
                    .unwrap();
            }
            let taken: Vec<Vec<i64>> = std::thread::scope(|s| {
                let workers: Vec<_> = (0..4)
                    .map(|w| {
                        s.spawn(move || {
                            let mut store = open();
                            let mut mine = Vec::new();
                            let owner = format!("worker-{w}");
                            while let Some(job) = store
                                .claim_job(&key("m1"), &[String::new()], &owner, Duration::from_secs(60))
                                .unwrap()
                            {
                                assert!(store.finish_job(&job, &JobOutcome::Done).unwrap());
                                mine.push(job.id);
                            }
                            mine
                        })
                    })
                    .collect();
                workers.into_iter().map(|w| w.join().unwrap()).collect()
            });
            let mut all: Vec<i64> = taken.concat();
            assert_eq!(all.len(), jobs, "{db}: {taken:?}");
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), jobs, "{db}: a job ran twice");
        });
    }

    #[test]
    fn database_urls_parse_and_passwords_stay_out_of_messages() {
        assert_eq!(
            "sqlite:data/index.db".parse(),
            Ok(Database::Sqlite("data/index.db".into()))
        );
        assert_eq!(
            "sqlite:///tmp/i.db".parse(),
            Ok(Database::Sqlite("/tmp/i.db".into()))
        );
        let pg: Database = "postgres://pw:secret@db.farm:5433/pigs".parse().unwrap();
        assert_eq!(pg.to_string(), "postgres://pw:***@db.farm:5433/pigs");
        assert!(format!("{pg:?}").contains("***") && !format!("{pg:?}").contains("secret"));
        assert_eq!(
            "data/index.db".parse(),
            Ok(Database::Sqlite("data/index.db".into()))
        );
        assert!(
            "mysql://x"
                .parse::<Database>()
                .unwrap_err()
                .contains("sqlite:PATH")
        );
        assert!("sqlite:".parse::<Database>().is_err());
        assert!("postgres://h:notaport/db".parse::<Database>().is_err());
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
        let mut store = Store::open(&full).unwrap();
        assert_eq!(store.samples(index.id).unwrap(), vec![sample(0, 3)]);

        let missing = dir.path().join("no/such/folder/index.db");
        let err = Store::open(&missing).unwrap_err();
        assert!(matches!(err, IndexError::Database(_)), "{err}");
    }
}
