//! Which version of a file: the one token the library, HTTP validators, caches and the index
//! all key by.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::error::DecodeError;

/// One version of a file: its size and modification time. A file that changes gets a new
/// version, so nothing made from its old bytes (decoded frames, detections, an index, a
/// client's cached copy) is taken for the new ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FileVersion {
    pub len: u64,
    /// Modification time, nanoseconds since 1970 (0 where the file system has none).
    pub modified_ns: u64,
}

impl FileVersion {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Self {
            len: meta.len(),
            modified_ns,
        }
    }

    /// The version of the file at `path` now (one `stat`).
    pub fn read(path: &Path) -> Result<Self, DecodeError> {
        crate::pipeline::metadata(path).map(|m| Self::of(&m))
    }

    /// The modification time, when the file system has one.
    pub fn modified(&self) -> Option<SystemTime> {
        (self.modified_ns > 0).then(|| SystemTime::UNIX_EPOCH + Duration::from_nanos(self.modified_ns))
    }
}

/// `len-mtime`, both in hex: a strong ETag's text, and the version part of cache keys.
impl std::fmt::Display for FileVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:x}-{:x}", self.len, self.modified_ns)
    }
}

/// One version of one file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub path: Arc<Path>,
    pub version: FileVersion,
}

impl FileKey {
    /// The key of the file at `path` as it is now.
    pub fn of(path: &Path) -> Result<Self, DecodeError> {
        Ok(Self::new(path, FileVersion::read(path)?))
    }

    /// The key of `path` at a version already known (no `stat`).
    pub fn new(path: &Path, version: FileVersion) -> Self {
        Self {
            path: path.into(),
            version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewritten_file_is_a_new_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pen.mp4");
        std::fs::write(&path, b"first").unwrap();
        let first = FileVersion::read(&path).unwrap();
        assert_eq!(first.len, 5);
        assert_eq!(first.to_string(), format!("5-{:x}", first.modified_ns));
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
            .unwrap();
        let touched = FileVersion::read(&path).unwrap();
        assert_ne!(touched, first);
        assert_eq!(
            touched.modified(),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
        );
        assert!(matches!(
            FileVersion::read(&dir.path().join("gone.mp4")),
            Err(DecodeError::NotFound(_))
        ));
    }
}
