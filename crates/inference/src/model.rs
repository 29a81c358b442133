//! Loading a YOLO ONNX model into ONNX Runtime and running batches on it.
//!
//! The runtime library is loaded once per process from a path (ort's `load-dynamic`); the
//! execution provider is chosen here and only here. Class names, input size and stride come from
//! the metadata Ultralytics writes into its exports, else from the configuration.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use ndarray::{Array4, Axis};
use ort::ep::{self, ExecutionProvider};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorRef, ValueType};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::band::{BandRule, Detections};
use crate::error::InferenceError;
use crate::input::SmallObjectInput;
use crate::letterbox::{InputValue, Letterbox, Preprocessor};
use crate::postprocess::{Detection, LayoutHint, OutputLayout, Thresholds, decode};

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Device {
    #[default]
    Cpu,
    /// A CUDA GPU by index; an error if the runtime has no CUDA provider.
    Cuda(u32),
    /// CUDA 0 when it works, else the CPU (said once in the log).
    Auto,
}

impl FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "auto" => Ok(Self::Auto),
            "cuda" => Ok(Self::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| format!("unknown device {s:?}: use cpu, cuda, cuda:N or auto")),
        }
    }
}

impl<'de> Deserialize<'de> for Device {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// How to load and run a model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// The `.onnx` file.
    pub path: PathBuf,
    pub device: Device,
    /// ONNX Runtime intra-op threads; 0 lets it choose (one per core).
    pub threads: usize,
    /// Whether idle ORT threads spin. Off by default: spinning threads make inference about 3x
    /// slower when a decoder shares the cores (measured on the 2-core machine).
    pub spinning: bool,
    /// Minimum confidence of a kept detection; `None` takes the model's counting threshold from
    /// its metadata (`count_confidence`, as our sample model carries), else Ultralytics' 0.25.
    pub confidence: Option<f32>,
    /// NMS overlap threshold; `None` takes the model's `count_iou`, else Ultralytics' 0.7. Each
    /// of the two falls back on its own: a confidence given keeps the model's IoU.
    pub iou: Option<f32>,
    /// Count only these classes, by name or id; empty counts every class.
    pub classes: Vec<String>,
    /// The output layout, when the shape and metadata cannot tell it.
    pub layout: LayoutHint,
    /// Input size (square) to run a model of dynamic input size at; default: the size its
    /// metadata says it counts best at (`count_imgsz`), else its training size (`imgsz`).
    /// Models of fixed input size always run at theirs.
    pub input_size: Option<u32>,
    /// A larger square input for videos whose animals are small in the frame (under
    /// `small_object_length` of its short side); default: the model metadata's
    /// (`count_imgsz_small`), else none. 0 turns it off.
    pub small_object_input: Option<u32>,
    /// Below which typical length, as a share of the frame's short side, animals are small;
    /// default: the model metadata's (`count_small_length`), else
    /// [`SmallObjectInput::DEFAULT_BELOW`].
    pub small_object_length: Option<f32>,
    /// What makes a count unsure; default: [`BandRule::default`].
    pub band: Option<BandRule>,
    /// Class names when the model's metadata does not say.
    pub names: Vec<String>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::new(),
            device: Device::Cpu,
            threads: 0,
            spinning: false,
            confidence: None,
            iou: None,
            classes: Vec::new(),
            layout: LayoutHint::Auto,
            input_size: None,
            small_object_input: None,
            small_object_length: None,
            band: None,
            names: Vec::new(),
        }
    }
}

/// What a loaded model is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    /// BLAKE3 of the file, hex: results carry it, so a new model means new results.
    pub hash: String,
    pub path: PathBuf,
    pub names: Vec<String>,
    /// The model's nominal input (width, height).
    pub input_size: (u32, u32),
    /// The larger input for videos whose animals are small, if any (models of dynamic input
    /// size only).
    pub small_objects: Option<SmallObjectInput>,
    /// Where the configuration changed what the file itself asks for (`input_size`,
    /// `small_objects`) or the default band rule (`band`), their values as result parameters:
    /// the file's own are in its hash, and the default rule in the index database's schema.
    pub overrides: serde_json::Map<String, serde_json::Value>,
    pub stride: u32,
    /// Whether the input's height and width may vary (so frames can go in at "rect" size).
    pub dynamic_size: bool,
    /// Largest batch the model takes: fixed by a static batch axis, else unbounded.
    pub max_batch: Option<usize>,
    pub layout: OutputLayout,
    /// The execution provider in use ("cpu", "cuda:0").
    pub device: String,
    /// Class ids that are counted (empty: all).
    pub counted_classes: Vec<u32>,
    /// The thresholds in effect.
    pub thresholds: Thresholds,
    /// What makes a count unsure (its band). Part of [`Self::identity`] only where it is not
    /// the default: the index database's schema says which default its bands were made with
    /// (a new default is a migration that drops the indexes made before).
    pub band: BandRule,
}

