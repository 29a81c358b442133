//! NVIDIA Triton Inference Server (KServe v2, the Open Inference Protocol) as a detector
//! backend beside in-process ONNX Runtime.
//!
//! Frames are letterboxed here exactly as for the in-process model and go out as one tensor
//! per batch over HTTP with the binary tensor extension (no JSON arrays of numbers): `uint8`
//! pixels when the served model scales them itself (what `pigweight triton-repo` writes, a
//! quarter of the bytes), else float32. The output comes back as binary float32 and is decoded
//! here with the same code as the in-process model's, so counts, boxes and bands are the same.
//!
//! A server that is away is not an error once the model is known: the detector says so
//! through its [`Health`], fails batches at once with [`InferenceError::Unavailable`] (the
//! indexer waits and retries, a request gets 503), and a probe thread reconnects with backoff,
//! checking the served model against ours again every time it comes back.

mod repository;

pub use repository::{Accelerator, InstanceKind, RepositoryBackend, RepositoryOptions, write_repository};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use ndarray::{Array4, ArrayViewD, IxDyn};
use serde::Deserialize;
use serde_json::json;

use crate::band::Detections;
use crate::error::InferenceError;
use crate::letterbox::Preprocessor;
use crate::model::{
    Detector, Health, Image, Metadata, ModelConfig, ModelInfo, Priority, Signature, TensorSpec, Timings,
    candidates, describe, fill_batch, read_output,
};
use crate::onnx_file::ModelFile;
use crate::postprocess::Thresholds;

/// The model config parameter `pigweight triton-repo` writes the model file's BLAKE3 into, so a
/// client can tell which model a server runs (and refuse another).
pub const HASH_PARAMETER: &str = "pigweight_model_hash";

/// How to reach a model on a Triton server.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TritonConfig {
    /// The server's HTTP endpoint, e.g. `http://127.0.0.1:8000`.
    pub url: String,
    /// The model's name in the server's repository; default: the local model file's name
    /// without `.onnx` (the name `pigweight triton-repo` gives it).
    pub model: Option<String>,
    /// Longest wait for one batch's answer, in milliseconds.
    pub timeout_ms: u64,
    /// Longest wait to connect, in milliseconds.
    pub connect_timeout_ms: u64,
}

impl Default for TritonConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            model: None,
            timeout_ms: 30_000,
            connect_timeout_ms: 2_000,
        }
    }
}

/// Why a call to the server did not give what was asked.
#[derive(Debug, Clone)]
enum Failure {
    /// The server is away, not ready, or lost the model: worth trying again.
    Away(String),
    /// The server answered, and what it serves is not what we send: a configuration error.
    Refused(String),
}

impl Failure {
    fn reason(&self) -> &str {
        match self {
            Self::Away(r) | Self::Refused(r) => r,
        }
    }
}

/// A model's metadata (`GET /v2/models/{name}`).
#[derive(Debug, Deserialize)]
struct WireModel {
    inputs: Vec<WireTensor>,
    outputs: Vec<WireTensor>,
}

#[derive(Debug, Deserialize)]
struct WireTensor {
    name: String,
    datatype: String,
    shape: Vec<i64>,
}

/// The parts of a model's config (`GET /v2/models/{name}/config`) we read.
#[derive(Debug, Default, Deserialize)]
struct WireConfig {
    #[serde(default)]
    max_batch_size: i64,
    #[serde(default)]
    parameters: HashMap<String, WireParameter>,
    #[serde(default)]
    dynamic_batching: Option<WireBatching>,
}

#[derive(Debug, Deserialize)]
struct WireParameter {
    #[serde(default)]
    string_value: String,
}

#[derive(Debug, Deserialize)]
struct WireBatching {
    #[serde(default)]
    priority_levels: u64,
}

#[derive(Debug, Deserialize)]
struct WireResponse {
    outputs: Vec<WireOutput>,
}

#[derive(Debug, Deserialize)]
struct WireOutput {
    name: String,
    datatype: String,
    shape: Vec<usize>,
    #[serde(default)]
    parameters: WireOutputParameters,
}

