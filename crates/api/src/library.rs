//! The videos the server knows: every video file under the configured folders, each with an id
//! that stays the same across restarts (a hash of its path relative to its folder). The folders
//! are watched: a file that appears or changes is reported once it has stopped changing (a
//! copy in progress is not indexed half-way).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use dashmap::DashMap;
use notify::Watcher as _;

/// One video of the library.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub path: PathBuf,
    /// Path relative to the folder it was found in: what users see as its name.
    pub name: String,
    /// Size and modification time when last seen: a change means new content.
    seen: (u64, Option<SystemTime>),
    /// `id@size-mtime`, made once from `seen`.
    version: Arc<str>,
}

impl Entry {
    fn new(id: String, path: PathBuf, name: String, seen: (u64, Option<SystemTime>)) -> Self {
        let mtime = seen
            .1
            .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let version = format!("{id}@{:x}-{mtime:x}", seen.0).into();
        Self {
            id,
            path,
            name,
            seen,
            version,
        }
    }

    /// Names this version of this video: it changes whenever the file's size or modification
    /// time does, so caches and ETags keyed by it never serve an old file's results.
    pub fn version(&self) -> &Arc<str> {
        &self.version
    }
}

/// A file is taken as complete once it has not changed for this long.
const SETTLE: Duration = Duration::from_secs(1);
/// What a listed file that has not settled yet was "seen" as: never equal to a real look.
const UNSETTLED: (u64, Option<SystemTime>) = (u64::MAX, None);

#[derive(Debug, Default)]
pub struct Library {
    folders: Vec<PathBuf>,
    videos: DashMap<String, Entry>,
}

/// The stable id of a video: 16 hex digits of BLAKE3 over its relative path.
pub fn video_id(relative: &str) -> String {
    blake3::hash(relative.as_bytes()).to_hex()[..16].to_owned()
}

impl Library {
    pub fn new(folders: Vec<PathBuf>) -> Self {
        Self {
            folders,
            videos: DashMap::new(),
        }
    }

    /// Walks the folders; returns the videos that are new or changed since the last walk and
    /// have stayed unchanged for [`SETTLE`], and whether some file is still being written.
    pub fn rescan(&self) -> (Vec<Entry>, bool) {
        let (mut changed, mut busy) = (Vec::new(), false);
        for folder in &self.folders {
            for entry in walkdir::WalkDir::new(folder)
                .follow_links(false)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file() && is_video_name(e.path()))
            {
                let Some(name) = relative_name(folder, entry.path()) else {
                    continue;
                };
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                let seen = (meta.len(), meta.modified().ok());
                let settled = seen
                    .1
                    .and_then(|m| m.elapsed().ok())
                    .is_none_or(|age| age >= SETTLE);
                let id = video_id(&name);
                if self.videos.get(&id).is_some_and(|e| e.seen == seen) {
                    continue;
                }
                let path = entry.path().to_owned();
                if settled {
                    let entry = Entry::new(id.clone(), path, name, seen);
                    self.videos.insert(id, entry.clone());
                    changed.push(entry);
                } else {
                    // Listed at once, reported (for indexing) once it settles.
                    busy = true;
                    let entry = Entry::new(id.clone(), path, name, UNSETTLED);
                    self.videos.entry(id).or_insert(entry);
                }
            }
        }
        (changed, busy)
    }

    /// Watches the folders and calls `on_change` with every video that appears or changes,
    /// once it has settled. Watching stops when the returned watcher is dropped.
    pub fn watch(
        self: &Arc<Self>,
        on_change: impl Fn(Entry) + Send + 'static,
    ) -> notify::Result<notify::RecommendedWatcher> {
        let (tx, rx) = mpsc::channel::<()>();
        // One look straight away, for files that were still being written at the first scan.
        let _ = tx.send(());
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|e| !e.kind.is_access()) {
                let _ = tx.send(());
            }
        })?;
        for folder in &self.folders {
            watcher
                .watch(folder, notify::RecursiveMode::Recursive)
                .map_err(|e| notify::Error::generic(&format!("{}: {e}", folder.display())))?;
        }
        let library = Arc::clone(self);
        std::thread::Builder::new()
            .name("library-watch".into())
            .spawn(move || {
                // Ends when the watcher (and with it the sender) is dropped.
                while rx.recv().is_ok() {
                    loop {
                        // Let a burst of events (a copy in progress) go quiet first.
                        while rx.recv_timeout(SETTLE).is_ok() {}
                        let (changed, busy) = library.rescan();
                        for entry in changed {
                            tracing::info!(video = %entry.name, "new or changed video");
                            on_change(entry);
                        }
                        if !busy {
                            break;
                        }
                    }
                }
            })
            .map_err(|e| notify::Error::generic(&e.to_string()))?;
        Ok(watcher)
    }

    pub fn get(&self, id: &str) -> Option<Entry> {
        self.videos.get(id).map(|e| e.clone())
    }

    /// All videos, sorted by name.
    pub fn list(&self) -> Vec<Entry> {
        let mut all: Vec<Entry> = self.videos.iter().map(|e| e.clone()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

/// Whether a file name looks like a video we read.
pub fn is_video_name(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("mp4" | "m4v" | "mov" | "mkv" | "webm" | "avi")
    )
}

fn relative_name(folder: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(folder).ok()?;
    Some(rel.to_str()?.replace('\\', "/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(video_id("pen4/morning.mp4"), video_id("pen4/morning.mp4"));
        assert_ne!(video_id("pen4/morning.mp4"), video_id("pen4/evening.mp4"));
        assert_eq!(video_id("a.mp4").len(), 16);
    }

    #[test]
    fn finds_videos_under_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pen4")).unwrap();
        std::fs::write(dir.path().join("pen4/a.mp4"), b"x").unwrap();
        std::fs::write(dir.path().join("b.MKV"), b"x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let lib = Library::new(vec![dir.path().to_owned()]);
        // Files written this instant are listed but not reported until they settle.
        let (changed, busy) = lib.rescan();
        assert!(changed.is_empty() && busy);
        assert_eq!(lib.list().len(), 2);
        std::thread::sleep(SETTLE);
        assert_eq!(lib.rescan().0.len(), 2);
        assert!(lib.rescan().0.is_empty(), "nothing changed");
        let names: Vec<String> = lib.list().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["b.MKV", "pen4/a.mp4"]);
        let id = video_id("pen4/a.mp4");
        assert_eq!(lib.get(&id).unwrap().path, dir.path().join("pen4/a.mp4"));
        assert!(lib.get("0000000000000000").is_none());
    }

    #[test]
    fn watching_reports_new_and_changed_videos_once_settled() {
        let dir = tempfile::tempdir().unwrap();
        let lib = Arc::new(Library::new(vec![dir.path().to_owned()]));
        let (tx, rx) = mpsc::channel();
        let _watcher = lib.watch(move |e| tx.send(e.name).unwrap()).unwrap();
        std::fs::create_dir(dir.path().join("pen2")).unwrap();
        std::fs::write(dir.path().join("pen2/new.mp4"), b"first").unwrap();
        std::fs::write(dir.path().join("pen2/notes.txt"), b"x").unwrap();
        let wait = Duration::from_secs(10);
        assert_eq!(rx.recv_timeout(wait).unwrap(), "pen2/new.mp4");
        std::fs::write(dir.path().join("pen2/new.mp4"), b"second version").unwrap();
        assert_eq!(rx.recv_timeout(wait).unwrap(), "pen2/new.mp4");
        assert!(rx.recv_timeout(SETTLE * 3).is_err(), "reported once per change");
    }
}
