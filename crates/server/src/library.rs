//! The videos the server knows: every video file under the configured folders, each with an id
//! that stays the same across restarts (a hash of its path relative to its folder).

use std::path::{Path, PathBuf};

use dashmap::DashMap;

/// One video of the library.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) path: PathBuf,
    /// Path relative to the folder it was found in: what users see as its name.
    pub(crate) name: String,
}

#[derive(Debug, Default)]
pub(crate) struct Library {
    folders: Vec<PathBuf>,
    videos: DashMap<String, Entry>,
}

/// The stable id of a video: 16 hex digits of BLAKE3 over its relative path.
pub(crate) fn video_id(relative: &str) -> String {
    blake3::hash(relative.as_bytes()).to_hex()[..16].to_owned()
}

impl Library {
    pub(crate) fn new(folders: Vec<PathBuf>) -> Self {
        Self {
            folders,
            videos: DashMap::new(),
        }
    }

    /// Walks the folders and adds what is new; returns how many videos the library holds.
    pub(crate) fn rescan(&self) -> usize {
        for folder in &self.folders {
            for entry in walkdir::WalkDir::new(folder)
                .follow_links(false)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file() && crate::is_video_name(e.path()))
            {
                let Some(name) = relative_name(folder, entry.path()) else {
                    continue;
                };
                let id = video_id(&name);
                self.videos.entry(id.clone()).or_insert_with(|| Entry {
                    id,
                    path: entry.path().to_owned(),
                    name,
                });
            }
        }
        self.videos.len()
    }

    pub(crate) fn get(&self, id: &str) -> Option<Entry> {
        self.videos.get(id).map(|e| e.clone())
    }

    /// All videos, sorted by name.
    pub(crate) fn list(&self) -> Vec<Entry> {
        let mut all: Vec<Entry> = self.videos.iter().map(|e| e.clone()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
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
        assert_eq!(lib.rescan(), 2);
        let names: Vec<String> = lib.list().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["b.MKV", "pen4/a.mp4"]);
        let id = video_id("pen4/a.mp4");
        assert_eq!(lib.get(&id).unwrap().path, dir.path().join("pen4/a.mp4"));
        assert!(lib.get("0000000000000000").is_none());
    }
}