#[derive(Debug, Default, Deserialize)]
struct WireOutputParameters {
    binary_data_size: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct WireError {
    error: String,
}

/// What the server serves, checked against what we send.
#[derive(Debug, Clone)]
struct Served {
    input: String,
    /// Whether the input takes `uint8` pixels (else float32 in 0..1).
    bytes: bool,
    output: String,
    max_batch: usize,
    /// The model config's `priority_levels` (0: none).
    priority_levels: u64,
    signature: Signature,
    hash: Option<String>,
}

/// The HTTP side: one pooled agent for the server's endpoint and model.
#[derive(Debug)]
struct Client {
    agent: ureq::Agent,
    base: String,
    model: String,
}

impl Client {
    fn new(config: &TritonConfig, model: String) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_millis(config.timeout_ms.max(1))))
            .timeout_connect(Some(Duration::from_millis(config.connect_timeout_ms.max(1))))
            .max_idle_connections_per_host(4)
            .build()
            .new_agent();
        Self {
            agent,
            base: config.url.trim_end_matches('/').to_owned(),
            model,
        }
    }

    fn away(&self, e: impl std::fmt::Display) -> Failure {
        Failure::Away(format!("Triton at {}: {e}", self.base))
    }

    /// GETs `path`: the body of a 200, else the status and the server's message.
    fn get(&self, path: &str) -> Result<Result<Vec<u8>, (u16, String)>, Failure> {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.base))
            .call()
            .map_err(|e| self.away(e))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_vec()
            .map_err(|e| self.away(e))?;
        Ok(if status == 200 {
            Ok(body)
        } else {
            Err((status, message_of(&body)))
        })
    }

    fn json<T: serde::de::DeserializeOwned>(&self, path: &str, body: &[u8]) -> Result<T, Failure> {
        serde_json::from_slice(body).map_err(|e| {
            Failure::Refused(format!(
                "Triton at {} answered {path} with unreadable JSON: {e}",
                self.base
            ))
        })
    }

    /// The models in the server's repository, for an error message.
    fn models(&self) -> Vec<String> {
        let Ok(mut response) = self
            .agent
            .post(format!("{}/v2/repository/index", self.base))
            .send_empty()
        else {
            return Vec::new();
        };
        let entries: Vec<serde_json::Value> = response.body_mut().read_json().unwrap_or_default();
        entries
            .iter()
            .filter_map(|e| e.get("name")?.as_str().map(str::to_owned))
            .collect()
    }

    /// Whether the server says it is ready.
    fn ready(&self) -> Result<(), Failure> {
        self.get("/v2/health/ready")?
            .map(drop)
            .map_err(|(status, message)| self.away(format!("not ready ({status} {message})")))
    }

    /// Checks the server and its model, and reads what the model takes and gives.
    fn served(&self) -> Result<Served, Failure> {
        self.ready()?;
        let model_path = format!("/v2/models/{}", self.model);
        let metadata = match self.get(&model_path)? {
            Ok(body) => self.json::<WireModel>(&model_path, &body)?,
            Err((_, message)) => {
                let models = self.models();
                return Err(Failure::Refused(format!(
                    "Triton at {} has no model {:?} ready ({message}); it has {models:?}",
                    self.base, self.model
                )));
            }
        };
        let config_path = format!("{model_path}/config");
        let config = match self.get(&config_path)? {
            Ok(body) => self.json::<WireConfig>(&config_path, &body)?,
            Err((status, message)) => return Err(self.away(format!("{config_path}: {status} {message}"))),
        };
        let refuse = |what: String| {
            Failure::Refused(format!("Triton at {} model {:?}: {what}", self.base, self.model))
        };
        if config.max_batch_size < 1 {
            return Err(refuse(format!(
                "max_batch_size is {}; pigweight sends batches (its repository command writes 8)",
                config.max_batch_size
            )));
        }
        let [input] = &metadata.inputs[..] else {
            return Err(refuse(format!(
                "it takes {} inputs; pigweight sends one, [N, 3, H, W] pixels",
                metadata.inputs.len()
            )));
        };
        let bytes = match input.datatype.as_str() {
            "UINT8" => true,
            "FP32" => false,
            other => {
                return Err(refuse(format!(
                    "input {:?} is {other}; pigweight sends UINT8 (or FP32) pixels",
                    input.name
                )));
            }
        };
        if input.shape.len() != 4 || !matches!(input.shape[1], 3 | -1) {
            return Err(refuse(format!(
                "input {:?} has shape {:?} (batch first); pigweight sends [N, 3, H, W]",
                input.name, input.shape
            )));
        }
        let Some(output) = metadata.outputs.first() else {
            return Err(refuse("it has no output".into()));
        };
        if output.datatype != "FP32" || output.shape.len() != 3 {
            return Err(refuse(format!(
                "output {:?} is {} {:?}; pigweight reads FP32 [N, C, anchors] (YOLO)",
                output.name, output.datatype, output.shape
            )));
        }
        let parameters: HashMap<String, String> = config
            .parameters
            .into_iter()
            .map(|(k, v)| (k, v.string_value))
            .collect();
        let spec = |t: &WireTensor| TensorSpec {
            name: t.name.clone(),
            shape: t.shape.iter().map(|&d| if d > 0 { d } else { -1 }).collect(),
        };
        Ok(Served {
            input: input.name.clone(),
            bytes,
            output: output.name.clone(),
            max_batch: config.max_batch_size as usize,
            priority_levels: config.dynamic_batching.map_or(0, |b| b.priority_levels),
            signature: Signature {
                // The batch axis is the server's to fill, whatever its limit.
                input: TensorSpec {
                    shape: [-1]
                        .into_iter()
                        .chain(spec(input).shape.into_iter().skip(1))
                        .collect(),
                    ..spec(input)
                },
                output: spec(output),
                meta: Metadata::parse(&|key| parameters.get(key).cloned()),
            },
            hash: parameters.get(HASH_PARAMETER).cloned(),
        })
    }

    /// Runs one batch: the request's JSON header and binary tensor in, the output tensor out.
    fn infer(
        &self,
        body: Vec<u8>,
        header_len: usize,
        output: &str,
    ) -> Result<(Vec<usize>, Vec<f32>, usize), Failure> {
        let mut response = self
            .agent
            .post(format!("{}/v2/models/{}/infer", self.base, self.model))
            .header("Inference-Header-Content-Length", header_len.to_string())
            .content_type("application/octet-stream")
            .send(&body[..])
            .map_err(|e| self.away(e))?;
        let status = response.status().as_u16();
        let json_len = response
            .headers()
            .get("inference-header-content-length")
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let reply = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .map_err(|e| self.away(e))?;
        if status != 200 {
            let message = message_of(&reply);
            // Unknown or unready models, and a server shutting down, come back after a restart.
            let gone = status >= 500
                || ["unknown model", "not ready", "not found", "unavailable"]
                    .iter()
                    .any(|m| message.to_lowercase().contains(m));
            let what = format!("Triton at {} refused a batch ({status}): {message}", self.base);
            return Err(if gone {
                Failure::Away(what)
            } else {
                Failure::Refused(what)
            });
        }
        let bad = |what: &str| Failure::Refused(format!("Triton at {} answered {what}", self.base));
        let json_len = json_len.unwrap_or(reply.len()).min(reply.len());
        let header: WireResponse = serde_json::from_slice(&reply[..json_len])
            .map_err(|e| bad(&format!("an unreadable header: {e}")))?;
        let mut at = json_len;
        for out in header.outputs {
            let size = out
                .parameters
                .binary_data_size
                .ok_or_else(|| bad("with a JSON output, not binary"))?;
            let data = reply.get(at..at + size).ok_or_else(|| bad("with a short body"))?;
            at += size;
            if out.name != output {
                continue;
            }
            let values = out.shape.iter().product::<usize>();
            if out.datatype != "FP32" || data.len() != values * 4 {
                return Err(bad(&format!(
                    "{} {:?} in {} bytes for {output:?}",
                    out.datatype,
                    out.shape,
                    data.len()
                )));
            }
            let floats = data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            return Ok((out.shape, floats, body.len() + reply.len()));
        }
        Err(bad(&format!("without output {output:?}")))
    }
}

