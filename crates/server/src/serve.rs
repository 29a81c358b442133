//! `pigweight serve`: the API and the player over the video library, with the library indexed
//! in the background by the sample (or given) model.
//!
//! Settings come from an optional TOML file (`--config`, sections `[api]`, `[decoder]`,
//! `[indexer]`, `[scheduler]`, `[inference]`, `[database]`, each field as documented on its
//! config type), then flags and the environment, which win over the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use pigweight_api::{ApiConfig, App, AppState, Change, Library};
use pigweight_decode::{Decoder, DecoderConfig, MemoryBudget};
use pigweight_indexer::{Database, IndexKey, Indexer, IndexerConfig, Node, Root, Roots};
use pigweight_inference::{Scheduler, SchedulerConfig};
use serde::Deserialize;

use crate::model::{InferenceSettings, ModelArgs, shipped};
use crate::scans::Scans;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PIGWEIGHT_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "PIGWEIGHT_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "PIGWEIGHT_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// `off`: index nothing here, only queue the library's videos and show what the cluster's
    /// workers index (`pigweight worker`; docs/cluster.md).
    #[arg(long, env = "PIGWEIGHT_INDEXING", default_value = "on")]
    indexing: Switch,
    #[command(flatten)]
    node: NodeArgs,
    /// An accepted API key (repeat, or comma-separated in the environment). Never logged.
    #[arg(
        long = "api-key",
        env = "PIGWEIGHT_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    api_keys: Vec<String>,
    /// Serve without API keys on an address other than loopback.
    #[arg(long)]
    insecure_no_auth: bool,
    /// The player's folder [default: web/ of the checkout].
    #[arg(long, env = "PIGWEIGHT_WEB")]
    web: Option<PathBuf>,
    /// This instance's address as the other instances of a cluster reach it
    /// (`http://HOST:PORT`): they serve their viewers of the live streams captured here
    /// through it [default: the [api] advertise setting, else http:// and --bind, with this
    /// machine's host name for a wildcard address].
    #[arg(long, env = "PIGWEIGHT_ADVERTISE")]
    advertise: Option<String>,
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Switch {
    On,
    Off,
}

/// `pigweight worker`: indexing jobs from a shared database, nothing served.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    #[command(flatten)]
    node: NodeArgs,
}

/// What `serve` and `worker` share: the videos, the database, the model and the memory.
#[derive(Debug, Args)]
struct NodeArgs {
    /// Folders of videos: `PATH`, or `NAME=PATH` for a named storage root, which gives its
    /// videos the same ids on every machine that maps it, wherever it is mounted (repeat the
    /// flag for several).
    #[arg(
        long = "videos",
        env = "PIGWEIGHT_VIDEOS",
        value_delimiter = ',',
        default_value = "data/videos"
    )]
    videos: Vec<Root>,
    /// A TOML file with `[api]`, `[decoder]` and `[indexer]` settings; flags win over it.
    #[arg(long, env = "PIGWEIGHT_CONFIG")]
    config: Option<PathBuf>,
    /// Most video pipelines open at once [default: 8].
    #[arg(long, env = "PIGWEIGHT_MAX_SOURCES")]
    max_sources: Option<usize>,
    /// Budget of the decoded-frame cache, in MiB [default: 256].
    #[arg(long, env = "PIGWEIGHT_FRAME_CACHE_MB")]
    frame_cache_mb: Option<u64>,
    /// Budget of the encoded-image cache, in MiB [default: 128].
    #[arg(long, env = "PIGWEIGHT_IMAGE_CACHE_MB")]
    image_cache_mb: Option<u64>,
    /// Memory for decoding and encoding, in MiB: the two caches above, open video sources
    /// (weighed by frame size) and images being encoded all fit in it [default: 4096].
    #[arg(long, env = "PIGWEIGHT_MEMORY_BUDGET_MB")]
    memory_budget_mb: Option<u64>,
    /// Where the index database lives (as `index.db`, unless --database says otherwise).
    #[arg(long, env = "PIGWEIGHT_DATA", default_value = "data")]
    data: PathBuf,
    /// The index database: an SQLite file (`PATH` or `sqlite:PATH`) or
    /// `postgres://USER@HOST:PORT/DB`, shared by every process of a cluster (docs/cluster.md)
    /// [default: DATA/index.db].
    #[arg(long, env = "PIGWEIGHT_DATABASE", hide_env_values = true)]
    database: Option<Database>,
    /// Longest time in seconds between neighbouring index samples (keyframes, and frames that
    /// fill the gaps between them) [default: 1].
    #[arg(long, env = "PIGWEIGHT_INTERVAL", value_parser = crate::cli::interval)]
    interval: Option<f64>,
    #[command(flatten)]
    model: ModelArgs,
}

