//! The videos the server knows: every video file under the configured folders, each with an id
//! that stays the same across restarts (a hash of its path relative to its folder). The folders
//! are watched: a file that appears or changes is reported once it has stopped changing (a
//! copy in progress is not indexed half-way), and a file that goes away leaves the library.
//!
//! Clients name files only by paths relative to a library folder, and [`client_path`] checks
//! every such name before it reaches the file system: plain components only (no `..`, no root,
//! no hidden names), a video extension, and no link anywhere along the way.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use dashmap::DashMap;
use notify::Watcher as _;
use pigweight_decode::{FileKey, FileVersion};
use pigweight_indexer::Root;

use crate::error::ApiError;

/// One video of the library.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub path: PathBuf,
    /// Path relative to the folder it was found in: what users see as its name.
    pub name: String,
    /// The file at the version last seen (a change means new content): the decoder's key, made
    /// once, so a lookup by it costs no `stat` and no allocation.
    key: FileKey,
    /// `id@version`, made once from the key's version.
    version: Arc<str>,
}

impl Entry {
    fn new(id: String, path: PathBuf, name: String, seen: FileVersion) -> Self {
        let version = format!("{id}@{seen}").into();
        Self {
            key: FileKey::new(&path, seen),
            id,
            path,
            name,
            version,
        }
    }

    /// The file's size in bytes when last seen.
    pub fn size(&self) -> u64 {
        if self.key.version == UNSETTLED {
            0
        } else {
            self.key.version.len
        }
    }

    /// Names this version of this video: it changes whenever the file's size or modification
    /// time does, so caches and ETags keyed by it never serve an old file's results.
    pub fn version(&self) -> &Arc<str> {
        &self.version
    }

    /// The decoder's key of the file at the version last seen.
    pub fn file_key(&self) -> &FileKey {
        &self.key
    }
}

/// A file is taken as complete once it has not changed for this long.
const SETTLE: Duration = Duration::from_secs(1);
/// What a listed file that has not settled yet was "seen" as: never equal to a real look.
const UNSETTLED: FileVersion = FileVersion {
    len: u64::MAX,
    modified_ns: 0,
};

/// A change to the library.
#[derive(Debug, Clone)]
pub enum Change {
    /// A video appeared, or its file changed.
    Changed(Entry),
    /// A video's file went away.
    Removed(Entry),
}

/// What one walk of the folders found.
#[derive(Debug, Default)]
pub struct Rescan {
    /// New or changed videos that have settled.
    pub changed: Vec<Entry>,
    /// Videos whose files are gone.
    pub removed: Vec<Entry>,
    /// Whether some file is still being written.
    pub busy: bool,
}

#[derive(Debug, Default)]
pub struct Library {
    folders: Vec<Root>,
    videos: DashMap<String, Entry>,
    /// Named roots another process walks (in a cluster, one at a time walks each).
    walked_elsewhere: DashMap<String, ()>,
}

/// The stable id of a video: 16 hex digits of BLAKE3 over its relative path.
pub fn video_id(relative: &str) -> String {
    blake3::hash(relative.as_bytes()).to_hex()[..16].to_owned()
}

/// The id of the video at `relative` in `folder`: under a named root, of the root's name and
/// the path (`barn1:pen3/a.mp4`), so every machine that maps the root gives it the same id
/// wherever it is mounted; in a plain folder, of the path alone.
fn id_in(folder: &Root, relative: &str) -> String {
    match &folder.name {
        Some(root) => video_id(&format!("{root}:{relative}")),
        None => video_id(relative),
    }
}

impl Library {
    pub fn new(folders: Vec<Root>) -> Self {
        Self {
            folders,
            videos: DashMap::new(),
            walked_elsewhere: DashMap::new(),
        }
    }