/// The `error` of a Triton error body, else the body as text.
fn message_of(body: &[u8]) -> String {
    serde_json::from_slice::<WireError>(body)
        .map(|e| e.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).chars().take(300).collect())
}

/// Whether a local signature and a served one can be the same model: inputs and outputs agree
/// wherever both fix an axis (the batch axis aside).
fn mismatch(local: &Signature, served: &Signature) -> Option<String> {
    let differs = |a: &[i64], b: &[i64]| {
        a.len() != b.len() || a.iter().zip(b).skip(1).any(|(&x, &y)| x > 0 && y > 0 && x != y)
    };
    if differs(&local.input.shape, &served.input.shape) {
        return Some(format!(
            "the served input is {:?}, the local model's {:?}",
            served.input.shape, local.input.shape
        ));
    }
    if differs(&local.output.shape, &served.output.shape) {
        return Some(format!(
            "the served output is {:?}, the local model's {:?}",
            served.output.shape, local.output.shape
        ));
    }
    None
}

/// What the detector and its probe share: the served model while the server is up, and the
/// health others read.
#[derive(Debug)]
struct Link {
    served: Mutex<Option<Served>>,
    health: Health,
}

impl Link {
    fn served(&self) -> Result<Served, InferenceError> {
        let served = self.served.lock().unwrap_or_else(PoisonError::into_inner).clone();
        served.ok_or_else(|| InferenceError::Unavailable(self.health.ready().err().unwrap_or_default()))
    }