impl ModelInfo {
    /// The input for the frames (`width` x `height`) of a video whose probed frames gave
    /// `found` at the model's own input (`None`: the model's own): [`Self::small_objects`]
    /// decides, leaving out boxes cut by the frame's edge as the band sees them.
    pub fn input_for(&self, width: u32, height: u32, found: &[Detections]) -> Option<u32> {
        self.small_objects?
            .choose(width, height, found, self.band.edge_px)
    }

    /// What besides the file decides the model's results: the thresholds and the class filter
    /// in effect, as a JSON object (keys sorted, so its text is canonical).
    pub fn result_params(&self) -> serde_json::Map<String, serde_json::Value> {
        let t = &self.thresholds;
        let mut params = serde_json::Map::new();
        params.insert("confidence".into(), t.confidence.into());
        params.insert("iou".into(), t.iou.into());
        params.insert("max_detections".into(), t.max_detections.into());
        params.insert("classes".into(), self.counted_classes.clone().into());
        params.extend(self.overrides.clone());
        params
    }

    /// The identity of this model's results: its file's hash and [`Self::result_params`],
    /// digested. Results cached under one identity are valid for exactly this model and
    /// these parameters.
    pub fn identity(&self) -> String {
        let params = serde_json::Value::Object(self.result_params());
        blake3::hash(format!("{}:{params}", self.hash).as_bytes()).to_hex()[..16].to_owned()
    }
}

/// An RGB image, 3 bytes a pixel, rows packed.
#[derive(Debug, Clone, Copy)]
pub struct Image<'a> {
    pub rgb: &'a [u8],
    pub width: u32,
    pub height: u32,
    /// The square input size to run it at on a model of dynamic input size (at its minimal
    /// "rect" shape); `None`: the model's own ([`ModelInfo::input_size`]). A video's frames
    /// share one ([`SmallObjectInput`]).
    pub input: Option<u32>,
}

/// Who is waiting for a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// A user is waiting.
    Interactive,
    /// Indexing.
    Background,
}

/// Whether a detector's backend can run now, shared with whoever reports readiness (a remote
/// server may be down for a while; an in-process model is always ready).
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<RwLock<Option<String>>>);

impl Health {
    /// Ok, or why the backend cannot run now.
    pub fn ready(&self) -> Result<(), String> {
        match &*self.0.read().unwrap_or_else(PoisonError::into_inner) {
            None => Ok(()),
            Some(reason) => Err(reason.clone()),
        }
    }

    pub(crate) fn set(&self, state: Result<(), String>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = state.err();
    }
}

