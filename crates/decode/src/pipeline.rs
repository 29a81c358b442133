//! Glue shared by every GStreamer pipeline of this crate: start-up, the `Null`-on-drop guard,
//! and the one place where GStreamer's errors become [`DecodeError`]s.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gst::prelude::*;

use crate::error::{DecodeError, pipeline_err};

/// How often waiting loops look at the bus.
pub(crate) const POLL: Duration = Duration::from_millis(50);
/// How long a pipeline may sit without data before we look for a swallowed error.
pub(crate) const LOST_ERROR_GRACE: Duration = Duration::from_millis(500);

/// Initialises GStreamer once per process.
pub(crate) fn init() -> Result<(), DecodeError> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| gst::init().map_err(|e| e.to_string()))
        .clone()
        .map_err(DecodeError::Pipeline)
}

/// The file's metadata; a missing file is `NotFound`.
pub(crate) fn metadata(path: &Path) -> Result<std::fs::Metadata, DecodeError> {
    std::fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DecodeError::NotFound(path.to_owned()),
        _ => DecodeError::Io {
            path: path.to_owned(),
            source: source.into(),
        },
    })
}

/// Checks the file before GStreamer sees it, so the common mistakes get precise errors.
pub(crate) fn check_file(path: &Path) -> Result<(), DecodeError> {
    let meta = metadata(path)?;
    if !meta.is_file() {
        return Err(DecodeError::NotMedia(path.to_owned()));
    }
    if meta.len() == 0 {
        return Err(DecodeError::Empty(path.to_owned()));
    }
    Ok(())
}

pub(crate) fn make(factory: &str) -> Result<gst::Element, DecodeError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| DecodeError::Pipeline(format!("GStreamer element '{factory}' is not installed")))
}

/// Links the decoded video pad that `decodebin` (or `uridecodebin`) adds to `next`'s sink,
/// when it appears; other streams (audio, subtitles) are left unlinked.
pub(crate) fn link_video_pads(decodebin: &gst::Element, next: &gst::Element) {
    let next = next.downgrade();
    decodebin.connect_pad_added(move |_, pad| {
        let Some(next) = next.upgrade() else {
            return;
        };
        let Some(sinkpad) = next.static_pad("sink") else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let is_video = caps.structure(0).is_some_and(|s| s.name() == "video/x-raw");
        if is_video && !sinkpad.is_linked() {
            let _ = pad.link(&sinkpad);
        }
    });
}

/// A pipeline that reaches `Null` however its owner exits.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pub(crate) pipeline: gst::Pipeline,
    bus: gst::Bus,
    path: PathBuf,
}

impl Pipeline {
    pub(crate) fn new(path: &Path) -> Result<Self, DecodeError> {
        let pipeline = gst::Pipeline::new();
        let bus = pipeline
            .bus()
            .ok_or_else(|| DecodeError::Pipeline("pipeline has no bus".into()))?;
        Ok(Self {
            pipeline,
            bus,
            path: path.to_owned(),
        })
    }

    pub(crate) fn set_state(&self, state: gst::State) -> Result<(), DecodeError> {
        match self.pipeline.set_state(state) {
            Ok(_) => Ok(()),
            // The reason is on the bus; prefer it to GStreamer's generic "state change failed".
            Err(_) => Err(self
                .take_error()
                .unwrap_or_else(|| DecodeError::Pipeline(format!("could not set pipeline to {state:?}")))),
        }
    }

    /// Waits until the pipeline has prerolled (or failed), at most `timeout`.
    pub(crate) fn wait_preroll(&self, timeout: Duration) -> Result<(), DecodeError> {
        let started = Instant::now();
        loop {
            if started.elapsed() > timeout {
                return Err(DecodeError::Timeout(timeout));
            }
            let Some(msg) = self.pop(
                POLL,
                &[
                    gst::MessageType::AsyncDone,
                    gst::MessageType::Error,
                    gst::MessageType::Eos,
                ],
            ) else {
                if started.elapsed() > LOST_ERROR_GRACE {
                    self.check_lost_error()?;
                }
                continue;
            };
            match msg.view() {
                gst::MessageView::AsyncDone(_) => return Ok(()),
                gst::MessageView::Error(err) => return Err(self.map_error(err)),
                gst::MessageView::Eos(_) => {
                    return Err(DecodeError::Corrupt {
                        path: self.path.clone(),
                        reason: "the stream ended before any frame was decoded".into(),
                    });
                }
                _ => {}
            }
        }
    }