    fn up(&self, served: Served) {
        *self.served.lock().unwrap_or_else(PoisonError::into_inner) = Some(served);
        self.health.set(Ok(()));
    }

    /// Marks the server lost; true when it was up until now.
    fn down(&self, reason: &str) -> bool {
        let was_up = self
            .served
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .is_some();
        self.health.set(Err(reason.to_owned()));
        was_up
    }
}

/// What a served model must be: the local model file's signature and hash, when there is one.
#[derive(Debug, Clone)]
struct Expected {
    signature: Signature,
    hash: String,
}

/// Checks what the server serves against what we expect of it.
fn check(client: &Client, expected: Option<&Expected>) -> Result<Served, Failure> {
    let served = client.served()?;
    if let Some(expected) = expected {
        if let Some(hash) = served.hash.as_deref().filter(|h| *h != expected.hash) {
            return Err(Failure::Refused(format!(
                "Triton at {} model {:?} serves the model file of hash {hash}, not the local one ({})",
                client.base, client.model, expected.hash
            )));
        }
        if let Some(why) = mismatch(&expected.signature, &served.signature) {
            return Err(Failure::Refused(format!(
                "Triton at {} model {:?} is not the local model: {why}",
                client.base, client.model
            )));
        }
    }
    Ok(served)
}

/// Reconnection backoff, and how often a live server's health is checked.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MOST: Duration = Duration::from_secs(5);
const HEALTH_EVERY: Duration = Duration::from_secs(5);