/// The seam between detection and everything above it: images in, detections (in each image's
/// own pixels) out. [`OnnxDetector`] is the real one.
pub trait Detector: Send {
    fn info(&self) -> &ModelInfo;
    /// Detects in a batch of images; at most `info().max_batch` of them.
    fn detect(&mut self, images: &[Image<'_>]) -> Result<Vec<Detections>, InferenceError>;

    /// [`Self::detect`] for a batch that someone waits on at `priority`: a backend shared by
    /// several processes serves interactive batches first. By default the same as `detect`.
    fn detect_at(
        &mut self,
        images: &[Image<'_>],
        priority: Priority,
    ) -> Result<Vec<Detections>, InferenceError> {
        let _ = priority;
        self.detect(images)
    }

    /// Whether the backend can run now; by default always.
    fn health(&self) -> Health {
        Health::default()
    }
}

/// Where `make setup` (scripts/fetch-ort.sh) puts ONNX Runtime's library, relative to the
/// checkout: the default every tool of this workspace looks for.
pub const ORT_LIBRARY: &str = ".ort/lib/libonnxruntime.so.1.31.1";

static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// Loads the ONNX Runtime library once per process, so that a missing or wrong library is a
/// clear error at start rather than at the first model. Later calls return the first outcome.
pub fn load_runtime(library: &Path) -> Result<(), InferenceError> {
    environment(library).map(|_| ())
}

/// The process's ONNX Runtime environment, loaded from `library` on first use.
fn environment(library: &Path) -> Result<ort::environment::Environment, InferenceError> {
    let outcome = RUNTIME.get_or_init(|| {
        if !library.exists() {
            return Err(format!("{} does not exist", library.display()));
        }
        // ort loads the library with dlopen and checks its API version; a wrong file fails here.
        let loaded = std::panic::catch_unwind(|| ort::init_from(library));
        match loaded {
            Ok(Ok(builder)) => builder.with_name("pigweight").build().map_err(|e| e.to_string()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("loading it panicked (not an ONNX Runtime library?)".to_owned()),
        }
    });
    outcome.clone().map_err(|reason| InferenceError::Runtime {
        path: library.to_owned(),
        reason,
    })
}

/// One tensor of a model's signature: its name and shape (-1 where it varies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TensorSpec {
    pub name: String,
    pub shape: Vec<i64>,
}

/// What a model declares about itself: its (first) input and output, and Ultralytics'
/// metadata. Read from an ONNX Runtime session, from the file itself, or from a Triton model's
/// metadata and config: [`describe`] turns any of them into the same [`ModelInfo`].
#[derive(Debug, Clone)]
pub(crate) struct Signature {
    pub input: TensorSpec,
    pub output: TensorSpec,
    pub meta: Metadata,
}

impl Signature {
    fn of_session(session: &Session) -> Result<Self, String> {
        let spec = |outlet: Option<&ort::value::Outlet>, what: &str| -> Result<TensorSpec, String> {
            let outlet = outlet.ok_or_else(|| format!("the model has no {what}"))?;
            let shape = tensor_shape(outlet.dtype()).ok_or_else(|| format!("the {what} is not a tensor"))?;
            Ok(TensorSpec {
                name: outlet.name().to_owned(),
                shape,
            })
        };
        Ok(Self {
            input: spec(session.inputs().first(), "input")?,
            output: spec(session.outputs().first(), "output")?,
            meta: Metadata::read(session),
        })
    }
}

/// What a model of this signature is, loaded with `config`: names, layout, input size, batch
/// limit, classes and thresholds. The one place a model's description is made, whichever
/// backend runs it.
pub(crate) fn describe(
    hash: String,
    path: &Path,
    signature: &Signature,
    config: &ModelConfig,
    device: String,
) -> Result<ModelInfo, InferenceError> {
    let Signature { input, output, meta } = signature;
    let input_shape = &input.shape;
    if input_shape.len() != 4 || (input_shape[1] != 3 && input_shape[1] != -1) {
        return Err(InferenceError::UnsupportedModel(format!(
            "input {:?} has shape {input_shape:?}; expected [N, 3, H, W]",
            input.name
        )));
    }
    let names = if !meta.names.is_empty() {
        meta.names.clone()
    } else {
        config.names.clone()
    };
    let layout = OutputLayout::detect(
        &output.shape,
        (!names.is_empty()).then_some(names.len()),
        meta.end_to_end,
        config.layout,
    )?;
    let names = if names.is_empty() {
        let n = layout.classes().unwrap_or(1);
        (0..n).map(|i| format!("class{i}")).collect()
    } else {
        names
    };
    let (h, w) = (input_shape[2], input_shape[3]);
    let dynamic_size = h <= 0 || w <= 0;
    let input_size = match (config.input_size.or(meta.count_imgsz), meta.imgsz) {
        _ if !dynamic_size => (w as u32, h as u32),
        (Some(s), _) => (s, s),
        (None, Some(size)) => size,
        (None, None) => {
            return Err(InferenceError::UnsupportedModel(
                "the input size is dynamic and neither the model's metadata (imgsz) nor the \
                 configuration (input_size) gives it"
                    .into(),
            ));
        }
    };
    let small_objects_from = |size: Option<u32>, below: Option<f32>| match size {
        Some(size) if size > 0 && dynamic_size => Some(SmallObjectInput {
            size,
            below: below.unwrap_or(SmallObjectInput::DEFAULT_BELOW),
        }),
        _ => None,
    };
    let small_objects = small_objects_from(
        config.small_object_input.or(meta.count_imgsz_small),
        config.small_object_length.or(meta.count_small_length),
    );
    let own_input = dynamic_size
        .then(|| meta.count_imgsz.map(|s| (s, s)).or(meta.imgsz))
        .flatten();
    let band = config.band.clone().unwrap_or_default();
    let mut overrides = serde_json::Map::new();
    if dynamic_size && own_input != Some(input_size) {
        overrides.insert("input_size".into(), json!([input_size.0, input_size.1]));
    }
    if small_objects != small_objects_from(meta.count_imgsz_small, meta.count_small_length) {
        overrides.insert("small_objects".into(), json!(small_objects));
    }
    if band != BandRule::default() {
        overrides.insert("band".into(), json!(band));
    }
    let max_batch = (input_shape[0] > 0).then_some(input_shape[0] as usize);
    let counted_classes = resolve_classes(&config.classes, &names)?;
    let defaults = Thresholds::default();
    let thresholds = Thresholds {
        confidence: config
            .confidence
            .or(meta.count_confidence)
            .unwrap_or(defaults.confidence),
        iou: config.iou.or(meta.count_iou).unwrap_or(defaults.iou),
        classes: counted_classes.clone(),
        ..defaults
    };
    Ok(ModelInfo {
        hash,
        path: path.to_owned(),
        names,
        input_size,
        small_objects,
        overrides,
        stride: meta.stride.unwrap_or(32),
        dynamic_size,
        max_batch,
        layout,
        device,
        counted_classes,
        thresholds,
        band,
    })
}

/// A YOLO model on ONNX Runtime.
#[derive(Debug)]
pub struct OnnxDetector {
    session: Session,
    info: ModelInfo,
    input_name: String,
    /// What decoding keeps: `info.thresholds` down to the band's floor (the band rule splits
    /// off what counts).
    candidates: Thresholds,
    pre: Preprocessor,
    tensor: Array4<f32>,
    timings: Timings,
}

/// Where the time of one [`Detector::detect`] call went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Images in the batch.
    pub images: usize,
    /// The input the batch ran at (width, height): the minimal "rect" shape for a model with a
    /// dynamic input size.
    pub input: (u32, u32),
    /// Letterboxing into the input tensor.
    pub preprocess: Duration,
    /// ONNX Runtime's `run`.
    pub run: Duration,
    /// Output decoding, NMS and mapping back to source pixels.
    pub postprocess: Duration,
}

impl OnnxDetector {
    /// Loads `config.path` with the runtime at `library`.
    pub fn load(library: &Path, config: &ModelConfig) -> Result<Self, InferenceError> {
        let env = environment(library)?;
        let path = &config.path;
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => InferenceError::ModelNotFound(path.clone()),
            _ => InferenceError::BadModel {
                path: path.clone(),
                reason: e.to_string(),
            },
        })?;
        let hash = blake3::hash(&bytes).to_hex().to_string();
        let bad = |reason: String| InferenceError::BadModel {
            path: path.clone(),
            reason,
        };
        let (session, device) = build_session(&env, config, &bytes)?;

        let signature = Signature::of_session(&session).map_err(bad)?;
        let info = describe(hash, path, &signature, config, device)?;
        let thresholds = info.thresholds.clone();
        let input_name = signature.input.name;
        tracing::info!(
            model = %path.display(),
            layout = ?info.layout,
            input = ?info.input_size,
            dynamic = info.dynamic_size,
            max_batch = ?info.max_batch,
            device = %info.device,
            "model loaded"
        );
        Ok(Self {
            session,
            candidates: candidates(&thresholds, &info.band),
            info,
            input_name,
            pre: Preprocessor::default(),
            tensor: Array4::zeros((0, 3, 0, 0)),
            timings: Timings::default(),
        })
    }
}

