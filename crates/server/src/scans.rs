//! In a cluster, each named storage root is walked by one `serve` process at a time, the holder
//! of the lease `scan:{root}`, renewed every third of `[indexer] lease_s`; another takes it over
//! when that one stops or dies. The others list the root's videos from the database's jobs, as
//! the walker queued them (and from its notices, at once), and only check that the files they
//! list are still there. On one machine (SQLite) the process walks everything.

use std::collections::HashSet;
use std::sync::{Arc, Weak, mpsc};
use std::time::Duration;

use pigweight_api::{App, Change, Library};
use pigweight_indexer::{Database, Roots, Store};

/// What this process walks, kept up to date by a thread of its own until dropped; its leases
/// are let go then, so another process walks at once.
pub(crate) struct Scans {
    scanner: Option<Scanner>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Scanner>>,
}

struct Scanner {
    store: Store,
    library: Arc<Library>,
    roots: Roots,
    owner: String,
    lease: Duration,
    /// The named roots this process walks now.
    held: HashSet<String>,
}

fn lease_name(root: &str) -> String {
    format!("scan:{root}")
}

impl Scans {
    /// Takes the leases of the named roots nobody walks, and tells `library` which roots it
    /// walks, before its first walk. Nothing to share on SQLite.
    pub(crate) fn claim(
        database: &Database,
        library: &Arc<Library>,
        roots: &Roots,
        owner: &str,
        lease: Duration,
    ) -> anyhow::Result<Self> {
        let mut scans = Self {
            scanner: None,
            stop: None,
            thread: None,
        };
        if !matches!(database, Database::Postgres(_)) || roots.folders().iter().all(|r| r.name.is_none()) {
            return Ok(scans);
        }
        let mut scanner = Scanner {
            store: Store::connect(database)?,
            library: Arc::clone(library),
            roots: roots.clone(),
            owner: owner.to_owned(),
            lease,
            held: HashSet::new(),
        };
        scanner.renew()?;
        scans.scanner = Some(scanner);
        Ok(scans)
    }

    /// Lists what the other walkers found, now (before the server answers anyone) and at every
    /// renewal from then on.
    pub(crate) fn follow(&mut self, app: Weak<App>) -> anyhow::Result<()> {
        let Some(mut scanner) = self.scanner.take() else {
            return Ok(());
        };
        let (stop, stopped) = mpsc::channel::<()>();
        let every = scanner.lease / 3;
        let first = scanner.list(&app);
        let thread = std::thread::Builder::new()
            .name("library-scans".into())
            .spawn(move || {
                let _span = tracing::info_span!("library-scans").entered();
                let mut failing = false;
                let mut round = first;
                loop {
                    match round {
                        Ok(()) if failing => {
                            tracing::info!("the library's database is back");
                            failing = false;
                        }
                        Ok(()) => {}
                        // Walks go on as they were; the leases are renewed once it is back.
                        Err(e) if !failing => {
                            tracing::warn!(error = %e, "the library's database is unreachable");
                            failing = true;
                        }
                        Err(_) => {}
                    }
                    if !matches!(stopped.recv_timeout(every), Err(mpsc::RecvTimeoutError::Timeout)) {
                        return scanner;
                    }
                    round = scanner.renew().and_then(|()| scanner.list(&app));
                }
            })?;
        self.stop = Some(stop);
        self.thread = Some(thread);
        Ok(())
    }
}

impl Scanner {
    /// Renews the leases held and takes those nobody holds; tells the library.
    fn renew(&mut self) -> anyhow::Result<()> {
        for root in self.roots.folders() {
            let Some(name) = &root.name else { continue };
            let held = self
                .store
                .take_lease(&lease_name(name), &self.owner, None, self.lease)?;
            if held != self.held.contains(name) {
                if held {
                    tracing::info!(root = %name, "walking this root for the cluster");
                    self.held.insert(name.clone());
                } else {
                    tracing::info!(root = %name, "another process walks this root now");
                    self.held.remove(name);
                }
            }
            self.library.set_walked(name, held);
        }
        Ok(())
    }

    /// Lists the videos of the roots another process walks, as the database has them.
    fn list(&mut self, app: &Weak<App>) -> anyhow::Result<()> {
        let others: Vec<String> = self
            .roots
            .folders()
            .iter()
            .filter_map(|r| r.name.clone())
            .filter(|n| !self.held.contains(n))
            .collect();
        if others.is_empty() {
            return Ok(());
        }
        let Some(app) = app.upgrade() else { return Ok(()) };
        for at in self.store.queued(&others)? {
            let Some(path) = self.roots.resolve(&at) else {
                continue;
            };
            match self.library.adopt(&path) {
                Ok((entry, true)) => {
                    tracing::info!(video = %entry.name, "video found by the root's walker");
                    app.apply(&Change::Changed(entry));
                }
                Ok(_) => {}
                // Queued, but gone here (being deleted, or not there yet on this mount).
                Err(e) => tracing::debug!(path = %path.display(), error = %e, "not listed"),
            }
        }
        Ok(())
    }

    fn release(&mut self) {
        for name in self.held.drain() {
            if let Err(e) = self.store.release_lease(&lease_name(&name), &self.owner) {
                tracing::warn!(root = %name, error = %e, "walking lease not let go; it runs out");
            }
        }
    }
}

impl Drop for Scans {
    fn drop(&mut self) {
        self.stop.take();
        let scanner = match self.thread.take() {
            Some(thread) => thread.join().ok(),
            None => self.scanner.take(),
        };
        if let Some(mut scanner) = scanner {
            scanner.release();
        }
    }
}