/// The probe thread: while the server is away, checks it again with backoff; while it is up,
/// checks its health now and then. Ends when the detector is dropped.
fn probe(client: &Client, expected: Option<&Expected>, link: &Link, wake: &mpsc::Receiver<()>) {
    let mut backoff = RETRY_FIRST;
    loop {
        let up = link
            .served
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        match wake.recv_timeout(if up { HEALTH_EVERY } else { backoff }) {
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let up = link
            .served
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        if up {
            if let Err(e) = client.ready()
                && link.down(e.reason())
            {
                tracing::warn!(reason = e.reason(), "Triton lost; reconnecting");
            }
            backoff = RETRY_FIRST;
            continue;
        }
        match check(client, expected) {
            Ok(served) => {
                tracing::info!(url = %client.base, model = %client.model, "Triton ready");
                link.up(served);
                backoff = RETRY_FIRST;
            }
            Err(e) => {
                let before = link.health.ready().err();
                link.down(e.reason());
                if before.as_deref() != Some(e.reason()) {
                    tracing::warn!(reason = e.reason(), "Triton not usable; retrying");
                }
                backoff = (backoff * 2).min(RETRY_MOST);
            }
        }
    }
}

/// A YOLO model served by Triton.
#[derive(Debug)]
pub struct TritonDetector {
    client: Arc<Client>,
    link: Arc<Link>,
    /// Wakes the probe; dropping it ends the probe thread.
    wake: mpsc::Sender<()>,
    info: ModelInfo,
    candidates: Thresholds,
    pre: Preprocessor,
    bytes: Array4<u8>,
    floats: Array4<f32>,
    body: Vec<u8>,
    timings: Timings,
    /// Bytes of the latest batch's request and response bodies.
    wire_bytes: usize,
}

impl TritonDetector {
    /// Connects to `triton` for the model `model.path` describes; with `require_server` false
    /// a server that is away is retried in the background (the model file gives what the model
    /// is), else it is an error. Without a model file (an empty `model.path`) the served model
    /// describes itself through the parameters `triton-repo` writes, so the server must be up.
    /// A server that answers and serves something else than we send is always an error.
    pub fn connect(
        triton: &TritonConfig,
        model: &ModelConfig,
        require_server: bool,
    ) -> Result<Self, InferenceError> {
        let local = (!model.path.as_os_str().is_empty())
            .then(|| ModelFile::read(&model.path))
            .transpose()?;
        let name = triton
            .model
            .clone()
            .or_else(|| {
                local
                    .as_ref()
                    .and_then(|f| Some(f.path().file_stem()?.to_string_lossy().into_owned()))
            })
            .ok_or_else(|| {
                InferenceError::UnsupportedModel(
                    "name the Triton model (--triton-model) or give its file (--model)".into(),
                )
            })?;
        let client = Arc::new(Client::new(triton, name));
        let expected = local
            .as_ref()
            .map(|f| -> Result<Expected, InferenceError> {
                Ok(Expected {
                    signature: f.signature()?,
                    hash: f.hash().to_owned(),
                })
            })
            .transpose()?;
        let first = check(&client, expected.as_ref());
        let device = format!("triton:{}/{}", client.base, client.model);
        let (signature, hash, path) = match (&first, &expected, &local) {
            (Err(Failure::Refused(reason)), _, _) => {
                return Err(InferenceError::UnsupportedModel(reason.clone()));
            }
            (Err(Failure::Away(reason)), _, _) if require_server || expected.is_none() => {
                return Err(InferenceError::Unavailable(reason.clone()));
            }
            (_, Some(expected), Some(file)) => (
                expected.signature.clone(),
                expected.hash.clone(),
                file.path().to_owned(),
            ),
            (Ok(served), _, _) => {
                let hash = served.hash.clone().ok_or_else(|| {
                    InferenceError::UnsupportedModel(format!(
                        "Triton model {:?} does not say which model file it is (no {HASH_PARAMETER} \
                         parameter): give the file with --model",
                        client.model
                    ))
                })?;
                (served.signature.clone(), hash, PathBuf::from(&device))
            }
            (Err(Failure::Away(reason)), _, _) => return Err(InferenceError::Unavailable(reason.clone())),
        };
        let info = ModelInfo {
            // The server splits nothing: batches larger than its limit go out in parts.
            max_batch: None,
            ..describe(hash, &path, &signature, model, device)?
        };
        let link = Arc::new(Link {
            served: Mutex::new(None),
            health: Health::default(),
        });
        match first {
            Ok(served) => link.up(served),
            Err(e) => {
                tracing::warn!(
                    reason = e.reason(),
                    "Triton not reachable yet; retrying in the background"
                );
                link.down(e.reason());
            }
        }
        let (wake, woken) = mpsc::channel();
        {
            let (client, link) = (Arc::clone(&client), Arc::clone(&link));
            std::thread::Builder::new()
                .name("triton-probe".into())
                .spawn(move || probe(&client, expected.as_ref(), &link, &woken))
                .map_err(|e| InferenceError::Run(format!("cannot start the Triton probe: {e}")))?;
        }
        tracing::info!(
            url = %client.base,
            model = %client.model,
            input = ?info.input_size,
            ready = link.health.ready().is_ok(),
            "Triton model"
        );
        Ok(Self {
            candidates: candidates(&info.thresholds, &info.band),
            client,
            link,
            wake,
            info,
            pre: Preprocessor::default(),
            bytes: Array4::zeros((0, 3, 0, 0)),
            floats: Array4::zeros((0, 3, 0, 0)),
            body: Vec::new(),
            timings: Timings::default(),
            wire_bytes: 0,
        })
    }

    /// Where the time of the latest batch went (`run` is the round trip to the server).
    pub fn last_timings(&self) -> Timings {
        self.timings
    }

    /// Bytes of the latest batch's request and response bodies.
    pub fn last_wire_bytes(&self) -> usize {
        self.wire_bytes
    }

    /// One request of at most the server's batch limit.
    fn run(
        &mut self,
        images: &[Image<'_>],
        served: &Served,
        priority: Priority,
    ) -> Result<Vec<Detections>, InferenceError> {
        let started = Instant::now();
        let (boxes, shape, data): (_, _, &[u8]) = if served.bytes {
            let boxes = fill_batch(&self.info, &mut self.pre, &mut self.bytes, images, None)?;
            let data = self
                .bytes
                .as_slice()
                .ok_or_else(|| InferenceError::Shape("a strided input".into()))?;
            (boxes, self.bytes.dim(), data)
        } else {
            let boxes = fill_batch(&self.info, &mut self.pre, &mut self.floats, images, None)?;
            let data = self
                .floats
                .as_slice()
                .ok_or_else(|| InferenceError::Shape("a strided input".into()))?;
            (boxes, self.floats.dim(), bytemuck::cast_slice(data))
        };
        let mut parameters = serde_json::Map::new();
        if served.priority_levels >= 2 {
            // 1 is the most urgent; the lowest level is the config's count.
            let level = match priority {
                Priority::Interactive => 1,
                Priority::Background => served.priority_levels,
            };
            parameters.insert("priority".into(), level.into());
        }
        let header = json!({
            "inputs": [{
                "name": served.input,
                "shape": [shape.0, shape.1, shape.2, shape.3],
                "datatype": if served.bytes { "UINT8" } else { "FP32" },
                "parameters": {"binary_data_size": data.len()},
            }],
            "outputs": [{"name": served.output, "parameters": {"binary_data": true}}],
            "parameters": parameters,
        })
        .to_string();
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        body.extend_from_slice(header.as_bytes());
        body.extend_from_slice(data);
        let preprocessed = Instant::now();
        let answer = self.client.infer(body, header.len(), &served.output);
        let ran = Instant::now();
        let (out_shape, values, wire) = match answer {
            Ok(answer) => answer,
            Err(Failure::Away(reason)) => {
                if self.link.down(&reason) {
                    tracing::warn!(reason, "Triton lost; reconnecting");
                }
                let _ = self.wake.send(());
                return Err(InferenceError::Unavailable(reason));
            }
            Err(Failure::Refused(reason)) => return Err(InferenceError::Run(reason)),
        };
        let output = ArrayViewD::from_shape(IxDyn(&out_shape), &values)
            .map_err(|e| InferenceError::Shape(format!("Triton's output {out_shape:?}: {e}")))?;
        let detections = read_output(&self.info, &self.candidates, output, &boxes, images)?;
        self.timings = Timings {
            images: images.len(),
            input: (shape.3 as u32, shape.2 as u32),
            preprocess: preprocessed - started,
            run: ran - preprocessed,
            postprocess: ran.elapsed(),
        };
        self.wire_bytes = wire;
        Ok(detections)
    }
}

impl Detector for TritonDetector {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn detect(&mut self, images: &[Image<'_>]) -> Result<Vec<Detections>, InferenceError> {
        self.detect_at(images, Priority::Background)
    }

    fn detect_at(
        &mut self,
        images: &[Image<'_>],
        priority: Priority,
    ) -> Result<Vec<Detections>, InferenceError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let served = self.link.served()?;
        let mut detections = Vec::with_capacity(images.len());
        for part in images.chunks(served.max_batch.max(1)) {
            detections.extend(self.run(part, &served, priority)?);
        }
        Ok(detections)
    }

    fn health(&self) -> Health {
        self.link.health.clone()
    }
}
