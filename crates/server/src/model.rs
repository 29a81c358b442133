//! Which detector a command runs: the model flags every subcommand shares, the `[inference]`
//! settings, and the files that ship with the checkout.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use pigweight_inference::{
    BandRule, Detector, Device, ModelConfig, ORT_LIBRARY, OnnxDetector, TritonConfig, TritonDetector,
};

use crate::cli::{band_rule, small_object_input, unit_share};

/// Which detector runs, where, and which detections count.
#[derive(Debug, Args)]
pub(crate) struct ModelArgs {
    /// The YOLO model (.onnx), e.g. an Ultralytics export; default: the sample pig detector.
    #[arg(long)]
    model: Option<PathBuf>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Minimum confidence [default: the model's counting threshold if its metadata has one,
    /// else 0.25].
    #[arg(long)]
    conf: Option<f32>,
    /// NMS overlap threshold [default: the model's if its metadata has one, else 0.7].
    #[arg(long)]
    iou: Option<f32>,
    /// Count only this class (name or id); repeat for several.
    #[arg(long = "class")]
    classes: Vec<String>,
    /// Run a model of dynamic input size at this square size [default: the model's counting
    /// size if its metadata has one, else its training size].
    #[arg(long = "input-size", value_parser = clap::value_parser!(u32).range(32..=4096))]
    input_size: Option<u32>,
    /// Run the frames of videos whose animals are small (typically shorter than
    /// --small-object-length of the frame's short side, judged on a few keyframes) at this
    /// larger square input [default: the model's metadata's `count_imgsz_small`, else none;
    /// 0: none].
    #[arg(long = "small-object-input", value_parser = small_object_input)]
    small_object_input: Option<u32>,
    /// Below which length, as a share of the frame's short side, animals are small [default:
    /// the model's metadata's `count_small_length`, else 0.15].
    #[arg(long = "small-object-length", value_parser = unit_share)]
    small_object_length: Option<f32>,
    /// What makes a count unsure (its band), as JSON with any of the fields below, e.g.
    /// '{"below": 0.3}' [default: models/README.md, "The count band"]: below, above (score
    /// margins under and over the confidence), overlap_iou, edge_px, edge_area, large_area.
    #[arg(long = "band-rule", value_parser = band_rule)]
    band_rule: Option<BandRule>,
    /// libonnxruntime.so (1.31); default: .ort/lib from `make setup`, here or beside the binary.
    #[arg(long = "ort-lib", env = "ORT_DYLIB_PATH")]
    ort_lib: Option<PathBuf>,
    /// Run the model on this Triton Inference Server (KServe v2 over HTTP, e.g.
    /// http://127.0.0.1:8000) instead of in this process; see docs/triton.md.
    #[arg(long, env = "PIGWEIGHT_TRITON")]
    triton: Option<String>,
    /// The model's name on the Triton server [default: the --model file's name without .onnx].
    /// Given without --model, the served model describes itself (the parameters triton-repo
    /// writes).
    #[arg(long = "triton-model", env = "PIGWEIGHT_TRITON_MODEL")]
    triton_model: Option<String>,
}

/// Which backend runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Backend {
    /// ONNX Runtime in this process.
    #[default]
    Ort,
    /// A Triton Inference Server.
    Triton,
}

/// The `[inference]` settings: the backend, and where Triton is when it is the backend.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct InferenceSettings {
    pub(crate) backend: Backend,
    pub(crate) triton: TritonConfig,
}

impl ModelArgs {
    /// Whether `--triton` names a server to run the model on.
    pub(crate) fn runs_on_triton(&self) -> bool {
        self.triton.is_some()
    }

    /// Loads the model with the thresholds given, each else the model's own.
    pub(crate) fn load(&self) -> anyhow::Result<OnnxDetector> {
        let library = self.ort_lib.clone().unwrap_or_else(|| shipped(ORT_LIBRARY));
        let path = self.model.clone().unwrap_or_else(|| shipped(SAMPLE_MODEL));
        Ok(OnnxDetector::load(&library, &self.config(path))?)
    }

    /// The model at `path` with the flags' settings (`device` is ONNX Runtime's alone: a Triton
    /// server places its model itself).
    fn config(&self, path: PathBuf) -> ModelConfig {
        ModelConfig {
            path,
            device: self.device,
            confidence: self.conf,
            iou: self.iou,
            classes: self.classes.clone(),
            input_size: self.input_size,
            small_object_input: self.small_object_input,
            small_object_length: self.small_object_length,
            band: self.band_rule.clone(),
            ..ModelConfig::default()
        }
    }

    /// The detector on the backend chosen by `settings`, the flags winning. With
    /// `require_server` false a Triton server that is away is retried in the background.
    pub(crate) fn detector(
        &self,
        settings: &InferenceSettings,
        require_server: bool,
    ) -> anyhow::Result<Box<dyn Detector>> {
        let mut settings = settings.clone();
        if let Some(url) = &self.triton {
            settings.backend = Backend::Triton;
            settings.triton.url = url.clone();
        }
        if self.triton_model.is_some() {
            settings.triton.model = self.triton_model.clone();
        }
        if settings.backend == Backend::Ort {
            return Ok(Box::new(self.load()?));
        }
        if settings.triton.url.is_empty() {
            bail!(
                "the triton backend needs the server's URL: --triton http://HOST:8000 (or [inference.triton] url)"
            );
        }
        // A named Triton model without a file describes itself; else the file (default: the
        // sample model) says what the served model must be.
        let path = match (&self.model, &settings.triton.model) {
            (Some(path), _) => path.clone(),
            (None, Some(_)) => PathBuf::new(),
            (None, None) => shipped(SAMPLE_MODEL),
        };
        Ok(Box::new(TritonDetector::connect(
            &settings.triton,
            &self.config(path),
            require_server,
        )?))
    }
}

/// The sample pig detector (models/README.md).
pub(crate) const SAMPLE_MODEL: &str = "models/pigs.onnx";

/// A file that ships with the checkout, given relative to its root: found from the current
/// folder, else from the binary's place in target/{debug,release}/; the relative path when
/// neither has it (the error then names it).
pub(crate) fn shipped(relative: &str) -> PathBuf {
    let beside_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent()?.parent().map(|root| root.join(relative)));
    [Some(PathBuf::from(relative)), beside_binary]
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(relative))
}