/// The TOML file's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ConfigFile {
    /// Memory for decoding and encoding, in MiB: the decoded-frame and encoded-image caches,
    /// open video sources (the API's and the indexer's, weighed by frame size) and images being
    /// encoded share it. The default suits a 24 GB machine that also runs the model.
    memory_budget_mb: u64,
    api: ApiConfig,
    decoder: DecoderConfig,
    indexer: IndexerConfig,
    /// The model's batching scheduler: batch size, how long a batch waits to fill, queues.
    scheduler: SchedulerConfig,
    /// Which backend runs the model (`backend = "ort"` or `"triton"`), and `[inference.triton]`:
    /// `url`, `model`, `timeout_ms`, `connect_timeout_ms`.
    inference: InferenceSettings,
    /// The index database (`url`, as --database) and, on PostgreSQL, its pool:
    /// `max_connections`, `statement_timeout_ms`, `connect_timeout_ms`.
    database: DatabaseSettings,
}

/// The `[database]` settings; what is left out keeps the store's defaults
/// (`PostgresConfig`: 4 connections, 30 s statements, 5 s to connect).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
struct DatabaseSettings {
    url: Option<String>,
    max_connections: Option<u32>,
    statement_timeout_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
}

impl DatabaseSettings {
    /// The database: the flag's, else the file's `url`, else `DATA/index.db`; PostgreSQL with
    /// these pool settings.
    fn database(&self, flag: Option<&Database>, data: &Path) -> anyhow::Result<Database> {
        let database = match (flag, &self.url) {
            (Some(flag), _) => flag.clone(),
            (None, Some(url)) => url
                .parse()
                .map_err(|e: String| anyhow::anyhow!("[database] url: {e}"))?,
            (None, None) => Database::Sqlite(data.join("index.db")),
        };
        Ok(match database {
            Database::Postgres(mut config) => {
                if let Some(n) = self.max_connections {
                    config.max_connections = n.max(1);
                }
                if let Some(ms) = self.statement_timeout_ms {
                    config.statement_timeout = Duration::from_millis(ms);
                }
                if let Some(ms) = self.connect_timeout_ms {
                    config.connect_timeout = Duration::from_millis(ms);
                }
                Database::Postgres(config)
            }
            sqlite => sqlite,
        })
    }
}

impl Default for ConfigFile {
    fn default() -> Self {
        Self {
            memory_budget_mb: 4096,
            api: ApiConfig::default(),
            decoder: DecoderConfig::default(),
            indexer: IndexerConfig::default(),
            scheduler: SchedulerConfig::default(),
            inference: InferenceSettings::default(),
            database: DatabaseSettings::default(),
        }
    }
}

impl ConfigFile {
    /// What is left of the memory budget for open sources and encoders once the caches have
    /// their share.
    fn working_memory(&self) -> anyhow::Result<u64> {
        let total = self.memory_budget_mb << 20;
        let caches = self.decoder.frame_cache_bytes + (self.api.image_cache_mb << 20);
        let working = total.saturating_sub(caches);
        // At least one source of the largest frame allowed, and an image of it being encoded.
        let least = pigweight_decode::source_bytes_of_pixels(self.decoder.source.max_frame_pixels)
            + self.decoder.source.max_frame_pixels * 6;
        if working < least {
            bail!(
                "memory_budget_mb {} leaves {} MiB once the frame cache ({} MiB) and image cache ({} MiB) \
                 have theirs; one source of the largest frame (decoder.source.max_frame_pixels = {}) needs {} MiB",
                self.memory_budget_mb,
                working >> 20,
                self.decoder.frame_cache_bytes >> 20,
                self.api.image_cache_mb,
                self.decoder.source.max_frame_pixels,
                least.div_ceil(1 << 20)
            );
        }
        Ok(working)
    }
}