/// The input size for a batch: "rect" of the images' square input (else the model's own) when
/// the model allows it and all images share a size and an input, else the model's own.
fn batch_input(info: &ModelInfo, images: &[Image<'_>]) -> (u32, u32) {
    let first = (images[0].width, images[0].height);
    let input = images[0].input;
    let same = images
        .iter()
        .all(|i| (i.width, i.height) == first && i.input == input);
    let (w, h) = info.input_size;
    let square = input.or((w == h).then_some(w));
    match square {
        Some(square) if info.dynamic_size && same => Letterbox::rect_input(first, square, info.stride),
        _ => info.input_size,
    }
}

/// Letterboxes a batch into `tensor`, reshaped to the batch's input: every backend's
/// preprocessing. `slots` is a static batch axis's size (spare slots stay as they are and are
/// ignored), `None` for a batch of just the images. Returns where each image went.
pub(crate) fn fill_batch<T: InputValue>(
    info: &ModelInfo,
    pre: &mut Preprocessor,
    tensor: &mut Array4<T>,
    images: &[Image<'_>],
    slots: Option<usize>,
) -> Result<Vec<Letterbox>, InferenceError> {
    if let Some(max) = info.max_batch.filter(|&m| images.len() > m) {
        return Err(InferenceError::Shape(format!(
            "a batch of {} images for a model that takes {max}",
            images.len()
        )));
    }
    let (iw, ih) = batch_input(info, images);
    let shape = (slots.unwrap_or(images.len()), 3, ih as usize, iw as usize);
    if tensor.dim() != shape {
        *tensor = Array4::from_elem(shape, T::table()[0]);
    }
    let mut boxes = Vec::with_capacity(images.len());
    for (slot, image) in tensor.outer_iter_mut().zip(images) {
        let lb = Letterbox::fit((image.width, image.height), (iw, ih));
        pre.fill(image.rgb, &lb, slot)?;
        boxes.push(lb);
    }
    Ok(boxes)
}

/// Decodes a batch's output (`[slots, ..]`) into each image's detections in source pixels, with
/// the band: every backend's postprocessing. `candidates` are the thresholds down to the band's
/// floor.
pub(crate) fn read_output(
    info: &ModelInfo,
    candidates: &Thresholds,
    output: ndarray::ArrayViewD<'_, f32>,
    boxes: &[Letterbox],
    images: &[Image<'_>],
) -> Result<Vec<Detections>, InferenceError> {
    if output.ndim() != 3 || output.shape()[0] < images.len() {
        return Err(InferenceError::Shape(format!(
            "the model returned {:?} for a batch of {}",
            output.shape(),
            images.len()
        )));
    }
    let output = output
        .into_dimensionality::<ndarray::Ix3>()
        .map_err(|e| InferenceError::Shape(e.to_string()))?;
    let confidence = info.thresholds.confidence;
    Ok(boxes
        .iter()
        .zip(output.axis_iter(Axis(0)))
        .zip(images)
        .map(|((lb, out), image)| {
            let found = decode(out, info.layout, candidates)
                .into_iter()
                .map(|d| Detection {
                    bbox: lb.to_source(d.bbox),
                    ..d
                })
                .collect();
            info.band.apply(found, confidence, image.width, image.height)
        })
        .collect())
}

impl OnnxDetector {
    /// Keeps detections by `thresholds` from now on (the class filter stays as loaded).
    pub fn set_thresholds(&mut self, thresholds: Thresholds) {
        self.info.thresholds = Thresholds {
            classes: self.info.counted_classes.clone(),
            ..thresholds
        };
        self.candidates = candidates(&self.info.thresholds, &self.info.band);
    }

    /// Where the time of the latest `detect` call went.
    pub fn last_timings(&self) -> Timings {
        self.timings
    }
}

impl Detector for OnnxDetector {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn detect(&mut self, images: &[Image<'_>]) -> Result<Vec<Detections>, InferenceError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let boxes = fill_batch(
            &self.info,
            &mut self.pre,
            &mut self.tensor,
            images,
            self.info.max_batch,
        )?;
        let preprocessed = Instant::now();
        let input =
            TensorRef::from_array_view(self.tensor.view()).map_err(|e| InferenceError::Run(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => input])
            .map_err(|e| InferenceError::Run(e.to_string()))?;
        let ran = Instant::now();
        let output = outputs[0]
            .try_extract_array::<f32>()
            .map_err(|e| InferenceError::Run(e.to_string()))?;
        let detections = read_output(&self.info, &self.candidates, output, &boxes, images)?;
        let (_, _, ih, iw) = self.tensor.dim();
        let (iw, ih) = (iw as u32, ih as u32);
        self.timings = Timings {
            images: images.len(),
            input: (iw, ih),
            preprocess: preprocessed - started,
            run: ran - preprocessed,
            postprocess: ran.elapsed(),
        };
        Ok(detections)
    }
}

/// `thresholds` with the confidence lowered to `band`'s floor: the candidates a band needs.
pub(crate) fn candidates(thresholds: &Thresholds, band: &BandRule) -> Thresholds {
    Thresholds {
        confidence: band.floor(thresholds.confidence),
        ..thresholds.clone()
    }
}

fn tensor_shape(ty: &ValueType) -> Option<Vec<i64>> {
    match ty {
        ValueType::Tensor { shape, .. } => Some(shape.to_vec()),
        _ => None,
    }
}

/// Chooses the execution provider and builds the session. The only place providers are picked.
fn build_session(
    env: &ort::environment::Environment,
    config: &ModelConfig,
    bytes: &[u8],
) -> Result<(Session, String), InferenceError> {
    let bad = |e: ort::Error| InferenceError::BadModel {
        path: config.path.clone(),
        reason: e.to_string(),
    };
    let builder = || -> Result<ort::session::builder::SessionBuilder, InferenceError> {
        let b = Session::builder(env).map_err(bad)?;
        let b = b
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| bad(e.into()))?
            .with_intra_op_spinning(config.spinning)
            .map_err(|e| bad(e.into()))?;
        if config.threads > 0 {
            b.with_intra_threads(config.threads).map_err(|e| bad(e.into()))
        } else {
            Ok(b)
        }
    };
    let cuda = |id: u32| -> Result<Session, InferenceError> {
        let unavailable = |reason: String| InferenceError::ProviderUnavailable {
            provider: format!("cuda:{id}"),
            reason,
        };
        if !ep::CUDA::is_available().unwrap_or(false) {
            return Err(unavailable(
                "this ONNX Runtime library was built without CUDA (use the onnxruntime-gpu build)".into(),
            ));
        }
        let provider = ep::CUDA::default()
            .with_device_id(id as i32)
            .build()
            .error_on_failure();
        builder()?
            .with_execution_providers([provider])
            .map_err(|e| unavailable(e.to_string()))?
            .commit_from_memory(bytes)
            .map_err(|e| unavailable(e.to_string()))
    };
    let cpu = || builder()?.commit_from_memory(bytes).map_err(bad);
    match config.device {
        Device::Cpu => Ok((cpu()?, "cpu".into())),
        Device::Cuda(id) => Ok((cuda(id)?, format!("cuda:{id}"))),
        Device::Auto => match cuda(0) {
            Ok(session) => Ok((session, "cuda:0".into())),
            Err(e) => {
                tracing::warn!(reason = %e, "device auto: CUDA is not usable, running on the CPU");
                Ok((cpu()?, "cpu".into()))
            }
        },
    }
}

/// Resolves a class filter given by names or ids.
fn resolve_classes(wanted: &[String], names: &[String]) -> Result<Vec<u32>, InferenceError> {
    wanted
        .iter()
        .map(|w| {
            names
                .iter()
                .position(|n| n == w)
                .map(|i| i as u32)
                .or_else(|| w.parse::<u32>().ok().filter(|&i| (i as usize) < names.len()))
                .ok_or_else(|| {
                    InferenceError::UnsupportedModel(format!(
                        "class {w:?} is not one of the model's classes {names:?}"
                    ))
                })
        })
        .collect()
}

/// The fields Ultralytics writes into an export's metadata, as Python reprs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Metadata {
    names: Vec<String>,
    imgsz: Option<(u32, u32)>,
    stride: Option<u32>,
    end_to_end: bool,
    /// The counting operating point the model recommends (our own metadata keys).
    count_confidence: Option<f32>,
    count_iou: Option<f32>,
    /// The square input size the model counts best at (it may differ from `imgsz`, the size it
    /// was trained at).
    count_imgsz: Option<u32>,
    /// The square input for videos whose animals are small, and below what share of the short
    /// side they are (our own keys too).
    count_imgsz_small: Option<u32>,
    count_small_length: Option<f32>,
}

impl Metadata {
    fn read(session: &Session) -> Self {
        let Ok(meta) = session.metadata() else {
            return Self::default();
        };
        Self::parse(&|key| meta.custom(key))
    }

    pub(crate) fn parse(get: &dyn Fn(&str) -> Option<String>) -> Self {
        let names = get("names").map(|s| parse_names(&s)).unwrap_or_default();
        // imgsz is "[height, width]".
        let imgsz = get("imgsz").and_then(|s| {
            let n: Vec<u32> = numbers(&s);
            match n[..] {
                [h, w] => Some((w, h)),
                [s] => Some((s, s)),
                _ => None,
            }
        });
        let stride = get("stride").and_then(|s| numbers(&s).first().copied());
        let truthy = |s: &str| s.trim() == "True" || s.trim() == "true";
        let args = get("args").unwrap_or_default();
        let end_to_end =
            get("end2end").is_some_and(|s| truthy(&s)) || args.replace(' ', "").contains("'nms':True");
        let unit = |key: &str| {
            get(key)
                .and_then(|s| s.trim().parse::<f32>().ok())
                .filter(|v| (0.0..=1.0).contains(v))
        };
        let size = |key: &str| {
            get(key)
                .and_then(|s| s.trim().parse::<u32>().ok())
                .filter(|&s| (32..=4096).contains(&s))
        };
        Self {
            names,
            imgsz,
            stride,
            end_to_end,
            count_confidence: unit("count_confidence"),
            count_iou: unit("count_iou"),
            count_imgsz: size("count_imgsz"),
            count_imgsz_small: size("count_imgsz_small"),
            count_small_length: unit("count_small_length"),
        }
    }
}

fn numbers(s: &str) -> Vec<u32> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// Parses `{0: 'pig', 1: "sow's piglet"}` into names by id.
fn parse_names(s: &str) -> Vec<String> {
    let mut out: Vec<(u32, String)> = Vec::new();
    let mut rest = s.trim().trim_start_matches('{');
    while let Some((key, after)) = rest.split_once(':') {
        let Ok(id) = key.trim().trim_start_matches(',').trim().parse::<u32>() else {
            break;
        };
        let after = after.trim_start();
        let Some(quote) = after.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            break;
        };
        let Some(end) = after[1..].find(quote) else { break };
        out.push((id, after[1..1 + end].to_owned()));
        rest = &after[end + 2..];
    }
    out.sort_by_key(|(id, _)| *id);
    out.into_iter().map(|(_, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse() {
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
        assert_eq!("cuda".parse::<Device>().unwrap(), Device::Cuda(0));
        assert_eq!("cuda:3".parse::<Device>().unwrap(), Device::Cuda(3));
        assert_eq!("auto".parse::<Device>().unwrap(), Device::Auto);
        assert!("gpu".parse::<Device>().is_err());
    }

    #[test]
    fn ultralytics_metadata_parses() {
        let meta = Metadata::parse(&|key| {
            match key {
                "names" => Some("{0: 'pig', 1: \"sow's piglet\"}"),
                "imgsz" => Some("[384, 640]"),
                "stride" => Some("32"),
                "args" => Some("{'batch': 8, 'half': False, 'dynamic': True, 'nms': True}"),
                "count_confidence" => Some("0.5"),
                "count_iou" => Some("1.5"),
                "count_imgsz" => Some("416"),
                _ => None,
            }
            .map(str::to_owned)
        });
        assert_eq!(meta.names, ["pig", "sow's piglet"]);
        assert_eq!(meta.imgsz, Some((640, 384)));
        assert_eq!(meta.stride, Some(32));
        assert!(meta.end_to_end);
        assert_eq!(meta.count_confidence, Some(0.5));
        assert_eq!(meta.count_iou, None, "out of range: ignored");
        assert_eq!(meta.count_imgsz, Some(416));
        assert_eq!(parse_names("{}"), Vec::<String>::new());
    }

    #[test]
    fn class_filter_by_name_or_id() {
        let names = vec!["pig".to_owned(), "person".to_owned()];
        assert_eq!(resolve_classes(&["person".into()], &names).unwrap(), [1]);
        assert_eq!(resolve_classes(&["0".into()], &names).unwrap(), [0]);
        assert!(resolve_classes(&["cow".into()], &names).is_err());
        assert!(resolve_classes(&["2".into()], &names).is_err());
    }
}
