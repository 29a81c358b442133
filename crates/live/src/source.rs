//! What a stream reads, and how it is shown.

use pigweight_indexer::{Location, Roots, StreamDef, StreamSource};

use crate::error::LiveError;

/// A live source: what the capture thread opens, what viewers are shown of it (never a server
/// path or a password), the name it gets unless it is given one, and how every process of a
/// cluster names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub(crate) input: String,
    pub(crate) shown: String,
    pub(crate) default_name: String,
    pub(crate) kept: StreamSource,
}

impl Source {
    /// A camera at an `rtsp://`, `rtsps://`, `http://` or `https://` URL.
    pub fn camera(url: &str) -> Result<Self, LiveError> {
        let parsed = url::Url::parse(url).map_err(|e| LiveError::BadSource(format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "rtsp" | "rtsps" | "http" | "https") {
            return Err(LiveError::BadSource(
                "a camera URL must be rtsp, rtsps, http or https".into(),
            ));
        }
        Ok(Self {
            input: url.to_owned(),
            shown: redact(url, &parsed),
            default_name: parsed.host_str().unwrap_or("camera").to_owned(),
            kept: StreamSource::Camera(url.to_owned()),
        })
    }

    /// A video file played in a loop at its real rate: this machine's `path` of `location`,
    /// shown as `shown` and named `name` unless the stream is given a name.
    pub fn looped_file(path: &std::path::Path, location: Location, shown: String, name: String) -> Self {
        Self {
            input: path.to_string_lossy().into_owned(),
            shown,
            default_name: name,
            kept: StreamSource::Video(location),
        }
    }

    /// The source of a stream the database keeps, as this machine opens it; `None` for a
    /// video under a root it does not map.
    pub(crate) fn of(def: &StreamDef, roots: &Roots) -> Result<Option<Self>, LiveError> {
        Ok(match &def.source {
            StreamSource::Camera(url) => Some(Self::camera(url)?),
            StreamSource::Video(at) => roots
                .resolve(at)
                .map(|path| Self::looped_file(&path, at.clone(), def.shown.clone(), def.name.clone())),
        })
    }

    /// The stream's id: the same source always gets the same one, on every machine (a video's
    /// location, not its path here).
    pub(crate) fn id(&self) -> String {
        let key = match &self.kept {
            StreamSource::Camera(url) => url.clone(),
            StreamSource::Video(at) => format!("video:{at}"),
        };
        blake3::hash(key.as_bytes()).to_hex()[..16].to_owned()
    }
}

/// The URL with any user name and password replaced by `***`.
fn redact(raw: &str, parsed: &url::Url) -> String {
    if parsed.username().is_empty() && parsed.password().is_none() {
        return raw.to_owned();
    }
    let mut u = parsed.clone();
    let _ = u.set_username("***");
    let _ = u.set_password(None);
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cameras_are_shown_without_their_credentials() {
        let s = Source::camera("rtsp://admin:secret@barn-4.local:554/stream1").unwrap();
        assert_eq!(s.shown, "rtsp://***@barn-4.local:554/stream1");
        assert_eq!(s.default_name, "barn-4.local");
        assert_eq!(s.input, "rtsp://admin:secret@barn-4.local:554/stream1");
        assert_eq!(
            s.id(),
            Source::camera("rtsp://admin:secret@barn-4.local:554/stream1")
                .unwrap()
                .id()
        );
        assert!(matches!(
            Source::camera("file:///etc/passwd"),
            Err(LiveError::BadSource(_))
        ));
        assert!(matches!(
            Source::camera("not a url"),
            Err(LiveError::BadSource(_))
        ));
    }
}
