//! What the processes of a cluster share besides the index: the live streams' definitions, and
//! named leases (a stream's capture, a storage root's scan) that one process holds at a time
//! until it lets go or stops renewing.

use std::time::Duration;

use super::{Store, lease_ms, now_ms};
use crate::error::IndexError;
use crate::roots::Location;

/// Where a live stream's frames come from, named alike on every machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamSource {
    /// A camera's URL (`rtsp://`, `http://` ...), credentials included: it is opened from it.
    Camera(String),
    /// A library video played in a loop at its real rate.
    Video(Location),
}

/// A live stream as the database keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDef {
    pub id: String,
    pub name: String,
    /// The source as viewers are shown it (never a password or a server's path).
    pub shown: String,
    pub source: StreamSource,
}

/// Who holds a lease, and where the other processes reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The lease's name.
    pub name: String,
    /// The holding process (see `Indexer::owner`).
    pub owner: String,
    /// Its HTTP address, when it gave one.
    pub url: Option<String>,
}

/// A stream's row, as both databases hold it: a camera URL, or a root and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StreamRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) shown: String,
    pub(super) camera: Option<String>,
    pub(super) root: Option<String>,
    pub(super) path: Option<String>,
}

impl StreamRow {
    fn of(def: &StreamDef) -> Self {
        let (camera, root, path) = match &def.source {
            StreamSource::Camera(url) => (Some(url.clone()), None, None),
            StreamSource::Video(at) => (None, Some(at.root.clone()), Some(at.path.clone())),
        };
        Self {
            id: def.id.clone(),
            name: def.name.clone(),
            shown: def.shown.clone(),
            camera,
            root,
            path,
        }
    }

    fn def(self) -> Result<StreamDef, IndexError> {
        let source = match (self.camera, self.root, self.path) {
            (Some(url), None, None) => StreamSource::Camera(url),
            (None, Some(root), Some(path)) => StreamSource::Video(Location { root, path }),
            _ => {
                return Err(IndexError::Database(format!(
                    "stream {}: neither a camera nor a video",
                    self.id
                )));
            }
        };
        Ok(StreamDef {
            id: self.id,
            name: self.name,
            shown: self.shown,
            source,
        })
    }
}

impl Store {
    /// Records a stream; false when one with its id is there already. The other processes
    /// hear of it (`Listener::streams`).
    pub fn add_stream(&mut self, def: &StreamDef) -> Result<bool, IndexError> {
        self.db.add_stream(&StreamRow::of(def), now_ms())
    }

    /// Forgets a stream; false when there was none. The other processes hear of it.
    pub fn remove_stream(&mut self, id: &str) -> Result<bool, IndexError> {
        self.db.remove_stream(id)
    }

    /// Every stream, oldest first.
    pub fn streams(&mut self) -> Result<Vec<StreamDef>, IndexError> {
        self.db.streams()?.into_iter().map(StreamRow::def).collect()
    }

    /// Takes the lease `name` for `lease` from now, or extends it, if nobody else holds it
    /// (a holder that stopped renewing loses it when it runs out). False: another holds it.
    pub fn take_lease(
        &mut self,
        name: &str,
        owner: &str,
        url: Option<&str>,
        lease: Duration,
    ) -> Result<bool, IndexError> {
        self.db.take_lease(name, owner, url, now_ms(), lease_ms(lease))
    }

    /// Lets go of the lease `name` if `owner` holds it, and tells the other processes, so one
    /// takes over at once; false when it did not hold it.
    pub fn release_lease(&mut self, name: &str, owner: &str) -> Result<bool, IndexError> {
        self.db.release_lease(name, owner)
    }

    /// The leases whose names start with `prefix` that have not run out.
    pub fn leases(&mut self, prefix: &str) -> Result<Vec<LeaseHolder>, IndexError> {
        self.db.leases(prefix, now_ms())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::tests::on_both;
    use super::*;

    fn camera(id: &str) -> StreamDef {
        StreamDef {
            id: id.into(),
            name: format!("pen {id}"),
            shown: format!("rtsp://***@cam-{id}.local/1"),
            source: StreamSource::Camera(format!("rtsp://user:pw@cam-{id}.local/1")),
        }
    }

    #[test]
    fn streams_are_kept_once_each_and_survive_reopening() {
        on_both(|db, open| {
            let looped = StreamDef {
                id: "v1".into(),
                name: "looped".into(),
                shown: "video pen.mp4, in a loop".into(),
                source: StreamSource::Video(Location {
                    root: "barn1".into(),
                    path: "a/pen.mp4".into(),
                }),
            };
            let mut store = open();
            assert!(store.add_stream(&camera("c1")).unwrap(), "{db}");
            assert!(store.add_stream(&looped).unwrap(), "{db}");
            assert!(!store.add_stream(&camera("c1")).unwrap(), "{db}: a second c1");
            drop(store);
            let mut store = open();
            assert_eq!(
                store.streams().unwrap(),
                vec![camera("c1"), looped.clone()],
                "{db}"
            );
            assert!(store.remove_stream("c1").unwrap(), "{db}");
            assert!(!store.remove_stream("c1").unwrap(), "{db}");
            assert_eq!(store.streams().unwrap(), vec![looped], "{db}");
        });
    }

    #[test]
    fn a_lease_has_one_holder_until_it_lets_go_or_runs_out() {
        on_both(|db, open| {
            let (mut a, mut b) = (open(), open());
            let long = Duration::from_secs(60);
            assert!(
                a.take_lease("stream:c1", "a", Some("http://a:1"), long).unwrap(),
                "{db}"
            );
            assert!(
                !b.take_lease("stream:c1", "b", None, long).unwrap(),
                "{db}: held by a"
            );
            // Renewing is taking it again.
            assert!(
                a.take_lease("stream:c1", "a", Some("http://a:1"), long).unwrap(),
                "{db}"
            );
            assert!(b.take_lease("scan:barn1", "b", None, long).unwrap(), "{db}");
            let held = a.leases("stream:").unwrap();
            assert_eq!(
                held,
                vec![LeaseHolder {
                    name: "stream:c1".into(),
                    owner: "a".into(),
                    url: Some("http://a:1".into())
                }],
                "{db}"
            );
            assert!(!b.release_lease("stream:c1", "b").unwrap(), "{db}: not b's");
            assert!(a.release_lease("stream:c1", "a").unwrap(), "{db}");
            assert!(a.leases("stream:").unwrap().is_empty(), "{db}");
            assert!(
                b.take_lease("stream:c1", "b", None, long).unwrap(),
                "{db}: let go"
            );
            // A lease that runs out is anyone's.
            assert!(
                b.take_lease("stream:c2", "b", None, Duration::from_millis(1))
                    .unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
            assert!(a.leases("stream:c2").unwrap().is_empty(), "{db}: ran out");
            assert!(
                a.take_lease("stream:c2", "a", None, long).unwrap(),
                "{db}: ran out"
            );
        });
    }
}