impl NodeArgs {
    fn settings(&self) -> anyhow::Result<ConfigFile> {
        let mut file = match &self.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("in {}", path.display()))?
            }
            None => ConfigFile::default(),
        };
        if let Some(n) = self.max_sources {
            file.decoder.max_open_sources = n;
        }
        if let Some(mb) = self.frame_cache_mb {
            file.decoder.frame_cache_bytes = mb << 20;
        }
        if let Some(mb) = self.image_cache_mb {
            file.api.image_cache_mb = mb;
        }
        if let Some(mb) = self.memory_budget_mb {
            file.memory_budget_mb = mb;
        }
        if let Some(s) = self.interval {
            file.indexer.interval = s;
        }
        let interval = file.indexer.interval;
        if !pigweight_indexer::is_interval(interval) {
            bail!("indexer.interval must be a number of seconds above 0, got {interval}");
        }
        Ok(file)
    }

    /// The flag's database, else the TOML file's, else `DATA/index.db`.
    fn database(&self, settings: &ConfigFile) -> anyhow::Result<Database> {
        settings.database.database(self.database.as_ref(), &self.data)
    }

    fn roots(&self) -> anyhow::Result<Roots> {
        Roots::new(self.folders()?).map_err(|e| anyhow::anyhow!("--videos: {e}"))
    }

    /// The video folders, made absolute: the library and the indexer name a video by the same
    /// path whatever the folder was given as (`--videos videos` as much as `/srv/videos`).
    fn folders(&self) -> anyhow::Result<Vec<Root>> {
        self.videos
            .iter()
            .map(|root| {
                let path = std::path::absolute(&root.path)
                    .map_err(|e| anyhow::anyhow!("--videos {}: {e}", root.path.display()))?;
                Ok(Root { path, ..root.clone() })
            })
            .collect()
    }

    /// The decoder, the model's scheduler, the database and the indexer of a process that
    /// indexes (`indexing`) or only shows what others index.
    fn start(&self, settings: &ConfigFile, indexing: bool) -> anyhow::Result<Started> {
        let budget = MemoryBudget::new(settings.working_memory()?);
        let decoder = Decoder::new(settings.decoder.clone(), Arc::clone(&budget));
        let detector = self.model.detector(&settings.inference, false)?;
        let key = IndexKey::new(detector.info(), settings.indexer.interval);
        let scheduler = Arc::new(Scheduler::start(detector, settings.scheduler.clone())?);
        std::fs::create_dir_all(&self.data).with_context(|| format!("making {}", self.data.display()))?;
        let database = self.database(settings)?;
        if !indexing && !matches!(database, Database::Postgres(_)) {
            bail!(
                "--indexing off leaves the indexing to the workers of a shared database: give \
                 --database postgres://... (docs/cluster.md); on SQLite serve indexes by itself"
            );
        }
        tracing::info!(%database, indexing, "index database");
        let roots = self.roots()?;
        if matches!(database, Database::Postgres(_)) && roots.folders().iter().any(|r| r.name.is_none()) {
            tracing::warn!(
                "plain video folders on a shared database: their videos are known by their paths, the same \
                 only on machines that mount them alike; name them (--videos NAME=PATH) to share them"
            );
        }
        let indexer = Arc::new(Indexer::start(
            &database,
            Arc::clone(&scheduler),
            key,
            settings.indexer.clone(),
            &decoder,
            Node { roots, indexing },
        )?);
        Ok(Started {
            decoder,
            scheduler,
            indexer,
        })
    }
}

/// What [`NodeArgs::start`] made.
struct Started {
    decoder: Arc<Decoder>,
    scheduler: Arc<Scheduler>,
    indexer: Arc<Indexer>,
}

impl ServeArgs {
    fn settings(&self) -> anyhow::Result<ConfigFile> {
        let mut file = self.node.settings()?;
        file.api
            .api_keys
            .extend(self.api_keys.iter().filter(|k| !k.is_empty()).cloned());
        if file.api.web_dir.is_none() {
            let web = self.web.clone().unwrap_or_else(|| shipped("web"));
            file.api.web_dir = web.is_dir().then_some(web);
        }
        if file.api.hls_cache_dir.is_none() {
            file.api.hls_cache_dir = Some(self.node.data.join("hls"));
        }
        if let Some(url) = &self.advertise {
            file.api.advertise = Some(url.clone());
        }
        if file.api.api_keys.is_empty() && !self.bind.ip().is_loopback() && !self.insecure_no_auth {
            bail!(
                "refusing to serve on {} without an API key: give --api-key (or PIGWEIGHT_API_KEYS), \
                 bind to 127.0.0.1, or pass --insecure-no-auth",
                self.bind
            );
        }
        Ok(file)
    }
}

