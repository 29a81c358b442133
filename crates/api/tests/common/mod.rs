//! The API in-process: `router()` over a real `App` whose videos are fake (the decode crate's
//! `FakeOpener`: a small JSON file per video, frames known exactly) and whose model is fake (the
//! inference crate's `FakeDetector`: as many animals as a frame's first byte says). The
//! library, the indexer with its SQLite file, the scheduler and the caches are the real ones.
//! Requests go through `tower::ServiceExt::oneshot`: no port, no GStreamer, no ONNX Runtime.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use pigweight_api::{ApiConfig, App, AppState, Change, Library, router, video_id};
use pigweight_decode::fake::{FakeOpener, FakeVideo};
use pigweight_decode::{Decoder, DecoderConfig, MemoryBudget};
use pigweight_indexer::{Database, IndexKey, Indexer, IndexerConfig};
use pigweight_inference::fake::{FakeDetector, Outage};
use pigweight_inference::{Detector as _, Scheduler, SchedulerConfig, SmallObjectInput};
use tower::ServiceExt as _;

/// One app over a temporary folder of fake videos.
pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub state: AppState,
    pub opener: Arc<FakeOpener>,
    /// Images the fake model has seen.
    pub inferred: Arc<AtomicU64>,
    /// Images the fake model was asked to run at an input of their own.
    pub own_inputs: Arc<AtomicU64>,
    /// Takes the fake model's backend away and brings it back.
    pub outage: Outage,
    router: Router,
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    /// The JSON error's text, after checking the status and that the body is our error.
    pub fn error(&self, status: u16) -> String {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(
            self.header("content-type").starts_with("application/json"),
            "{:?}",
            self.headers
        );
        self.json()["error"].as_str().unwrap().to_owned()
    }
}

/// 100 frames at 25 fps (4 s), 64x48, a keyframe every 25; 2 animals, then 3 from frame 40,
/// then 1 from frame 75.
pub fn pen() -> FakeVideo {
    FakeVideo::constant(64, 48, 25, 100, 25, vec![(0, 2), (40, 3), (75, 1)])
}

impl TestApp {
    /// `videos` (name, fake video) in the library folder, indexed from the start.
    pub fn new(videos: &[(&str, FakeVideo)]) -> Self {
        Self::with_config(ApiConfig::default(), videos)
    }

    pub fn with_config(config: ApiConfig, videos: &[(&str, FakeVideo)]) -> Self {
        Self::build(config, videos, None, None, true)
    }

    /// Like [`Self::new`], with the model's backend away from the start (`reason`).
    pub fn backend_away(reason: &str, videos: &[(&str, FakeVideo)]) -> Self {
        Self::build(ApiConfig::default(), videos, Some(reason), None, true)
    }

    /// Like [`Self::with_config`], with a model that has a larger input for videos of small
    /// animals; without `indexing`, nothing indexes the videos (an API node of a cluster whose
    /// workers have not come to them yet).
    pub fn with_small_objects(
        config: ApiConfig,
        rule: SmallObjectInput,
        indexing: bool,
        videos: &[(&str, FakeVideo)],
    ) -> Self {
        Self::build(config, videos, None, Some(rule), indexing)
    }

    fn build(
        config: ApiConfig,
        videos: &[(&str, FakeVideo)],
        away: Option<&str>,
        small_objects: Option<SmallObjectInput>,
        indexing: bool,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("videos");
        std::fs::create_dir_all(&folder).unwrap();
        for (name, video) in videos {
            let path = folder.join(name);
            video.write(&path).unwrap();
            settle(&path);
        }
        let opener = Arc::new(FakeOpener::default());
        let budget = MemoryBudget::new(512 << 20);
        let decoder = Decoder::with_opener(DecoderConfig::default(), budget, Arc::clone(&opener) as _);
        let mut detector = FakeDetector::new("fake-pig-model", 8);
        if let Some(rule) = small_objects {
            detector = detector.with_small_objects(rule);
        }
        let inferred = detector.images_seen();
        let own_inputs = detector.own_inputs_seen();
        let outage = detector.outage();
        if let Some(reason) = away {
            outage.begin(reason);
        }
        let indexer_config = IndexerConfig::default();
        let key = IndexKey::new(detector.info(), indexer_config.interval);
        let scheduler = Arc::new(Scheduler::start(Box::new(detector), SchedulerConfig::default()).unwrap());
        let indexer = Arc::new(
            Indexer::start(
                &Database::Sqlite(dir.path().join("index.db")),
                Arc::clone(&scheduler),
                key,
                indexer_config,
                &decoder,
                pigweight_indexer::Node {
                    indexing,
                    ..pigweight_indexer::Node::default()
                },
            )
            .unwrap(),
        );
        let library = Arc::new(Library::new(vec![pigweight_indexer::Root::plain(folder)]));
        let found = library.rescan().changed;
        let app = Arc::new(App::new(config, library, decoder, indexer, scheduler).unwrap());
        for entry in found {
            app.apply(&Change::Changed(entry));
        }
        let state = AppState(app);
        Self {
            router: router(state.clone()),
            dir,
            state,
            opener,
            inferred,
            own_inputs,
            outage,
        }
    }

    /// The id the library gives `name`.
    pub fn id(name: &str) -> String {
        video_id(name)
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    /// Serves the same router on a loopback port of this process, for clients that need a real
    /// connection (WebSockets); the server lives as long as the test's runtime.
    pub async fn serve(&self) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    }

    /// GET whose body is left to be read as it comes (a stream).
    pub async fn open(&self, uri: &str) -> axum::response::Response {
        let request = Request::get(uri).body(Body::empty()).unwrap();
        self.router.clone().oneshot(request).await.unwrap()
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.send(Request::get(uri).body(Body::empty()).unwrap()).await
    }

    /// GET with headers.
    pub async fn get_with(&self, uri: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = Request::get(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    pub async fn call(&self, method: Method, uri: &str, content_type: &str, body: impl Into<Body>) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", content_type)
            .body(body.into())
            .unwrap();
        self.send(request).await
    }

    pub async fn delete(&self, uri: &str) -> Reply {
        self.send(Request::delete(uri).body(Body::empty()).unwrap()).await
    }

    /// GETs `uri` (JSON) until `ready` holds for the answer, which it returns; fails the test
    /// after 20 s.
    pub async fn poll(&self, uri: &str, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = self.get(uri).await.json();
            if ready(&answer) {
                return answer;
            }
            assert!(Instant::now() < deadline, "{uri}: not ready in time: {answer}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the video's index is done.
    pub async fn indexed(&self, id: &str) {
        let status = self
            .poll(&format!("/api/videos/{id}/index"), |s| {
                s["state"] == "done" || s["state"] == "failed"
            })
            .await;
        assert_eq!(status["state"], "done", "{status}");
    }
}

/// Dates a file back, so the library takes it as settled (not being copied in).
fn settle(path: &Path) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}
