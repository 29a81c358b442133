//! A Triton model repository for a model file: what `pigweight triton-repo` writes.
//!
//! `NAME/config.pbtxt` and `NAME/1/model.onnx`, the model with a `uint8` pixel input that
//! scales inside ([`ModelFile::with_byte_input`]). The config declares what the client checks
//! (input, output, batch limit), dynamic batching with preferred sizes, a queue delay and two
//! priority levels (interactive 1, background 2), instance groups, and the model's metadata and
//! hash as parameters, so a client without the file knows what it talks to.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::InferenceError;
use crate::onnx_file::ModelFile;

use super::HASH_PARAMETER;

/// Which Triton backend runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RepositoryBackend {
    /// Triton's onnxruntime backend (the NGC image; TensorRT through it on a GPU).
    #[default]
    OnnxRuntime,
    /// A python-backend model running the same file with onnxruntime: for Triton builds with
    /// only the python backend (PyPI's nvidia-pytriton).
    Python,
}

impl FromStr for RepositoryBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "onnxruntime" => Ok(Self::OnnxRuntime),
            "python" => Ok(Self::Python),
            _ => Err(format!("unknown backend {s:?}: use onnxruntime or python")),
        }
    }
}

/// Where the model's instances run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InstanceKind {
    #[default]
    Gpu,
    Cpu,
}

impl FromStr for InstanceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "gpu" => Ok(Self::Gpu),
            "cpu" => Ok(Self::Cpu),
            _ => Err(format!("unknown instance kind {s:?}: use gpu or cpu")),
        }
    }
}

/// An accelerator Triton's onnxruntime backend hands the model to on a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accelerator {
    /// ONNX Runtime's CUDA provider as it is.
    #[default]
    None,
    /// TensorRT through ONNX Runtime, in FP16: engines built for the GPU at load (minutes on
    /// first start, cached by ONNX Runtime), usually several times faster than CUDA alone.
    TensorRtFp16,
    /// TensorRT in FP32: the same engines without the reduced precision.
    TensorRtFp32,
}

impl FromStr for Accelerator {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Self::None),
            "tensorrt" | "tensorrt-fp16" => Ok(Self::TensorRtFp16),
            "tensorrt-fp32" => Ok(Self::TensorRtFp32),
            _ => Err(format!(
                "unknown accelerator {s:?}: use none, tensorrt-fp16 or tensorrt-fp32"
            )),
        }
    }
}

/// What the repository's config says beyond the model itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryOptions {
    /// The model's name in the repository; default: the file's name without `.onnx`.
    pub name: Option<String>,
    pub backend: RepositoryBackend,
    /// Largest batch the server forms (and accepts).
    pub max_batch: usize,
    /// Instances of the model per device.
    pub instances: usize,
    pub kind: InstanceKind,
    /// How long the batcher waits for more requests to fill a batch.
    pub queue_delay_us: u64,
    /// For the onnxruntime backend on GPU instances.
    pub accelerator: Accelerator,
}

impl Default for RepositoryOptions {
    fn default() -> Self {
        Self {
            name: None,
            backend: RepositoryBackend::default(),
            max_batch: 8,
            instances: 1,
            kind: InstanceKind::default(),
            queue_delay_us: 2_000,
            accelerator: Accelerator::default(),
        }
    }
}

/// The python backend's model, when [`RepositoryBackend::Python`].
const PYTHON_MODEL: &str = include_str!("model.py");

/// Writes the repository for `model` under `out`; returns the model's folder.
pub fn write_repository(
    model: &ModelFile,
    out: &Path,
    options: &RepositoryOptions,
) -> Result<PathBuf, InferenceError> {
    let name = match &options.name {
        Some(name) => name.clone(),
        None => model
            .path()
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .ok_or_else(|| InferenceError::UnsupportedModel("the model file has no name".into()))?,
    };
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(InferenceError::UnsupportedModel(format!(
            "{name:?} cannot name a model folder"
        )));
    }
    let (onnx, input) = model.with_byte_input()?;
    let config = config_text(model, &name, &input, options)?;
    let folder = out.join(&name);
    let version = folder.join("1");
    let io = |path: &Path, e: std::io::Error| InferenceError::BadModel {
        path: path.to_owned(),
        reason: format!("cannot write: {e}"),
    };
    std::fs::create_dir_all(&version).map_err(|e| io(&version, e))?;
    let write = |path: PathBuf, bytes: &[u8]| std::fs::write(&path, bytes).map_err(|e| io(&path, e));
    write(folder.join("config.pbtxt"), config.as_bytes())?;
    write(version.join("model.onnx"), &onnx)?;
    let script = version.join("model.py");
    match options.backend {
        RepositoryBackend::Python => write(script, PYTHON_MODEL.as_bytes())?,
        RepositoryBackend::OnnxRuntime if script.exists() => {
            std::fs::remove_file(&script).map_err(|e| io(&script, e))?;
        }
        RepositoryBackend::OnnxRuntime => {}
    }
    Ok(folder)
}