/// The address other processes reach this one at when none is given: the bind address, with
/// this machine's host name in place of a wildcard.
fn advertised(bind: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    if bind.ip().is_unspecified() {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        format!("{scheme}://{host}:{}", bind.port())
    } else {
        format!("{scheme}://{bind}")
    }
}

/// Runs a worker until Ctrl-C or SIGTERM: it takes indexing jobs from the database, and hands
/// back the ones it holds when it stops.
pub(crate) fn run_worker(args: WorkerArgs) -> anyhow::Result<()> {
    let settings = args.node.settings()?;
    if !matches!(args.node.database(&settings)?, Database::Postgres(_)) {
        bail!(
            "pigweight worker takes its jobs from a shared database: give --database postgres://... \
             (docs/cluster.md); on SQLite, serve indexes by itself"
        );
    }
    let Started { indexer, .. } = args.node.start(&settings, true)?;
    tracing::info!(folders = ?args.node.videos, "worker started");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(shutdown_signal());
    tracing::info!("worker stopping");
    drop(indexer);
    Ok(())
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut settings = args.settings()?;
    // Bound first, so the address other processes reach this one at has the real port.
    let listener =
        std::net::TcpListener::bind(args.bind).with_context(|| format!("binding {}", args.bind))?;
    listener.set_nonblocking(true)?;
    if settings.api.advertise.is_none() {
        settings.api.advertise = Some(advertised(listener.local_addr()?, args.tls_cert.is_some()));
    }
    tracing::info!(advertise = ?settings.api.advertise, "other instances reach this one at");
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::config(cert, key)?),
        _ => None,
    };
    let rescan_s = settings.api.rescan_s;
    let Started {
        decoder,
        scheduler,
        indexer,
    } = args.node.start(&settings, args.indexing == Switch::On)?;
    let library = Arc::new(Library::new(args.node.folders()?));
    // In a cluster, the roots another process walks are listed from the database instead.
    let lease = Duration::from_secs_f64(settings.indexer.lease_s.clamp(1.0, 86_400.0));
    let mut scans = Scans::claim(
        indexer.database(),
        &library,
        indexer.roots(),
        indexer.owner(),
        lease,
    )?;
    let found = library.rescan().changed;
    tracing::info!(videos = found.len(), folders = ?args.node.videos, "library scanned");
    let app = Arc::new(App::new(
        settings.api,
        Arc::clone(&library),
        decoder,
        Arc::clone(&indexer),
        scheduler,
    )?);
    for entry in found {
        app.apply(&Change::Changed(entry));
    }
    scans.follow(Arc::downgrade(&app))?;
    // Videos another process of the cluster queued (an upload there; shared storage often
    // tells no watcher): listed here too. Ends with the indexer (it holds the app weakly, so
    // the indexer is dropped, and hands back its jobs, when the server stops).
    {
        let (app, library) = (Arc::downgrade(&app), Arc::clone(&library));
        let mut found = indexer.discoveries();
        std::thread::Builder::new()
            .name("library-cluster".into())
            .spawn(move || {
                loop {
                    let path = match found.blocking_recv() {
                        Ok(path) => path,
                        // Missed ones are listed by the next scan.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    };
                    let Some(app) = app.upgrade() else { break };
                    match library.adopt(&path) {
                        Ok((entry, true)) => {
                            tracing::info!(video = %entry.name, "video found by another process of the cluster");
                            app.apply(&Change::Changed(entry));
                        }
                        Ok(_) => {}
                        Err(e) => tracing::debug!(path = %path.display(), error = %e, "not listed"),
                    }
                }
            })
            .context("starting the library's cluster thread")?;
    }
    // Dropped after the server stops: the folder watch ends before the indexer it feeds.
    let every = (rescan_s > 0).then(|| Duration::from_secs(rescan_s));
    let _watcher = {
        let app = Arc::clone(&app);
        library
            .watch(every, move |change| app.apply(&change))
            .context("watching the video folders")?
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tracing::info!(address = %listener.local_addr()?, "listening");
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            // Little unsent data may wait in the kernel per connection, so a client that reads
            // slowly holds up its own writes at once: live streams then skip frames and lower
            // its quality, instead of filling megabytes of socket buffer with stale frames.
            if let Err(e) = socket2::SockRef::from(&*tcp).set_tcp_notsent_lowat(UNSENT_LIMIT) {
                tracing::debug!(error = %e, "TCP_NOTSENT_LOWAT not set");
            }
        });
        let router = pigweight_api::router(AppState(app));
        match tls {
            Some(config) => {
                tracing::info!("serving HTTPS");
                let listener = crate::tls::TlsListener::new(listener, config)?;
                axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown_signal())
                    .await?;
            }
            None => {
                axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown_signal())
                    .await?
            }
        }
        tracing::info!("stopped serving; in-flight requests finished");
        Ok(())
    })
}

