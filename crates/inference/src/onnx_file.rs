//! An ONNX model file read without a runtime: its hash, signature and metadata, and the
//! byte-input version of it that a Triton model repository serves.
//!
//! The in-process backend reads the same facts from an ONNX Runtime session; a remote backend
//! has no session, so it reads them here, from the protobuf itself.

use std::path::{Path, PathBuf};

use onnx_protobuf::{
    AttributeProto, Message, ModelProto, NodeProto, TensorProto, ValueInfoProto, attribute_proto,
    tensor_proto, tensor_shape_proto, type_proto,
};

use crate::error::InferenceError;
use crate::model::{Metadata, Signature, TensorSpec};

/// The name of the byte input of [`ModelFile::with_byte_input`]'s model.
pub const BYTE_INPUT: &str = "pixels";

/// A model file, parsed.
#[derive(Debug, Clone)]
pub struct ModelFile {
    path: PathBuf,
    hash: String,
    proto: ModelProto,
}

impl ModelFile {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Self, InferenceError> {
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => InferenceError::ModelNotFound(path.to_owned()),
            _ => InferenceError::BadModel {
                path: path.to_owned(),
                reason: e.to_string(),
            },
        })?;
        let proto = ModelProto::parse_from_bytes(&bytes).map_err(|e| InferenceError::BadModel {
            path: path.to_owned(),
            reason: format!("not an ONNX model: {e}"),
        })?;
        if proto.graph.is_none() {
            return Err(InferenceError::BadModel {
                path: path.to_owned(),
                reason: "the model has no graph".into(),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            hash: blake3::hash(&bytes).to_hex().to_string(),
            proto,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// BLAKE3 of the file, hex: the same hash [`crate::ModelInfo::hash`] carries.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The metadata the file carries (Ultralytics' names, imgsz, stride, ... and our counting
    /// operating point), in the file's order.
    pub fn metadata(&self) -> Vec<(String, String)> {
        self.proto
            .metadata_props
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect()
    }

    fn bad(&self, reason: impl Into<String>) -> InferenceError {
        InferenceError::BadModel {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// The graph's first real input (not an initializer) and first output, with the metadata.
    pub(crate) fn signature(&self) -> Result<Signature, InferenceError> {
        let graph = &self.proto.graph;
        let initialized: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let input = graph
            .input
            .iter()
            .find(|v| !initialized.contains(&v.name.as_str()))
            .ok_or_else(|| self.bad("the model has no input"))?;
        let output = graph
            .output
            .first()
            .ok_or_else(|| self.bad("the model has no output"))?;
        let meta = self.metadata();
        Ok(Signature {
            input: spec(input),
            output: spec(output),
            meta: Metadata::parse(&|key| meta.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())),
        })
    }

    /// The model's input element type, as ONNX numbers it (1 float, 2 uint8).
    fn input_type(&self) -> Result<i32, InferenceError> {
        let name = self.signature()?.input.name;
        let input = self.proto.graph.input.iter().find(|v| v.name == name);
        Ok(input.map_or(0, |v| v.type_.tensor_type().elem_type))
    }

    /// The same network taking `uint8` pixels (`[N, 3, H, W]`, named [`BYTE_INPUT`]) and
    /// dividing them by 255 inside, as the float input expects: a quarter of the bytes on the
    /// wire for the same output. A model that takes bytes already is returned as it is.
    /// Returns the model and its input's name.
    pub fn with_byte_input(&self) -> Result<(Vec<u8>, String), InferenceError> {
        const FLOAT: i32 = tensor_proto::DataType::FLOAT as i32;
        const UINT8: i32 = tensor_proto::DataType::UINT8 as i32;
        let mut model = self.proto.clone();
        let name = self.signature()?.input.name;
        match self.input_type()? {
            UINT8 => return Ok((model.write_to_bytes().map_err(|e| self.bad(e.to_string()))?, name)),
            FLOAT => {}
            other => return Err(self.bad(format!("the input's element type is {other}; expected float"))),
        }
        let graph = model.graph.mut_or_insert_default();
        let at = graph
            .input
            .iter()
            .position(|v| v.name == name)
            .ok_or_else(|| self.bad("the model has no input"))?;
        let mut bytes = graph.input.remove(at);
        bytes.name = BYTE_INPUT.into();
        bytes.type_.mut_or_insert_default().mut_tensor_type().elem_type = UINT8;
        graph.input.insert(at, bytes);

        let (as_float, scale) = (format!("{BYTE_INPUT}_as_float"), format!("{BYTE_INPUT}_scale"));
        let mut to = AttributeProto::new();
        to.name = "to".into();
        to.type_ = attribute_proto::AttributeType::INT.into();
        to.i = i64::from(FLOAT);
        let cast = NodeProto {
            name: format!("{BYTE_INPUT}_cast"),
            op_type: "Cast".into(),
            input: vec![BYTE_INPUT.into()],
            output: vec![as_float.clone()],
            attribute: vec![to],
            ..NodeProto::new()
        };
        let divide = NodeProto {
            name: format!("{BYTE_INPUT}_divide"),
            op_type: "Div".into(),
            input: vec![as_float, scale.clone()],
            output: vec![name],
            ..NodeProto::new()
        };
        let divisor = TensorProto {
            name: scale,
            data_type: FLOAT,
            float_data: vec![255.0],
            ..TensorProto::new()
        };
        // Nodes stay in topological order: the two new ones feed the first of the old.
        graph.node.splice(0..0, [cast, divide]);
        graph.initializer.push(divisor);
        let bytes = model.write_to_bytes().map_err(|e| self.bad(e.to_string()))?;
        Ok((bytes, BYTE_INPUT.to_owned()))
    }
}

/// A value's name and shape, -1 for every axis that is not a fixed number.
fn spec(value: &ValueInfoProto) -> TensorSpec {
    let shape = match &value.type_.value {
        Some(type_proto::Value::TensorType(t)) => t
            .shape
            .dim
            .iter()
            .map(|d| match d.value {
                Some(tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 => v,
                _ => -1,
            })
            .collect(),
        _ => Vec::new(),
    };
    TensorSpec {
        name: value.name.clone(),
        shape,
    }
}