/// A protobuf text-format string literal.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn dims(shape: &[i64]) -> String {
    let dims: Vec<String> = shape.iter().skip(1).map(i64::to_string).collect();
    format!("[ {} ]", dims.join(", "))
}

/// The `config.pbtxt` text.
fn config_text(
    model: &ModelFile,
    name: &str,
    input_name: &str,
    options: &RepositoryOptions,
) -> Result<String, InferenceError> {
    let signature = model.signature()?;
    let (input, output) = (&signature.input.shape, &signature.output.shape);
    if input.len() != 4 || output.len() != 3 {
        return Err(InferenceError::UnsupportedModel(format!(
            "input {input:?} and output {output:?}: expected [N, 3, H, W] and [N, C, anchors]"
        )));
    }
    if input[0] > 0 {
        return Err(InferenceError::UnsupportedModel(format!(
            "the model's batch axis is fixed at {}: Triton batches on a dynamic one (export with \
             dynamic=True)",
            input[0]
        )));
    }
    let max_batch = options.max_batch.max(1);
    let preferred: Vec<String> = [max_batch / 2, max_batch]
        .into_iter()
        .filter(|&n| n >= 2)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|n| n.to_string())
        .collect();
    let precision = match options.accelerator {
        Accelerator::None => None,
        Accelerator::TensorRtFp16 => Some("FP16"),
        Accelerator::TensorRtFp32 => Some("FP32"),
    };
    if precision.is_some()
        && (options.backend != RepositoryBackend::OnnxRuntime || options.kind != InstanceKind::Gpu)
    {
        return Err(InferenceError::UnsupportedModel(
            "TensorRT runs in Triton's onnxruntime backend on GPU instances only".into(),
        ));
    }
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# Written by `pigweight triton-repo` from {} (blake3 {}).",
        model.path().display(),
        model.hash()
    );
    let _ = writeln!(text, "name: {}", quoted(name));
    let _ = match options.backend {
        RepositoryBackend::OnnxRuntime => writeln!(text, "platform: \"onnxruntime_onnx\""),
        RepositoryBackend::Python => writeln!(text, "backend: \"python\""),
    };
    let _ = writeln!(text, "max_batch_size: {max_batch}");
    let _ = writeln!(
        text,
        "input [\n  {{\n    name: {}\n    data_type: TYPE_UINT8\n    dims: {}\n  }}\n]",
        quoted(input_name),
        dims(input)
    );
    let _ = writeln!(
        text,
        "output [\n  {{\n    name: {}\n    data_type: TYPE_FP32\n    dims: {}\n  }}\n]",
        quoted(&signature.output.name),
        dims(output)
    );
    let _ = writeln!(
        text,
        "# Interactive requests ask for priority 1; indexing runs at 2.\n\
         dynamic_batching {{\n  preferred_batch_size: [ {} ]\n  max_queue_delay_microseconds: {}\n  \
         priority_levels: 2\n  default_priority_level: 2\n}}",
        preferred.join(", "),
        options.queue_delay_us
    );
    let kind = match options.kind {
        InstanceKind::Gpu => "KIND_GPU",
        InstanceKind::Cpu => "KIND_CPU",
    };
    let _ = writeln!(
        text,
        "instance_group [\n  {{\n    count: {}\n    kind: {kind}\n  }}\n]",
        options.instances.max(1)
    );
    if let Some(precision) = precision {
        let _ = writeln!(
            text,
            "optimization {{ execution_accelerators {{\n  gpu_execution_accelerator : [ {{\n    \
             name : \"tensorrt\"\n    parameters {{ key: \"precision_mode\" value: {} }}\n    \
             parameters {{ key: \"max_workspace_size_bytes\" value: \"1073741824\" }}\n    \
             parameters {{ key: \"trt_engine_cache_enable\" value: \"true\" }}\n  }} ]\n}}}}",
            quoted(precision)
        );
    }
    let parameters = [(HASH_PARAMETER.to_owned(), model.hash().to_owned())]
        .into_iter()
        .chain(model.metadata());
    for (key, value) in parameters {
        let _ = writeln!(
            text,
            "parameters {{\n  key: {}\n  value: {{ string_value: {} }}\n}}",
            quoted(&key),
            quoted(&value)
        );
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_strings_are_escaped() {
        assert_eq!(quoted(r#"{0: 'pig', 1: "sow"}"#), r#""{0: 'pig', 1: \"sow\"}""#);
        assert_eq!(quoted("a\\b\nc"), r#""a\\b\nc""#);
        assert_eq!(dims(&[-1, 3, -1, -1]), "[ 3, -1, -1 ]");
    }

    #[test]
    fn names_and_kinds_parse() {
        assert_eq!("python".parse(), Ok(RepositoryBackend::Python));
        assert_eq!("cpu".parse(), Ok(InstanceKind::Cpu));
        assert!("tensorrt".parse::<RepositoryBackend>().is_err());
        assert_eq!("tensorrt".parse(), Ok(Accelerator::TensorRtFp16));
    }
}