/// Bytes of unsent data the kernel holds per connection (`TCP_NOTSENT_LOWAT`).
const UNSENT_LIMIT: u32 = 128 * 1024;

/// Ctrl-C or SIGTERM (what service managers send).
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_is_set_from_the_toml_file_and_a_typo_is_refused() {
        let file: ConfigFile = toml::from_str(
            "memory_budget_mb = 2048\n[scheduler]\nmax_batch = 4\nmax_wait_ms = 2\n[indexer]\ninterval = 2.0\n",
        )
        .unwrap();
        assert_eq!((file.scheduler.max_batch, file.scheduler.max_wait_ms), (4, 2));
        assert_eq!(
            file.scheduler.interactive_capacity,
            SchedulerConfig::default().interactive_capacity
        );
        assert_eq!((file.memory_budget_mb, file.indexer.interval), (2048, 2.0));
        assert!(toml::from_str::<ConfigFile>("[scheduler]\nmax_bacth = 4\n").is_err());
    }

    /// An interval of no seconds (or fewer, or not a number) is refused with what is wrong,
    /// from the flag (and its variable) as from the file.
    #[test]
    fn an_interval_that_is_not_a_time_is_refused() {
        #[derive(Debug, clap::Parser)]
        struct Node {
            #[command(flatten)]
            node: NodeArgs,
        }
        use clap::Parser;
        for bad in ["0", "-1", "nan", "inf", "soon"] {
            let err = Node::try_parse_from(["serve", &format!("--interval={bad}")]).unwrap_err();
            assert!(
                err.to_string().contains("is not a number of seconds above 0"),
                "{err}"
            );
        }
        let given = Node::try_parse_from(["serve", "--interval", "2.5"]).unwrap();
        assert_eq!(given.node.settings().unwrap().indexer.interval, 2.5);
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("pigweight.toml");
        std::fs::write(&config, "[indexer]\ninterval = 0.0\n").unwrap();
        let from_file = Node::try_parse_from(["serve", "--config", config.to_str().unwrap()]).unwrap();
        let err = from_file.node.settings().unwrap_err().to_string();
        assert_eq!(err, "indexer.interval must be a number of seconds above 0, got 0");
    }

    #[test]
    fn the_database_comes_from_the_flag_else_the_file_else_the_data_folder() {
        let file: ConfigFile = toml::from_str(
            "[database]\nurl = \"postgres://pw@db:5432/pigs\"\nmax_connections = 9\nstatement_timeout_ms = 1500\n",
        )
        .unwrap();
        let data = Path::new("data");
        let Database::Postgres(pg) = file.database.database(None, data).unwrap() else {
            panic!("not PostgreSQL");
        };
        assert_eq!(
            (pg.max_connections, pg.statement_timeout),
            (9, Duration::from_millis(1500))
        );
        assert_eq!(pg.connect_timeout, Duration::from_secs(5));
        let flag: Database = "sqlite:/tmp/x.db".parse().unwrap();
        assert_eq!(file.database.database(Some(&flag), data).unwrap(), flag);
        assert_eq!(
            DatabaseSettings::default().database(None, data).unwrap(),
            Database::Sqlite("data/index.db".into())
        );
        let bad: ConfigFile = toml::from_str("[database]\nurl = \"mysql://x\"\n").unwrap();
        assert!(
            bad.database
                .database(None, data)
                .unwrap_err()
                .to_string()
                .contains("[database] url")
        );
    }
}