    /// Whether this process walks the named root `name` (by default it walks every folder). In
    /// a cluster one process at a time walks each named root; the others list its videos as
    /// that one queued them ([`Library::adopt`]) and only check that the files they list are
    /// still there.
    pub fn set_walked(&self, name: &str, walked: bool) {
        if walked {
            self.walked_elsewhere.remove(name);
        } else {
            self.walked_elsewhere.insert(name.to_owned(), ());
        }
    }

    /// Walks the folders (those another process walks excepted); reports the videos that are
    /// new or changed since the last walk and have stayed unchanged for [`SETTLE`], and those
    /// whose files are gone (from any folder).
    pub fn rescan(&self) -> Rescan {
        let mut found = Rescan::default();
        let mut present = std::collections::HashSet::new();
        let walked = |f: &&Root| {
            f.name
                .as_ref()
                .is_none_or(|n| !self.walked_elsewhere.contains_key(n))
        };
        for folder in self.folders.iter().filter(walked) {
            for entry in walkdir::WalkDir::new(&folder.path)
                .follow_links(false)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file() && is_video_name(e.path()))
            {
                let Some(name) = relative_name(&folder.path, entry.path()) else {
                    continue;
                };
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                let id = id_in(folder, &name);
                present.insert(id.clone());
                let seen = FileVersion::of(&meta);
                if self.videos.get(&id).is_some_and(|e| e.key.version == seen) {
                    continue;
                }
                let settled = seen
                    .modified()
                    .and_then(|m| m.elapsed().ok())
                    .is_none_or(|age| age >= SETTLE);
                let path = entry.path().to_owned();
                if settled {
                    let entry = Entry::new(id.clone(), path, name, seen);
                    self.videos.insert(id, entry.clone());
                    found.changed.push(entry);
                } else {
                    // Listed at once, reported (for indexing) once it settles.
                    found.busy = true;
                    let entry = Entry::new(id.clone(), path, name, UNSETTLED);
                    self.videos.entry(id).or_insert(entry);
                }
            }
        }
        let gone: Vec<String> = self
            .videos
            .iter()
            .filter(|e| !present.contains(e.key()) && !e.path.exists())
            .map(|e| e.key().clone())
            .collect();
        found.removed = gone.iter().filter_map(|id| self.remove(id)).collect();
        found
    }

    /// Adds the file at `relative` (checked by [`client_path`]) inside one of the folders, the
    /// first that has it, without waiting for the watcher (which may not see changes at all on
    /// network file systems). Returns the entry and whether it is new or changed.
    pub fn register(&self, relative: &Path) -> Result<(Entry, bool), ApiError> {
        let name = relative_str(relative)?;
        for folder in &self.folders {
            let path = folder.path.join(relative);
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            ensure_no_links(&folder.path, relative)?;
            if !meta.is_file() {
                return Err(ApiError::invalid(format!("{name} is not a file")));
            }
            return Ok(self.insert(id_in(folder, &name), path, name, &meta));
        }
        Err(ApiError::not_found(format!(
            "no file {name} in the library folders"
        )))
    }

    /// Lists the file at `path` (this machine's path), under the deepest folder that holds it,
    /// with the checks a client's name gets ([`client_path`]): a video another process of the
    /// cluster found first. Returns the entry and whether it is new or changed.
    pub fn adopt(&self, path: &Path) -> Result<(Entry, bool), ApiError> {
        let outside = || ApiError::not_found(format!("{} is under no library folder", path.display()));
        let folder = self
            .folders
            .iter()
            .filter(|f| path.starts_with(&f.path))
            .max_by_key(|f| f.path.components().count())
            .ok_or_else(outside)?;
        let relative = path.strip_prefix(&folder.path).map_err(|_| outside())?;
        let relative = client_path(&relative_str(relative)?)?;
        let name = relative_str(&relative)?;
        let meta = std::fs::symlink_metadata(path).map_err(|_| outside())?;
        ensure_no_links(&folder.path, &relative)?;
        if !meta.is_file() {
            return Err(ApiError::invalid(format!("{name} is not a file")));
        }
        Ok(self.insert(id_in(folder, &name), path.to_owned(), name, &meta))
    }

    /// The folder that uploads go into: the first library folder.
    pub fn upload_folder(&self) -> Option<&Path> {
        self.folders.first().map(|f| f.path.as_path())
    }

    fn insert(&self, id: String, path: PathBuf, name: String, meta: &std::fs::Metadata) -> (Entry, bool) {
        let seen = FileVersion::of(meta);
        let unchanged = self.videos.get(&id).is_some_and(|e| e.key.version == seen);
        let entry = Entry::new(id.clone(), path, name, seen);
        self.videos.insert(id, entry.clone());
        (entry, !unchanged)
    }

    /// Takes a video out of the library (its file is the caller's business).
    pub fn remove(&self, id: &str) -> Option<Entry> {
        self.videos.remove(id).map(|(_, e)| e)
    }

    /// Watches the folders and calls `on_change` with every video that appears or changes,
    /// once it has settled, and every video whose file goes away. A file still being written
    /// is listed at once (size 0). Besides the watcher's events, the folders are walked every
    /// `every` (when given): network file systems often send no events for files other
    /// machines write. Watching stops when the returned watcher is dropped.
    pub fn watch(
        self: &Arc<Self>,
        every: Option<Duration>,
        on_change: impl Fn(Change) + Send + 'static,
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
                .watch(&folder.path, notify::RecursiveMode::Recursive)
                .map_err(|e| notify::Error::generic(&format!("{}: {e}", folder.path.display())))?;
        }
        let library = Arc::clone(self);
        std::thread::Builder::new()
            .name("library-watch".into())
            .spawn(move || {
                // Ends when the watcher (and with it the sender) is dropped.
                let every = every.unwrap_or(Duration::MAX);
                while !matches!(rx.recv_timeout(every), Err(mpsc::RecvTimeoutError::Disconnected)) {
                    loop {
                        // One look covers every event so far: a file being copied in is
                        // listed now, and looked at again each SETTLE until it settles.
                        while rx.try_recv().is_ok() {}
                        let found = library.rescan();
                        for entry in found.changed {
                            tracing::info!(video = %entry.name, "new or changed video");
                            on_change(Change::Changed(entry));
                        }
                        for entry in found.removed {
                            tracing::info!(video = %entry.name, "video gone");
                            on_change(Change::Removed(entry));
                        }
                        if !found.busy {
                            break;
                        }
                        std::thread::sleep(SETTLE);
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

/// The names of the video files we read, by extension (compared without case), and the media
/// type each is served as: MP4 and QuickTime, Matroska and WebM, AVI, and MPEG-TS as recorders
/// and camcorders write it.
const VIDEO_TYPES: [(&str, &str); 9] = [
    ("mp4", "video/mp4"),
    ("m4v", "video/mp4"),
    ("mov", "video/quicktime"),
    ("mkv", "video/x-matroska"),
    ("webm", "video/webm"),
    ("avi", "video/x-msvideo"),
    ("ts", "video/mp2t"),
    ("mts", "video/mp2t"),
    ("m2ts", "video/mp2t"),
];

/// The media type of a video file we read, by its name; `None` for a name that is not one.
pub(crate) fn video_type(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?;
    VIDEO_TYPES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(ext))
        .map(|&(_, kind)| kind)
}

/// Whether a file name looks like a video we read.
pub fn is_video_name(path: &Path) -> bool {
    video_type(path).is_some()
}

/// Checks a path a client names: relative, plain components only (no `..`, `.`, root or
/// hidden names such as our `.part` files), at most 512 bytes, a video file name.
pub fn client_path(name: &str) -> Result<PathBuf, ApiError> {
    let refuse = |why: &str| Err(ApiError::invalid(format!("path {name:?} is refused: {why}")));
    if name.is_empty() || name.len() > 512 {
        return refuse("it must be 1 to 512 bytes long");
    }
    if name.contains(['\\', '\0']) {
        return refuse("backslashes and NUL are not allowed");
    }
    let path = Path::new(name);
    for c in path.components() {
        match c {
            std::path::Component::Normal(part) if !part.to_string_lossy().starts_with('.') => {}
            std::path::Component::Normal(_) => return refuse("names starting with a dot are not allowed"),
            _ => return refuse("it must be relative to a library folder, without `..` or `.`"),
        }
    }
    if !is_video_name(path) {
        let known: Vec<String> = VIDEO_TYPES.iter().map(|(ext, _)| format!(".{ext}")).collect();
        return refuse(&format!("not a video file name ({})", known.join(", ")));
    }
    Ok(path.to_owned())
}

/// Refuses a path under `folder` that passes through a symbolic link anywhere: the file and
/// every folder on the way must be what they seem, so nothing leads outside the library.
pub(crate) fn ensure_no_links(folder: &Path, relative: &Path) -> Result<(), ApiError> {
    let mut at = folder.to_owned();
    for part in relative.components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(ApiError::invalid(format!(
                    "path {} is refused: it goes through a link",
                    relative.display()
                )));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

fn relative_str(relative: &Path) -> Result<String, ApiError> {
    relative
        .to_str()
        .map(|s| s.replace('\\', "/"))
        .ok_or_else(|| ApiError::invalid("paths must be UTF-8"))
}

fn relative_name(folder: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(folder).ok()?;
    Some(rel.to_str()?.replace('\\', "/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

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
        let lib = Library::new(vec![Root::plain(dir.path())]);
        // Files written this instant are listed but not reported until they settle.
        let found = lib.rescan();
        assert!(found.changed.is_empty() && found.busy);
        assert_eq!(lib.list().len(), 2);
        std::thread::sleep(SETTLE);
        assert_eq!(lib.rescan().changed.len(), 2);
        assert!(lib.rescan().changed.is_empty(), "nothing changed");
        let names: Vec<String> = lib.list().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["b.MKV", "pen4/a.mp4"]);
        let id = video_id("pen4/a.mp4");
        assert_eq!(lib.get(&id).unwrap().path, dir.path().join("pen4/a.mp4"));
        assert!(lib.get("0000000000000000").is_none());
    }

    #[test]
    fn a_named_root_gives_a_video_one_id_wherever_it_is_mounted() {
        let dir = tempfile::tempdir().unwrap();
        let share = dir.path().join("share");
        std::fs::create_dir_all(share.join("pen4")).unwrap();
        std::fs::write(share.join("pen4/a.mp4"), b"x").unwrap();
        let mount = dir.path().join("mnt");
        std::os::unix::fs::symlink(&share, &mount).unwrap();
        let ids = |folder: &str| {
            let lib = Library::new(vec![folder.parse().unwrap()]);
            lib.rescan();
            let entries = lib.list();
            assert_eq!(entries.len(), 1, "{folder}");
            (entries[0].id.clone(), entries[0].name.clone())
        };
        let here = ids(&format!("barn1={}", share.display()));
        let there = ids(&format!("barn1={}", mount.display()));
        assert_eq!(here, there);
        assert_eq!(here, (video_id("barn1:pen4/a.mp4"), "pen4/a.mp4".to_owned()));
        // Another root's name is another video; a plain folder keeps the id of the path alone.
        assert_ne!(ids(&format!("barn2={}", share.display())).0, here.0);
        assert_eq!(ids(share.to_str().unwrap()).0, video_id("pen4/a.mp4"));
    }

    #[test]
    fn watching_reports_new_and_changed_videos_once_settled() {
        let dir = tempfile::tempdir().unwrap();
        let lib = Arc::new(Library::new(vec![Root::plain(dir.path())]));
        let (tx, rx) = mpsc::channel();
        let _watcher = lib
            .watch(None, move |c| {
                tx.send(match c {
                    Change::Changed(e) => e.name,
                    Change::Removed(e) => format!("gone: {}", e.name),
                })
                .unwrap();
            })
            .unwrap();
        std::fs::create_dir(dir.path().join("pen2")).unwrap();
        std::fs::write(dir.path().join("pen2/new.mp4"), b"first").unwrap();
        std::fs::write(dir.path().join("pen2/notes.txt"), b"x").unwrap();
        let wait = Duration::from_secs(10);
        assert_eq!(rx.recv_timeout(wait).unwrap(), "pen2/new.mp4");
        std::fs::write(dir.path().join("pen2/new.mp4"), b"second version").unwrap();
        assert_eq!(rx.recv_timeout(wait).unwrap(), "pen2/new.mp4");
        assert!(rx.recv_timeout(SETTLE * 3).is_err(), "reported once per change");
        std::fs::remove_file(dir.path().join("pen2/new.mp4")).unwrap();
        assert_eq!(rx.recv_timeout(wait).unwrap(), "gone: pen2/new.mp4");
        assert!(lib.list().is_empty());
    }

    #[test]
    fn video_files_are_known_by_extension_with_their_media_type() {
        for (name, kind) in [
            ("a.mp4", Some("video/mp4")),
            ("pen/b.MOV", Some("video/quicktime")),
            ("c.mkv", Some("video/x-matroska")),
            ("nvr/ch01.ts", Some("video/mp2t")),
            ("cam.M2TS", Some("video/mp2t")),
            ("notes.txt", None),
            ("mp4", None),
        ] {
            assert_eq!(video_type(Path::new(name)), kind, "{name}");
            assert_eq!(is_video_name(Path::new(name)), kind.is_some(), "{name}");
        }
    }

    #[test]
    fn client_paths_are_checked() {
        for ok in ["a.mp4", "pen4/morning.MKV", "barn 2/cam-1.webm", "nvr/ch01.ts"] {
            assert_eq!(client_path(ok).unwrap(), Path::new(ok));
        }
        for bad in [
            "",
            "/etc/x.mp4",
            "../x.mp4",
            "pen/../../x.mp4",
            "./x.mp4",
            "pen/.hidden.mp4",
            ".x.part",
            "notes.txt",
            "a\\..\\b.mp4",
            "x\0.mp4",
        ] {
            assert!(
                matches!(client_path(bad), Err(e) if e.kind() == ErrorKind::Invalid),
                "{bad:?} passed"
            );
        }
        assert!(client_path(&"a/".repeat(300)).is_err());
    }

    #[test]
    fn registering_finds_files_and_refuses_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pen4")).unwrap();
        std::fs::write(dir.path().join("pen4/a.mp4"), b"x").unwrap();
        std::fs::write(outside.path().join("secret.mp4"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.mp4"), dir.path().join("link.mp4")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        std::fs::create_dir(dir.path().join("folder.mp4")).unwrap();
        let lib = Library::new(vec![Root::plain(dir.path())]);

        let (entry, new) = lib.register(Path::new("pen4/a.mp4")).unwrap();
        assert!(new);
        assert_eq!(
            (entry.name.as_str(), entry.id.clone()),
            ("pen4/a.mp4", video_id("pen4/a.mp4"))
        );
        assert!(!lib.register(Path::new("pen4/a.mp4")).unwrap().1, "unchanged");
        assert!(lib.get(&entry.id).is_some());
        for linked in ["link.mp4", "out/secret.mp4"] {
            assert!(
                matches!(lib.register(Path::new(linked)), Err(e) if e.kind() == ErrorKind::Invalid),
                "{linked}"
            );
        }
        assert!(matches!(
            lib.register(Path::new("folder.mp4")),
            Err(e) if e.kind() == ErrorKind::Invalid
        ));
        assert!(matches!(
            lib.register(Path::new("pen4/none.mp4")),
            Err(e) if e.kind() == ErrorKind::NotFound
        ));
        assert_eq!(lib.remove(&entry.id).unwrap().name, "pen4/a.mp4");
        assert!(lib.list().is_empty());
    }
}