    /// parsebin and decodebin (1.22) can swallow the error of a demuxer that fails while they
    /// are starting it: its streaming task stops, yet no error reaches the bus and the pipeline
    /// waits forever. Call this only while waiting for a first buffer: at EOS tasks stop too.
    ///
    /// Only demuxers count: other elements (typefind) pause their own tasks when they are done.
    pub(crate) fn check_lost_error(&self) -> Result<(), DecodeError> {
        for element in self.pipeline.iterate_recurse().into_iter().flatten() {
            let is_demuxer = element
                .factory()
                .and_then(|f| {
                    f.metadata(gst::ELEMENT_METADATA_KLASS)
                        .map(|k| k.contains("Demux"))
                })
                .unwrap_or(false);
            let stopped = is_demuxer
                && element
                    .sink_pads()
                    .iter()
                    .any(|pad| pad.task_state() == gst::TaskState::Paused);
            if stopped {
                return Err(DecodeError::Corrupt {
                    path: self.path.clone(),
                    reason: format!("{} stopped reading the file", element.name()),
                });
            }
        }
        Ok(())
    }

    /// Pops one message of the given kinds, waiting at most `wait`.
    pub(crate) fn pop(&self, wait: Duration, kinds: &[gst::MessageType]) -> Option<gst::Message> {
        self.bus
            .timed_pop_filtered(gst::ClockTime::from_nseconds(wait.as_nanos() as u64), kinds)
    }

    /// The first error waiting on the bus, if any, without blocking.
    pub(crate) fn take_error(&self) -> Option<DecodeError> {
        let msg = self.bus.pop_filtered(&[gst::MessageType::Error])?;
        match msg.view() {
            gst::MessageView::Error(err) => Some(self.map_error(err)),
            _ => None,
        }
    }

    /// Maps a GStreamer error message to the kind of failure it means for the caller.
    pub(crate) fn map_error(&self, err: &gst::message::Error) -> DecodeError {
        let e = err.error();
        let path = self.path.clone();
        let reason = match err.debug() {
            Some(debug) => format!("{e} ({debug})"),
            None => e.to_string(),
        };
        if e.matches(gst::ResourceError::NotFound) {
            DecodeError::NotFound(path)
        } else if e.matches(gst::StreamError::TypeNotFound) || e.matches(gst::StreamError::WrongType) {
            DecodeError::NotMedia(path)
        } else if e.matches(gst::StreamError::CodecNotFound) || e.matches(gst::CoreError::MissingPlugin) {
            DecodeError::UnsupportedCodec {
                path,
                codec: missing_codec(&reason).unwrap_or_else(|| e.to_string()),
            }
        } else if e.matches(gst::StreamError::Demux)
            || e.matches(gst::StreamError::Decode)
            || e.matches(gst::StreamError::Format)
            || e.matches(gst::StreamError::Failed)
            || e.matches(gst::ResourceError::Read)
        {
            DecodeError::Corrupt { path, reason }
        } else {
            pipeline_err(reason)
        }
    }
}

/// The codec named in parsebin/decodebin's "Missing decoder: H.264 (High Profile) (video/x-h264,
/// ...)" debug text.
fn missing_codec(debug: &str) -> Option<String> {
    let rest = debug.split_once("Missing ")?.1.split_once(": ")?.1;
    let end = [" (video/", " (image/", " (audio/", " (application/"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()?;
    Some(rest[..end].to_owned())
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // Nothing useful can be done if this fails: the pipeline is going away either way.
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::missing_codec;

    #[test]
    fn names_the_missing_codec() {
        let debug = "no suitable plugins found:\nMissing decoder: H.265 (Main Profile) (video/x-h265, \
                     stream-format=(string)hvc1, profile=(string)main)";
        assert_eq!(missing_codec(debug).as_deref(), Some("H.265 (Main Profile)"));
        assert_eq!(missing_codec("something else"), None);
    }
}
